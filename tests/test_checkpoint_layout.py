"""The distiller's checkpoint layout (utils/distiller_state.py) and the code that relies on it: the
distiller's state dict, loading a bare student into it, CheckpointMatchHook's mapping and resume check,
the bare-student export and the spectrum history kept across a resume. Fast: small stand-in models."""
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

import mmcrosskd  # noqa: F401
from mmcrosskd.compat.checkpoint_globals import safe_load
from mmcrosskd.hooks import CheckpointMatchHook, ProjectorSpectrumHook, export_student
from mmcrosskd.utils.distiller_state import (bare_student_checkpoint, entry_items, is_distiller_state,
                                             move_bare_student_in_place, projector_weights, student_into_distiller,
                                             student_state_dict)


def _t(*values):
    return torch.tensor(values, dtype=torch.float32)


DISTILLER = OrderedDict([('student.backbone.w', _t(1.)), ('student.head.b', _t(2.)),
                         ('entries.c4.projector.proj.weight', _t(3.)), ('entries.c4.projector.reduce.weight', _t(4.)),
                         ('entries.tail.loss.basis', _t(5.))])


def test_student_state_dict_and_back():
    bare = student_state_dict(DISTILLER)
    assert list(bare) == ['backbone.w', 'head.b'] and bare['head.b'] is DISTILLER['student.head.b']
    wrapped = OrderedDict(('module.' + k, v) for k, v in DISTILLER.items())  # a DDP model's state dict
    assert list(student_state_dict(wrapped)) == ['backbone.w', 'head.b']
    assert list(student_into_distiller(bare)) == ['student.backbone.w', 'student.head.b']
    with pytest.raises(KeyError, match='no `student.` keys'):
        student_state_dict(bare)
    assert is_distiller_state(DISTILLER) and is_distiller_state(wrapped) and not is_distiller_state(bare)


def test_entries_and_projectors_are_split_out():
    assert entry_items(DISTILLER) == {'c4': {'projector.proj.weight': DISTILLER['entries.c4.projector.proj.weight'],
                                             'projector.reduce.weight': DISTILLER['entries.c4.projector.reduce.weight']},
                                      'tail': {'loss.basis': DISTILLER['entries.tail.loss.basis']}}
    assert set(projector_weights(DISTILLER)) == {'c4'} and set(projector_weights(DISTILLER)['c4']) == {'proj', 'reduce'}


def test_bare_student_moves_under_student_in_place():
    state = OrderedDict([('backbone.w', _t(1.)), ('head.b', _t(2.)), ('entries.c4.projector.proj.weight', _t(3.))])
    move_bare_student_in_place(state, '', ['backbone.w', 'head.b'])
    assert list(state) == ['entries.c4.projector.proj.weight', 'student.backbone.w', 'student.head.b']
    full = OrderedDict(DISTILLER)
    move_bare_student_in_place(full, '', ['backbone.w', 'head.b'])  # a distiller's: untouched
    assert list(full) == list(DISTILLER)
    other = OrderedDict([('x.y', _t(1.))])
    move_bare_student_in_place(other, '', ['backbone.w'])  # shares nothing with the student: untouched
    assert list(other) == ['x.y']


class _Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 3)


class _Distiller(nn.Module):
    """A distiller's layout: ``student`` and ``entries`` (and the pre-hook of the real one)."""

    def __init__(self):
        super().__init__()
        self.student = _Student()
        self.entries = nn.ModuleDict(dict(c4=nn.ModuleDict(dict(projector=nn.Linear(3, 3, bias=False)))))


def test_real_distiller_state_is_student_plus_entries_and_takes_a_bare_student():
    from test_distiller import build
    d = build(teachers=dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1)),
              distill=[dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer3',
                            loss=dict(type='FeatureL2Loss'))])
    state = d.state_dict()
    assert set(student_state_dict(state)) == set(d.student.state_dict())
    assert set(entry_items(state)) == {'kd'}
    other = {k: v + 1 if v.is_floating_point() else v for k, v in d.student.state_dict().items()}
    d.load_state_dict(other, strict=False)  # a bare student (an export): lands in `student.`
    assert all(torch.equal(d.student.state_dict()[k], v) for k, v in other.items())


