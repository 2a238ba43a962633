"""2-process CPU runs (gloo) through the launch scripts tools/dist_train.sh and tools/dist_test.sh
(torchrun + tools/{train,test}.py --launcher pytorch), compared with single-process runs on the same global
batch; each rank's weights are read back to show that training changed them and that the ranks agree."""
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

import mmcrosskd  # noqa: F401
from mmcrosskd.compat.checkpoint_globals import safe_load
from conftest import DATA, ROOT, config_with_hooks, run_tool, seg_data_options

# Per-sample independence, so that 2 x batch 1 and 1 x batch 2 compute the same gradient: backbone BN
# in eval mode, no BN in the head, no dropout. (Train-mode BN would normalise over different batches.)
SAME_MATH = ['model.student.backbone.norm_eval=True', 'model.student.decode_head.norm_cfg=None',
             'model.student.decode_head.dropout_ratio=0', 'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
             'default_hooks.checkpoint.interval=1', 'randomness.seed=0']


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _launch(script, *args, env=None):
    """Run ``tools/<script>.sh ARGS`` (2 processes on this machine) with this interpreter; return the process."""
    full = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', PORT=_free_port(), PYTHON=sys.executable,
                **(env or {}))
    return subprocess.run(['bash', osp.join(ROOT, 'tools', f'{script}.sh'), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=full)


def _params(path):
    return safe_load(path)


def test_two_process_training_matches_one_process(tiny_seg, tmp_path):
    """tools/dist_train.sh CONFIG 2: both ranks end with the same weights, which moved from the (common)
    start, equal a single process's on the same global batch, and rank 0 alone wrote one checkpoint and one
    exported student."""
    opts = [*seg_data_options(tiny_seg), *SAME_MATH, 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2']
    dumps = str(tmp_path / 'ranks')
    cfg, env = config_with_hooks(osp.join(DATA, 'seg_kd_tiny.py'), str(tmp_path / 'cfg'),
                                 dict(type='RankWeightsDump', out_dir=dumps))
    work = str(tmp_path / 'ddp')
    proc = _launch('dist_train', cfg, '2', '--work-dir', work, '--cfg-options', *opts,
                   'train_dataloader.batch_size=1', env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, '\n'.join(line for line in log.splitlines() if 'Warning' not in line)[-5000:]
    assert 'Distributed training: True' in log and "dist_cfg: {'backend': 'gloo'}" in log
    assert 'unused parameters' not in log and 'find_unused_parameters' not in log
    # one set of files, written by rank 0; no teacher weights in the checkpoint
    files = sorted(f for f in os.listdir(work) if f.endswith('.pth'))
    assert files == ['iter_2.pth', 'student_iter_2.pth', 'student_last.pth']
    ddp = safe_load(osp.join(work, 'iter_2.pth'))
    assert ddp['meta']['iter'] == 2
    ddp = ddp['state_dict']
    assert not any(k.startswith('module.') for k in ddp)
    assert any(k.startswith('entries.cls_c4') for k in ddp) and not any('teacher' in k for k in ddp)

    # each rank's own weights: the same start (DDP broadcasts rank 0's), the same end, and the end moved
    start = [_params(osp.join(dumps, f'start_rank{r}.pth')) for r in (0, 1)]
    end = [_params(osp.join(dumps, f'end_rank{r}.pth')) for r in (0, 1)]
    assert sorted(os.listdir(dumps)) == ['end_rank0.pth', 'end_rank1.pth', 'start_rank0.pth', 'start_rank1.pth']
    assert end[0].keys() == end[1].keys() == start[0].keys() and len(end[0]) > 50
    for k in end[0]:
        assert torch.equal(start[0][k], start[1][k]), k
        assert torch.equal(end[0][k], end[1][k]), k  # the ranks agree bit for bit
        assert torch.equal(end[0][k], ddp[k]), k  # and the checkpoint holds them
    moved = [k for k in end[0] if not torch.equal(end[0][k], start[0][k])]
    student = [k for k in end[0] if k.startswith('student.')]
    assert set(student) <= set(moved), sorted(set(student) - set(moved))[:5]  # SGD moved every student weight
    assert any(k.startswith('entries.cls_c4') for k in moved)  # and the projectors
    export = safe_load(osp.join(work, 'student_iter_2.pth'))['state_dict']
    for k in student:
        assert torch.equal(export[k[len('student.'):]], end[0][k]), k

    single = str(tmp_path / 'single')
    one_dumps = str(tmp_path / 'one_rank')
    cfg_one, _ = config_with_hooks(osp.join(DATA, 'seg_kd_tiny.py'), str(tmp_path / 'cfg1'),
                                   dict(type='RankWeightsDump', out_dir=one_dumps))
    run_tool('train', cfg_one, '--work-dir', single, '--cfg-options', *opts, 'train_dataloader.batch_size=2',
             env=env)
    one = _params(osp.join(one_dumps, 'end_rank0.pth'))
    assert torch.equal(_params(osp.join(one_dumps, 'start_rank0.pth'))['student.decode_head.conv_seg.weight'],
                       start[0]['student.decode_head.conv_seg.weight'])  # the same seeded start
    assert one.keys() == end[0].keys()
    # stated tolerance: 1e-5 absolute on every parameter after two SGD steps (float32 sums in another order)
    worst = max((end[0][k] - one[k]).abs().max().item() for k in one)
    assert worst < 1e-5, worst
    # the comparison can fail: the steps moved the weights far more than the tolerance
    assert max((end[0][k] - start[0][k]).abs().max().item() for k in one) > 1e-3


def test_release_distributed_unwraps_and_destroys_the_group(monkeypatch):
    """tools/train.py and tools/test.py end a distributed run by unwrapping the model and destroying the
    process group (a rank once aborted at exit when DDP's reducer outlived the group)."""
    import types

    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel

    from mmcrosskd.runner_utils import release_distributed
    assert release_distributed(types.SimpleNamespace(model=torch.nn.Linear(2, 2))) is False  # not distributed
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', _free_port())
    dist.init_process_group('gloo', rank=0, world_size=1)
    try:
        net = torch.nn.Linear(2, 2)
        runner = types.SimpleNamespace(model=MMDistributedDataParallel(module=net))
        runner.model(torch.ones(1, 2)).sum().backward()  # the reducer has done work
        assert release_distributed(runner) is True
        assert runner.model is net and not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_process_test_matches_one_process(tmp_path):
    """tools/dist_test.sh CONFIG CHECKPOINT 2 and tools/slurm_test.sh (2 tasks) score a 3-image set (one rank
    gets a padded duplicate, which mmengine must drop) exactly as one process does."""
    import ast

    from conftest import make_tiny_seg
    data = make_tiny_seg(str(tmp_path / 'data'), n_train=2, n_val=3)
    opts = [*seg_data_options(data), *SAME_MATH, 'train_dataloader.batch_size=2']
    work = str(tmp_path / 'train')
    run_tool('train', osp.join(DATA, 'seg_kd_tiny.py'), '--work-dir', work, '--cfg-options', *opts)
    ckpt = osp.join(work, 'iter_1.pth')

    def scores(log):
        found = [ast.literal_eval(line) for line in log.splitlines() if line.startswith("{'aAcc'")]
        assert found, log[-3000:]
        return found

    one = scores(run_tool('test', osp.join(DATA, 'seg_kd_tiny.py'), ckpt, '--work-dir', str(tmp_path / 't1'),
                          '--cfg-options', *opts).stdout)
    proc = _launch('dist_test', osp.join(DATA, 'seg_kd_tiny.py'), ckpt, '2', '--work-dir', str(tmp_path / 't2'),
                   '--cfg-options', *opts)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    two = scores(proc.stdout)
    # tools/slurm_test.sh through a stand-in srun starting 2 tasks here: --launcher slurm on a CPU (gloo)
    from test_launch_scripts import fake_slurm_bin
    path = fake_slurm_bin(str(tmp_path / 'bin'), record_only=False) + os.pathsep + os.environ['PATH']
    slurm = _launch('slurm_test', 'cpu', 'kd', osp.join(DATA, 'seg_kd_tiny.py'), ckpt, '--work-dir',
                    str(tmp_path / 't3'), '--cfg-options', *opts,
                    env=dict(PATH=path, GPUS='2', GPUS_PER_NODE='2', MASTER_PORT=_free_port(),
                             RECORD=str(tmp_path / 'srun_args')))
    assert slurm.returncode == 0, (slurm.stdout + slurm.stderr)[-5000:]
    assert 'Distributed launcher: slurm' in slurm.stdout + slurm.stderr
    assert "'backend': 'gloo'" in slurm.stdout + slurm.stderr and 'GPU number: 2' in slurm.stdout + slurm.stderr
    three = scores(slurm.stdout)
    assert len(one) == 1 and len(two) == 1 and len(three) == 1  # rank 0 alone prints the gathered metrics
    for got in two + three:
        assert got.keys() == one[0].keys()
        for k in got:
            assert abs(got[k] - one[0][k]) < 1e-6, (k, got[k], one[0][k])
