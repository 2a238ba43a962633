"""Every config under configs/ loads (its _base_ files exist), builds, and runs one training step on a
random batch at small resolution, on CPU, without datasets. Adding a config that does not build fails here."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS, DefaultScope

import mmcrosskd  # noqa: F401
from conftest import ROOT
from mmcrosskd.runner_utils import load_config

CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p.split(osp.sep))


def _random_teachers(model_cfg):
    """Teachers whose checkpoint is not on this machine are built from a seed instead."""
    for t in (model_cfg.get('teachers') or {}).values():
        if t.get('checkpoint') and not osp.isfile(t['checkpoint']):
            t['checkpoint'] = None


def _batch(scope, size):
    g = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8) for _ in range(2)]
    if scope == 'mmpretrain':
        from mmpretrain.structures import DataSample
        return dict(inputs=imgs, data_samples=[DataSample().set_gt_label(i) for i in range(2)])
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, size, size), generator=g))
        s.gt_depth_map = PixelData(data=torch.rand(1, size, size, generator=g) * 5 + 0.5)  # depth models
        s.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        samples.append(s)
    return dict(inputs=imgs, data_samples=samples)


def test_there_are_configs():
    assert len(CONFIGS) >= 4


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, osp.join(ROOT, 'configs')) for p in CONFIGS])
def test_config_builds_and_steps(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # configs name teacher configs relative to the repository root
    cfg = load_config(path)
    assert cfg.default_scope in ('mmseg', 'mmpretrain')
    for key in ('train_dataloader', 'val_dataloader', 'val_evaluator', 'optim_wrapper', 'train_cfg'):
        assert key in cfg, f'{path}: no {key}'
    model_cfg = cfg.model
    if cfg.get('data_preprocessor') is not None:  # as the Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    _random_teachers(model_cfg)
    student = model_cfg.get('student', model_cfg)
    if cfg.default_scope == 'mmseg' and isinstance(student, dict) and 'data_preprocessor' in student:
        student['data_preprocessor']['size'] = (64, 64)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
        model.train()
        optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-4))
        size = 32 if cfg.default_scope == 'mmpretrain' else 64
        log = model.train_step(_batch(cfg.default_scope, size), optim)
    assert torch.isfinite(log['loss'])
    if model_cfg.get('type') == 'CrossTaskDistiller':
        assert any(k.startswith('loss_kd_') for k in log), f'{path}: no distillation term'