def _runner(model, resume=False):
    logs = []
    return SimpleNamespace(model=model, _resume=resume, _load_from='x.pth', cfg={},
                           logger=SimpleNamespace(info=logs.append)), logs


def test_checkpoint_match_maps_both_kinds():
    model = _Distiller()
    plain = model.student.state_dict()
    ckpt = {'state_dict': OrderedDict(plain)}
    runner, logs = _runner(model)
    CheckpointMatchHook().after_load_checkpoint(runner, ckpt)  # bare student -> distiller
    assert set(ckpt['state_dict']) == {'student.backbone.weight', 'student.backbone.bias'}
    assert 'plain (bare student) checkpoint' in logs[0]
    distilled = {'state_dict': OrderedDict(model.state_dict())}
    runner, logs = _runner(_Student())
    CheckpointMatchHook().after_load_checkpoint(runner, distilled)  # distiller -> plain student
    assert set(distilled['state_dict']) == {'backbone.weight', 'backbone.bias'}
    assert 'CrossTaskDistiller checkpoint: loading its student (2 tensors)' in logs[0]
    with pytest.raises(RuntimeError, match='does not fit'):
        CheckpointMatchHook().after_load_checkpoint(_runner(_Student())[0], {'state_dict': {'x': torch.zeros(1)}})


def test_checkpoint_match_on_resume():
    model = _Distiller()
    with pytest.raises(RuntimeError, match='holds no distiller state'):
        CheckpointMatchHook().after_load_checkpoint(_runner(model, True)[0],
                                                    {'state_dict': OrderedDict(model.student.state_dict())})
    saved = OrderedDict(model.state_dict())
    saved['entries.c4.projector.weight'] = torch.zeros(3, 2)
    with pytest.raises(RuntimeError, match=r"the distill entries changed since 'x.pth' was saved: changed 'c4'"):
        CheckpointMatchHook().after_load_checkpoint(_runner(model, True)[0], {'state_dict': saved})
    with pytest.raises(RuntimeError, match='is a distillation .* checkpoint but the config trains a plain model'):
        CheckpointMatchHook().after_load_checkpoint(_runner(_Student(), True)[0],
                                                    {'state_dict': OrderedDict(model.state_dict())})
    CheckpointMatchHook().after_load_checkpoint(_runner(model, True)[0], {'state_dict': model.state_dict()})


def test_export_writes_the_bare_student(tmp_path):
    path = str(tmp_path / 'student.pth')
    export_student({'meta': {'iter': 7}, 'state_dict': DISTILLER}, path)
    out = safe_load(path)
    assert out['meta'] == {'iter': 7, 'exported_by': 'mmcrosskd'}
    assert list(out['state_dict']) == ['backbone.w', 'head.b']
    assert bare_student_checkpoint(DISTILLER)['state_dict'].keys() == out['state_dict'].keys()


def test_spectrum_history_survives_a_checkpoint():
    hook = ProjectorSpectrumHook(plot=False)
    hook.history['c4'] = [(1, np.array([3., 1.])), (2, np.array([2.5, 0.5]))]
    ckpt = {}
    runner = SimpleNamespace(work_dir=None, _resume=True)
    hook._draw = lambda runner: None  # no files here
    hook.before_save_checkpoint(runner, ckpt)
    resumed = ProjectorSpectrumHook(plot=False)
    resumed.after_load_checkpoint(runner, ckpt)
    assert [s for s, _ in resumed.history['c4']] == [1, 2]
    assert np.allclose(resumed.history['c4'][1][1], [2.5, 0.5])
    fresh = ProjectorSpectrumHook(plot=False)  # load_from (not a resume) starts its own history
    fresh.after_load_checkpoint(SimpleNamespace(_resume=False), ckpt)
    assert not fresh.history
