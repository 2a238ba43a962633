"""tools/dist_train.sh, dist_test.sh, slurm_train.sh, slurm_test.sh: mmseg's arguments and environment
variables, the command they start, and usage + exit code 2 when arguments are missing. (Real 2-process
runs through them: tests/test_ddp.py.)"""
import os
import os.path as osp
import subprocess

import pytest

from conftest import ROOT

SCRIPTS = {'dist_train': 'CONFIG GPUS', 'dist_test': 'CONFIG CHECKPOINT GPUS',
           'slurm_train': 'PARTITION JOB_NAME CONFIG WORK_DIR', 'slurm_test': 'PARTITION JOB_NAME CONFIG CHECKPOINT'}

# Stand-ins for the programs the scripts start: they write their arguments, one a line, and exit 0.
RECORDER = '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$RECORD"\n'
# Slurm's srun on one machine: starts --ntasks copies of the command with the task variables srun sets.
FAKE_SRUN = r'''#!/usr/bin/env bash
printf "%s\n" "$@" > "$RECORD"
n=1
while [ $# -gt 0 ]; do
    case "$1" in
        -p) shift 2 ;;
        --ntasks=*) n=${1#--ntasks=}; shift ;;
        -*) shift ;;
        *) break ;;
    esac
done
pids=()
for ((i = 0; i < n; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$n SLURM_NODELIST=node[01-02] "$@" &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
'''
# scontrol show hostnames node[01-02] -> the first host is this machine
FAKE_SCONTROL = '#!/usr/bin/env bash\necho 127.0.0.1\necho 127.0.0.2\n'


def _script(folder, name, text):
    path = osp.join(folder, name)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def fake_slurm_bin(folder, record_only):
    """A folder to put first on PATH: srun (recording only, or starting the tasks) and scontrol."""
    os.makedirs(folder, exist_ok=True)
    _script(folder, 'srun', RECORDER if record_only else FAKE_SRUN)
    _script(folder, 'scontrol', FAKE_SCONTROL)
    return folder


def _run(script, *args, env=None):
    return subprocess.run(['bash', osp.join(ROOT, 'tools', f'{script}.sh'), *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, **(env or {})))


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_missing_arguments_print_usage_and_exit_2(script, tmp_path):
    record = str(tmp_path / 'record')
    env = dict(PYTHON=_script(str(tmp_path), 'python', RECORDER), RECORD=record,
               PATH=fake_slurm_bin(str(tmp_path / 'bin'), True) + os.pathsep + os.environ['PATH'])
    needed = SCRIPTS[script].split()
    for given in (), tuple(needed[:-1]):  # nothing, and all but the last
        proc = _run(script, *given, env=env)
        assert proc.returncode == 2, (given, proc.stderr)
        assert proc.stdout == ''
        assert proc.stderr.startswith(f'usage: {script}.sh {SCRIPTS[script]} ['), proc.stderr
        assert not osp.exists(record)  # nothing was started


def _recorded(record):
    with open(record) as f:
        return f.read().splitlines()


def test_dist_scripts_run_torchrun_with_the_environment(tmp_path):
    record = str(tmp_path / 'record')
    env = dict(PYTHON=_script(str(tmp_path), 'python', RECORDER), RECORD=record, NNODES='3', NODE_RANK='1',
               MASTER_ADDR='10.0.0.7', PORT='29123')
    torchrun = ['-m', 'torch.distributed.run', '--nnodes=3', '--node_rank=1', '--master_addr=10.0.0.7',
                '--master_port=29123', '--nproc_per_node=4']
    assert _run('dist_train', 'a config.py', '4', '--work-dir', 'w d', '--amp', env=env).returncode == 0
    assert _recorded(record) == [*torchrun, osp.join(ROOT, 'tools', 'train.py'), 'a config.py', '--launcher',
                                 'pytorch', '--work-dir', 'w d', '--amp']
    assert _run('dist_test', 'c.py', 'ck.pth', '4', '--out', 'o.pkl', env=env).returncode == 0
    assert _recorded(record) == [*torchrun, osp.join(ROOT, 'tools', 'test.py'), 'c.py', 'ck.pth', '--launcher',
                                 'pytorch', '--out', 'o.pkl']
    # mmseg's defaults: one node, port 29500, this machine
    env = dict(PYTHON=env['PYTHON'], RECORD=record)
    clean = {k: v for k, v in os.environ.items() if k not in ('NNODES', 'NODE_RANK', 'MASTER_ADDR', 'PORT')}
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), 'c.py', '2'], capture_output=True,
                          text=True, timeout=60, env=dict(clean, **env))
    assert proc.returncode == 0, proc.stderr
    assert _recorded(record)[:7] == ['-m', 'torch.distributed.run', '--nnodes=1', '--node_rank=0',
                                     '--master_addr=127.0.0.1', '--master_port=29500', '--nproc_per_node=2']


def test_slurm_scripts_run_srun_with_the_environment(tmp_path):
    record = str(tmp_path / 'record')
    env = dict(RECORD=record, PYTHON='/opt/py/bin/python', GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='3',
               SRUN_ARGS='--exclusive --mem=0',
               PATH=fake_slurm_bin(str(tmp_path / 'bin'), True) + os.pathsep + os.environ['PATH'])
    srun = ['-p', 'gpu', '--job-name=kd', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
            '--cpus-per-task=3', '--kill-on-bad-exit=1', '--exclusive', '--mem=0', '/opt/py/bin/python', '-u']
    assert _run('slurm_train', 'gpu', 'kd', 'c.py', 'work', '--resume', env=env).returncode == 0
    assert _recorded(record) == [*srun, osp.join(ROOT, 'tools', 'train.py'), 'c.py', '--work-dir=work',
                                 '--launcher', 'slurm', '--resume']
    assert _run('slurm_test', 'gpu', 'kd', 'c.py', 'ck.pth', '--work-dir', 'w', env=env).returncode == 0
    assert _recorded(record) == [*srun, osp.join(ROOT, 'tools', 'test.py'), 'c.py', 'ck.pth', '--launcher',
                                 'slurm', '--work-dir', 'w']


def test_slurm_environment(monkeypatch, tmp_path):
    """--launcher slurm on a CPU: torch.distributed's variables from the srun task's."""
    from mmcrosskd.runner_utils import slurm_environment
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'SLURM_LOCALID'):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv('SLURM_PROCID', '3')
    monkeypatch.setenv('SLURM_NTASKS', '4')
    with pytest.raises(RuntimeError, match='SLURM_NODELIST not set: start the tool with srun'):
        slurm_environment()
    monkeypatch.setenv('SLURM_NODELIST', 'node[01-02]')
    monkeypatch.setenv('PATH', fake_slurm_bin(str(tmp_path), True) + os.pathsep + os.environ['PATH'])
    assert slurm_environment() == dict(RANK='3', WORLD_SIZE='4', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                                       MASTER_PORT='29500')
    assert os.environ['RANK'] == '3' and os.environ['MASTER_ADDR'] == '127.0.0.1'
    monkeypatch.setenv('MASTER_ADDR', 'head')  # given: kept
    monkeypatch.setenv('SLURM_LOCALID', '1')
    assert slurm_environment()['MASTER_ADDR'] == 'head' and os.environ['LOCAL_RANK'] == '1'
