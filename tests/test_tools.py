"""tools/train.py and tools/test.py on plain mmseg and mmpretrain configs: train, validate,
checkpoint, resume, test; and the errors a user meets first."""
import glob
import os.path as osp
import re

import pytest
import torch

import mmcrosskd  # noqa: F401  (checkpoint allow-list)
from mmcrosskd.compat.checkpoint_globals import safe_load
from conftest import DATA, ROOT, cls_data_options, run_tool, seg_data_options
from mmcrosskd.runner_utils import read_scalars


@pytest.mark.parametrize('kind', ['seg', 'cls'])
def test_train_validate_resume_test(kind, tiny_seg, tiny_cls, tmp_path):
    cfg = osp.join(DATA, 'seg_fcn_r18_tiny.py' if kind == 'seg' else 'cls_resnet18_tiny.py')
    data = seg_data_options(tiny_seg) if kind == 'seg' else cls_data_options(tiny_cls)
    metric = 'mIoU' if kind == 'seg' else 'accuracy/top1'
    work = str(tmp_path / 'work')
    run_tool('train', cfg, '--work-dir', work, '--cfg-options', *data)
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    # a weights-only load works on mmengine checkpoints (our allow-list / restricted unpickler), no env variable
    state = safe_load(ckpt)
    assert state['meta']['iter'] == 2 and 'message_hub' in state
    assert any(metric in line for line in read_scalars(work)), 'validation metric not logged'

    # resume from the latest checkpoint and train 2 more iterations
    proc = run_tool('train', cfg, '--work-dir', work, '--resume', '--cfg-options', *data,
                    'train_cfg.max_iters=4')
    log = proc.stdout + proc.stderr
    assert re.search(r'resumed epoch: \d+, iter: 2', log), log[-3000:]
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    resumed = safe_load(osp.join(work, 'iter_4.pth'))
    assert resumed['meta']['iter'] == 4

    # resume from an explicit path
    proc = run_tool('train', cfg, '--work-dir', str(tmp_path / 'w2'), '--resume', ckpt,
                    '--cfg-options', *data, 'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=1')
    assert osp.isfile(str(tmp_path / 'w2' / 'iter_3.pth'))

    # test.py evaluates the checkpoint and reports the metric, and dumps predictions
    out = str(tmp_path / 'preds.pkl')
    vis = str(tmp_path / 'vis')
    proc = run_tool('test', cfg, osp.join(work, 'iter_4.pth'), '--work-dir', str(tmp_path / 'test'),
                    '--out', out, '--show-dir', vis, '--cfg-options', *data)
    assert metric in proc.stdout, proc.stdout[-2000:]
    assert osp.isfile(out)
    assert glob.glob(osp.join(vis, '**', '*.png'), recursive=True), 'no visualisation written by --show-dir'


def test_plain_package_config_path_is_accepted(tmp_path):
    """`mmseg::` paths resolve to the configs shipped inside the installed package."""
    from mmcrosskd.runner_utils import load_config
    cfg = load_config('mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py')
    assert cfg.default_scope == 'mmseg'
    assert cfg.work_dir == './work_dirs/fcn_r18-d8_4xb2-80k_cityscapes-512x1024'
    cfg = load_config('mmpretrain::resnet/resnet18_8xb32_in1k.py', {'model.head.num_classes': 7})
    assert cfg.default_scope == 'mmpretrain' and cfg.model.head.num_classes == 7
    with pytest.raises(FileNotFoundError, match=r"'mmseg::nope/none.py': no such config in package 'mmseg'"):
        load_config('mmseg::nope/none.py')


def test_unknown_module_is_named(tiny_seg, tmp_path):
    cfg = osp.join(DATA, 'seg_fcn_r18_tiny.py')
    proc = run_tool('train', cfg, '--work-dir', str(tmp_path), '--cfg-options', *seg_data_options(tiny_seg),
                    'model.decode_head.type=FCNHeadd', check=False)
    assert proc.returncode != 0
    assert 'FCNHeadd' in proc.stderr and 'not in the mmseg::model registry' in proc.stderr


def test_missing_checkpoint_is_named(tiny_seg, tmp_path):
    cfg = osp.join(DATA, 'seg_fcn_r18_tiny.py')
    missing = str(tmp_path / 'nope.pth')
    proc = run_tool('test', cfg, missing, check=False)
    assert proc.returncode != 0 and f"checkpoint not found: '{missing}'" in proc.stderr
    proc = run_tool('train', cfg, '--resume', missing, check=False)
    assert proc.returncode != 0 and f"--resume: checkpoint not found: '{missing}'" in proc.stderr
    proc = run_tool('train', cfg, '--cfg-options', f'load_from={missing}', check=False)
    assert proc.returncode != 0 and f"load_from: checkpoint not found: '{missing}'" in proc.stderr


def test_cfg_options_replace_a_string_with_a_dict_without_a_stale_delete_key():
    from mmcrosskd.runner_utils import load_config
    cfg = load_config(osp.join(ROOT, 'configs', 'quickstart', 'fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py'), {
        'model.distill.0.projector._delete_': True, 'model.distill.0.projector.direction': 'inverted',
        'model.distill.0.projector.rank': 8, 'model.distill.0.loss._delete_': True,
        'model.distill.0.loss.type': 'FeatureLogLpLoss'})
    assert cfg.model.distill[0].projector == dict(direction='inverted', rank=8)
    assert cfg.model.distill[0].loss == dict(type='FeatureLogLpLoss')
