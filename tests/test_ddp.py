"""A 2-process CPU run (gloo) through tools/train.py --launcher pytorch under torchrun."""
import os
import os.path as osp
import re
import subprocess
import sys

import torch

import mmcrosskd  # noqa: F401
from conftest import DATA, ROOT, seg_data_options


def test_two_process_training(tiny_seg, tmp_path):
    work = str(tmp_path / 'ddp')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29533',
           osp.join(ROOT, 'tools', 'train.py'), osp.join(DATA, 'seg_kd_tiny.py'), '--launcher', 'pytorch',
           '--work-dir', work, '--cfg-options', *seg_data_options(tiny_seg), 'train_dataloader.batch_size=1']
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1'))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert 'unused parameters' not in log and 'find_unused_parameters' not in log
    assert 'Distributed training: True' in log and "dist_cfg: {'backend': 'gloo'}" in log
    assert len(re.findall(r'Iter\(train\) \[2/2\].*loss_kd_cls_c4', log)) == 1  # logged by rank 0 only
    # one set of files, written by rank 0; no teacher weights in the checkpoint
    files = sorted(f for f in os.listdir(work) if f.endswith('.pth'))
    assert files == ['iter_2.pth', 'student_iter_2.pth', 'student_last.pth']
    state = torch.load(osp.join(work, 'iter_2.pth'), map_location='cpu', weights_only=True)['state_dict']
    assert not any(k.startswith('module.') for k in state)
    assert any(k.startswith('entries.cls_c4') for k in state) and not any('teacher' in k for k in state)
