"""A 2-process CPU run (gloo) through tools/train.py --launcher pytorch under torchrun, compared with a
single-process run on the same global batch."""
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

import mmcrosskd  # noqa: F401
from conftest import DATA, ROOT, run_tool, seg_data_options

# Per-sample independence, so that 2 x batch 1 and 1 x batch 2 compute the same gradient: backbone BN
# in eval mode, no BN in the head, no dropout. (Train-mode BN would normalise over different batches.)
SAME_MATH = ['model.student.backbone.norm_eval=True', 'model.student.decode_head.norm_cfg=None',
             'model.student.decode_head.dropout_ratio=0', 'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
             'default_hooks.checkpoint.interval=1', 'randomness.seed=0']


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _two_ranks(tool, *args):
    """Run ``tools/<tool>.py ARGS --launcher pytorch`` on 2 gloo ranks under torchrun; return the process."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', _free_port(), osp.join(ROOT, 'tools', f'{tool}.py'), *args, '--launcher', 'pytorch']
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1'))


def test_two_process_training_matches_one_process(tiny_seg, tmp_path):
    work = str(tmp_path / 'ddp')
    proc = _two_ranks('train', osp.join(DATA, 'seg_kd_tiny.py'), '--work-dir', work, '--cfg-options',
                      *seg_data_options(tiny_seg), *SAME_MATH, 'train_dataloader.batch_size=1')
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, '\n'.join(line for line in log.splitlines() if 'Warning' not in line)[-5000:]
    assert 'Distributed training: True' in log and "dist_cfg: {'backend': 'gloo'}" in log
    assert 'unused parameters' not in log and 'find_unused_parameters' not in log
    # one set of files, written by rank 0; no teacher weights in the checkpoint
    files = sorted(f for f in os.listdir(work) if f.endswith('.pth'))
    assert files == ['iter_1.pth', 'student_iter_1.pth', 'student_last.pth']
    ddp = torch.load(osp.join(work, 'iter_1.pth'), map_location='cpu', weights_only=True)['state_dict']
    assert not any(k.startswith('module.') for k in ddp)
    assert any(k.startswith('entries.cls_c4') for k in ddp) and not any('teacher' in k for k in ddp)

    single = str(tmp_path / 'single')
    run_tool('train', osp.join(DATA, 'seg_kd_tiny.py'), '--work-dir', single, '--cfg-options',
             *seg_data_options(tiny_seg), *SAME_MATH, 'train_dataloader.batch_size=2')
    one = torch.load(osp.join(single, 'iter_1.pth'), map_location='cpu', weights_only=True)['state_dict']
    init = torch.load(osp.join(single, 'iter_1.pth'), map_location='cpu', weights_only=True)
    assert ddp.keys() == one.keys()
    # stated tolerance: 1e-5 absolute on every parameter after one SGD step (float32 sums in another order)
    worst = max((ddp[k].float() - one[k].float()).abs().max().item() for k in one if one[k].is_floating_point())
    assert worst < 1e-5, worst
    assert init['meta']['iter'] == 1


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
    """tools/test.py --launcher pytorch on 2 ranks scores a 3-image set (one rank gets a padded duplicate,
    which mmengine must drop) exactly as one process does."""
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
    proc = _two_ranks('test', osp.join(DATA, 'seg_kd_tiny.py'), ckpt, '--work-dir', str(tmp_path / 't2'),
                      '--cfg-options', *opts)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    two = scores(proc.stdout)
    assert len(one) == 1 and len(two) == 1  # rank 0 alone prints the gathered metrics
    for got in two:
        assert got.keys() == one[0].keys()
        for k in got:
            assert abs(got[k] - one[0][k]) < 1e-6, (k, got[k], one[0][k])
