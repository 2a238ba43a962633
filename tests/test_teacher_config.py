"""Teacher entries in configs: model overrides, option checks, relative paths, the ``mmcrosskd::`` prefix."""
import os.path as osp
import textwrap

import pytest
import torch
from mmengine.config import Config

import mmcrosskd  # noqa: F401
from mmcrosskd.models.teacher import FrozenTeacher, check_teacher_options
from mmcrosskd.runner_utils import load_config
from mmcrosskd.utils.config import merge_model_overrides, resolve_config_path



def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# -- overrides and option checks --------------------------------------------------------------------
TINY_VIT = dict(_scope_='mmpretrain', type='ImageClassifier', backbone=dict(
    type='VisionTransformer', img_size=32, patch_size=8,
    arch=dict(embed_dims=16, num_layers=1, num_heads=2, feedforward_channels=32)))


def test_model_overrides_are_merged_into_the_teacher_config():
    teacher = FrozenTeacher('vit', TINY_VIT, model=dict(backbone=dict(out_type='featmap', img_size=64)))
    assert teacher.model.backbone.out_type == 'featmap'
    with torch.no_grad():
        feats = teacher.model.backbone(torch.randn(1, 3, 64, 64))
    assert tuple(feats[-1].shape) == (1, 16, 8, 8)  # a map, not tokens or a class token
    assert FrozenTeacher('vit', TINY_VIT).model.backbone.out_type == 'cls_token'  # the config's own value
    # untouched keys keep the config's values; _delete_ replaces a sub-dict
    merged = merge_model_overrides(dict(backbone=dict(type='A', depth=18, out_indices=(3,))),
                                   dict(backbone=dict(depth=50)))
    assert merged.backbone.to_dict() == dict(type='A', depth=50, out_indices=(3,))
    merged = merge_model_overrides(dict(backbone=dict(type='A', depth=18)),
                                   dict(backbone=dict(_delete_=True, type='B')))
    assert merged.backbone.to_dict() == dict(type='B')
    with pytest.raises(TypeError, match=r"teacher 'vit': `model` takes a dict of model-config overrides"):
        FrozenTeacher('vit', TINY_VIT, model='featmap')


def test_unknown_teacher_keys_list_the_allowed_ones():
    with pytest.raises(ValueError, match=r"teacher 't': unknown key\(s\) 'chekpoint' \(did you mean 'checkpoint'\?\), "
                                         r"'foo'\. A teacher takes: config, checkpoint, seed, scope, input_size, "
                                         r'prefix, allow_unsafe_checkpoint, autocast, channels_last, model, key_map'):
        check_teacher_options('t', dict(config=TINY_VIT, chekpoint='x.pth', foo=1))
    with pytest.raises(ValueError, match=r"teacher 't': give a dict with at least `config`; the keys it takes: config"):
        check_teacher_options('t', dict(checkpoint='x.pth'))
    with pytest.raises(ValueError, match=r"teacher 't': key_map='torchvision' renames checkpoint keys, but there is "
                                         r'no `checkpoint`'):
        FrozenTeacher('t', TINY_VIT, key_map='torchvision')


def test_distiller_checks_teacher_keys():
    from mmengine.registry import init_default_scope
    from conftest import DATA
    from mmcrosskd.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(DATA, 'seg_kd_tiny.py')).model
    cfg.teachers.cls = dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', sed=1)
    with pytest.raises(ValueError, match=r"teacher 'cls': unknown key\(s\) 'sed' \(did you mean 'seed'\?\)"):
        MODELS.build(cfg)


