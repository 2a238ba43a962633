"""tools/train.py on a distillation config: train with validation, export the bare student,
resume, and evaluate the student with plain mmseg config + tools/test.py."""
import filecmp
import os.path as osp
import re

import torch

import mmcrosskd  # noqa: F401
from mmcrosskd.compat.checkpoint_globals import safe_load
from conftest import DATA, run_tool, seg_data_options


def test_train_resume_export_and_test_bare_student(tiny_seg, tmp_path):
    cfg = osp.join(DATA, 'seg_kd_tiny.py')
    data = seg_data_options(tiny_seg)
    work = str(tmp_path / 'kd')
    proc = run_tool('train', cfg, '--work-dir', work, '--cfg-options', *data)
    log = proc.stdout + proc.stderr
    for key in ('loss_kd_cls_c4', 'loss_kd_depth_c3', 'decode.loss_ce', 'mIoU'):
        assert key in log, key
    assert "teacher 'cls': forward stops after 'backbone.layer4'" in log
    ckpt = safe_load(osp.join(work, 'iter_2.pth'))
    assert any(k.startswith('entries.cls_c4.projector') for k in ckpt['state_dict'])
    assert not any('teacher' in k for k in ckpt['state_dict'])
    assert filecmp.cmp(osp.join(work, 'student_iter_2.pth'), osp.join(work, 'student_last.pth'), shallow=False)

    proc = run_tool('train', cfg, '--work-dir', work, '--resume', '--cfg-options', *data, 'train_cfg.max_iters=4')
    assert re.search(r'resumed epoch: \d+, iter: 2', proc.stdout + proc.stderr)
    resumed = safe_load(osp.join(work, 'iter_4.pth'))
    # the projector kept training from its saved state
    key = 'entries.cls_c4.projector.proj.weight'
    assert not torch.equal(resumed['state_dict'][key], ckpt['state_dict'][key])

    # the bare student, with the student's own plain config and plain tools/test.py
    plain_cfg = osp.join(DATA, 'seg_fcn_r18_tiny.py')
    proc = run_tool('test', plain_cfg, osp.join(work, 'student_iter_4.pth'), '--work-dir', str(tmp_path / 't'),
                    '--cfg-options', *data)
    m_student = re.search(r"'mIoU': ([\d.]+)", proc.stdout)
    # ... and the distiller checkpoint with the distillation config: same metric
    proc = run_tool('test', cfg, osp.join(work, 'iter_4.pth'), '--work-dir', str(tmp_path / 't2'),
                    '--cfg-options', *data)
    m_kd = re.search(r"'mIoU': ([\d.]+)", proc.stdout)
    assert m_student and m_kd and m_student.group(1) == m_kd.group(1)

    out = str(tmp_path / 'exported.pth')
    run_tool('export_student', osp.join(work, 'iter_4.pth'), out)
    a = safe_load(out)['state_dict']
    b = safe_load(osp.join(work, 'student_iter_4.pth'))['state_dict']
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
