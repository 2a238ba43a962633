"""The depth quick start end to end through tools/train.py on a few garment depth scenes: the plain
DepthEstimator student logs mmseg's depth metrics, finite; the KD run (random teacher, inverted projector)
logs its distillation term, trains the student and the projector, and leaves the teacher untouched."""
import json
import math
import os
import os.path as osp

import pytest
import torch

import mmcrosskd  # noqa: F401
from mmcrosskd.compat.checkpoint_globals import safe_load
from conftest import DATA, ROOT, run_tool
from mmcrosskd.datasets import prepare_garment_depth
from mmcrosskd.runner_utils import data_root_options, read_scalars

PLAIN = osp.join(ROOT, 'configs', 'quickstart', 'depth_r18w16-vpdhead_scenes-64px.py')
# four iterations of batch 4, validation on 4 scenes at the end
TINY = ['train_cfg.max_iters=4', 'train_cfg.val_interval=4', 'param_scheduler.0.end=4',
        'default_hooks.checkpoint.interval=4', 'default_hooks.logger.interval=1', 'train_dataloader.batch_size=4',
        'val_dataloader.batch_size=2']
DEPTH_METRICS = ('abs_rel', 'rmse', 'd1')


@pytest.fixture(scope='module')
def tiny_depth(fashion_source, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('tiny_depth'))
    prepare_garment_depth(root, fashion_source, seed=0, scenes=(8, 4))
    return root


def _val_metrics(work_dir):
    found = [e for e in read_scalars(work_dir) if 'abs_rel' in e]
    assert found, f'no depth metrics logged in {work_dir}'
    return found[-1]


def _check_depth_metrics(entry):
    for key in DEPTH_METRICS:
        assert key in entry and math.isfinite(entry[key]), (key, entry)
    assert 0.0 <= entry['d1'] <= 1.0 and entry['abs_rel'] >= 0 and entry['rmse'] >= 0


def test_plain_depth_student_trains_and_logs_depth_metrics(tiny_depth, tmp_path):
    work = str(tmp_path / 'plain')
    proc = run_tool('train', PLAIN, '--work-dir', work, '--cfg-options', *data_root_options(tiny_depth), *TINY)
    assert 'decode.loss_silog' in proc.stdout + proc.stderr
    _check_depth_metrics(_val_metrics(work))
    losses = [e['decode.loss_silog'] for e in read_scalars(work) if 'decode.loss_silog' in e]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)


def test_kd_depth_student_from_random_teacher_keeps_the_teacher(tiny_depth, tmp_path):
    work = str(tmp_path / 'kd')
    env = dict(PYTHONPATH=os.pathsep.join(p for p in (DATA, ROOT, os.environ.get('PYTHONPATH')) if p))
    run_tool('train', osp.join(DATA, 'depth_kd_watch_tiny.py'), '--work-dir', work,
             '--cfg-options', *data_root_options(tiny_depth), *TINY, env=env)
    _check_depth_metrics(_val_metrics(work))
    steps = [e for e in read_scalars(work) if 'loss_kd_c4' in e]
    assert len(steps) == 4 and all(math.isfinite(e['loss_kd_c4']) and e['loss_kd_c4'] > 0 for e in steps)
    # the teacher: every parameter and buffer (BatchNorm statistics too) as built, in eval mode throughout
    watch = json.load(open(osp.join(work, 'teacher_watch.json')))
    assert set(watch) == {'t', '_trainable_changed'} and watch['t']['tensors'] > 100
    assert watch['t']['changed'] == [] and watch['t']['training_seen'] is False
    # ... while the student and the projector trained; the checkpoint holds no teacher
    changed = watch['_trainable_changed']
    assert 'entries.c4.projector.proj.weight' in changed
    assert any(k.startswith('student.backbone.') for k in changed) and any(k.startswith('student.decode_head.')
                                                                          for k in changed)
    ckpt = safe_load(osp.join(work, 'iter_4.pth'))['state_dict']
    assert any(k.startswith('entries.c4.projector') for k in ckpt) and not any('teacher' in k for k in ckpt)
    assert osp.isfile(osp.join(work, 'student_last.pth'))