# -- relative paths -----------------------------------------------------------------------------------
def test_relative_teacher_paths_resolve_against_the_config_that_names_them(tmp_path, monkeypatch):
    project = tmp_path / 'project'
    _write(project / 'configs' / 'teachers' / 'cls.py', "model = dict(type='ImageClassifier')\n")
    _write(project / 'configs' / 'teachers' / 'cls.pth', 'x')
    _write(project / 'configs' / 'exp' / 'weights' / 'better.pth', 'x')
    _write(project / 'configs' / 'kd_base.py', """
        model = dict(type='CrossTaskDistiller', student=dict(type='Student'),
                     teachers=dict(cls=dict(config='teachers/cls.py', checkpoint='teachers/cls.pth'),
                                   rnd=dict(config='teachers/cls.py', checkpoint='work_dirs/t/iter_1.pth')))
    """)
    child = _write(project / 'configs' / 'exp' / 'kd.py', """
        _base_ = ['../kd_base.py']
        model = dict(teachers=dict(cls=dict(checkpoint='weights/better.pth')))
    """)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(str(child), cfg_options={'model.teachers.rnd.checkpoint': 'mine.pth'})
    teachers = cfg.model.teachers
    # named by the base file: resolved next to it; overridden in the child: next to the child
    assert teachers.cls.config == str(project / 'configs' / 'teachers' / 'cls.py')
    assert teachers.cls.checkpoint == str(project / 'configs' / 'exp' / 'weights' / 'better.pth')
    assert teachers.rnd.config == str(project / 'configs' / 'teachers' / 'cls.py')
    # not next to the config (a training output) or given on the command line: the working directory
    assert teachers.rnd.checkpoint == 'mine.pth'
    cfg = load_config(str(child))
    assert cfg.model.teachers.rnd.checkpoint == 'work_dirs/t/iter_1.pth'


# -- the mmcrosskd:: prefix ------------------------------------------------------------------------------
def test_our_configs_ship_in_the_package():
    path = resolve_config_path('mmcrosskd::quickstart/resnet18_fashionmnist-32px_cls.py')
    assert path.endswith(osp.join('.mim', 'configs', 'quickstart', 'resnet18_fashionmnist-32px_cls.py'))
    assert osp.isfile(path)


def test_a_user_project_inherits_our_configs_from_any_folder(tmp_path, monkeypatch):
    """``_base_ = 'mmcrosskd::...'`` through mmengine's own Config, and a teacher config named the same way."""
    user = _write(tmp_path / 'my_project' / 'my_kd.py', """
        _base_ = ['mmcrosskd::quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py']
        # a random teacher instead of the quick start's trained one; the config is ours, by prefix
        model = dict(teachers=dict(cls=dict(_delete_=True, seed=0,
                                            config='mmcrosskd::quickstart/resnet18_fashionmnist-32px_cls.py')))
        train_cfg = dict(max_iters=3)
    """)
    monkeypatch.chdir(tmp_path)
    assert Config.fromfile(str(user)).model.type == 'CrossTaskDistiller'  # mmengine reads the prefix
    cfg = load_config(str(user))
    assert "_scope_='mmcrosskd'" not in cfg.pretty_text  # so the mmseg/mmpretrain types build
    assert cfg.default_scope == 'mmseg' and cfg.train_cfg.max_iters == 3
    from mmengine.registry import init_default_scope
    from mmcrosskd.registry import MODELS
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert type(model.teachers['cls'].model).__name__ == 'ImageClassifier'
    assert type(model.student).__name__ == 'EncoderDecoder'


def test_user_project_trains_with_tools_train_from_another_folder(tiny_seg, tmp_path):
    """The README's user project, end to end with the real Runner: a ``mmcrosskd::`` base, its teacher config
    by prefix, and ``teacher.pth`` named relative to the user's config (not the working directory)."""
    import subprocess
    import sys
    from conftest import ROOT, seg_data_options
    from mmcrosskd.utils.config import build_model_from_spec
    project = tmp_path / 'my_project'
    torch.manual_seed(0)
    teacher, _ = build_model_from_spec('mmcrosskd::quickstart/resnet18_fashionmnist-32px_cls.py')
    project.mkdir()
    torch.save({'state_dict': teacher.state_dict()}, project / 'teacher.pth')
    _write(project / 'my_kd.py', """
        _base_ = ['mmcrosskd::quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py']
        model = dict(teachers=dict(cls=dict(checkpoint='teacher.pth')))
    """)
    options = [*seg_data_options(tiny_seg), 'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
               'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
               'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1']
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), 'my_project/my_kd.py',
                           '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert osp.isfile(tmp_path / 'work' / 'iter_1.pth')
    assert 'loss_kd_c4' in proc.stdout + proc.stderr
