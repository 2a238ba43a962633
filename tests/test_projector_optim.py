"""The projector's own learning rate and weight decay through mmengine's paramwise_cfg."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import mmcrosskd  # noqa: F401
from conftest import DATA, ROOT
from mmcrosskd.registry import MODELS


def test_projector_lr_and_weight_decay_multipliers():
    cfg = Config.fromfile(osp.join(DATA, 'seg_kd_tiny.py'))
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(custom_keys={'projector': dict(lr_mult=10.0, decay_mult=100.0)})))
    group_of = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    projector_params = [p for n, p in model.named_parameters() if '.projector.' in n]
    assert len(projector_params) == 2  # the two entries' 1x1 maps
    for p in projector_params:
        assert group_of[id(p)]['lr'] == pytest.approx(0.1)
        assert group_of[id(p)]['weight_decay'] == pytest.approx(1e-2)
    student_conv = model.student.backbone.stem[0].weight
    assert group_of[id(student_conv)]['lr'] == pytest.approx(0.01)
    assert group_of[id(student_conv)]['weight_decay'] == pytest.approx(1e-4)


def test_shipped_kd_config_key_reaches_the_projector():
    """The shipped config's custom key must match the projector's parameter names (a typo is silent)."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'quickstart', 'fcn_r18w16-d8_scenes-64px_kd-inverted_cls-r18.py'))
    cfg.model.teachers.cls.checkpoint, cfg.model.teachers.cls.seed = None, 0
    (key, mults), = cfg.optim_wrapper.paramwise_cfg.custom_keys.items()
    mults.lr_mult = 7.0
    wrapper = build_optim_wrapper(MODELS.build(cfg.model), cfg.optim_wrapper)
    lrs = {g['lr'] for g in wrapper.optimizer.param_groups}
    base = cfg.optim_wrapper.optimizer.lr
    assert sorted(lrs) == pytest.approx([base, 7.0 * base])
