"""The distiller's maths pinned by value (traditional projector, gradient flow, the KT/SR split the spectrum
hook logs) and its less travelled branches (entry validation, dict teacher taps, the class-count check, a
duplicate loss key, untruncated teachers, teacher input conversion, non-finite teacher weights)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mmcrosskd  # noqa: F401
from mmcrosskd.analysis import kd_decomposition
from mmcrosskd.hooks import ProjectorSpectrumHook
from mmcrosskd.models.teacher import FrozenTeacher
from test_distiller import KD_CFG, STUDENT_CFG, build, seg_batch

CLS = KD_CFG.model.teachers.cls.to_dict()


def one_teacher(distill, **kw):
    return build(teachers=dict(cls=dict(CLS)), distill=distill, **kw)


def _resized(t, like):
    return F.interpolate(t, size=like.shape[-2:], mode='bilinear', align_corners=False)


# -- values ------------------------------------------------------------------------------------------------
def test_traditional_projector_by_hand():
    """loss_kd = w * mean((W s - t)^2): the projector maps the student (512 ch) to the teacher's 256."""
    d = one_teacher([dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer3', projector='traditional',
                          loss=dict(type='FeatureL2Loss', loss_weight=0.7))])
    proj = d.entries['kd'].projector
    assert proj.direction == 'traditional' and proj.matrix.shape == (256, 512)
    w = torch.randn(256, 512, generator=torch.Generator().manual_seed(3)) * 0.05
    with torch.no_grad():
        proj.proj.weight.copy_(w.view(256, 512, 1, 1))
    x, samples = seg_batch()
    d.train()
    with torch.no_grad():
        losses = d(x, samples, mode='loss')
        s = d.student.extract_feat(x)[3].double()
        backbone, seen = d.teachers['cls'].model.backbone, []
        handle = backbone.layer3.register_forward_hook(lambda m, i, out: seen.append(out))
        backbone(x)  # the same mean/std as the student: no re-normalisation
        handle.remove()
        t = _resized(seen[0], s).double()
    projected = torch.einsum('oc,bchw->bohw', w.double(), s)
    expected = 0.7 * ((projected - t) ** 2).mean()
    assert losses['loss_kd_kd'].item() == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.parametrize('direction', ['inverted', 'traditional'])
def test_kd_gradient_reaches_student_and_projector_not_teacher(direction):
    d = one_teacher([dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer3', projector=direction,
                          loss=dict(type='FeatureL2Loss', loss_weight=1.0))]).train()
    x, samples = seg_batch()
    d(x, samples, mode='loss')['loss_kd_kd'].backward()
    student_grad = d.student.backbone.layer4[0].conv1.weight.grad
    assert student_grad is not None and student_grad.abs().sum() > 0
    assert d.entries['kd'].projector.proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in d.teachers['cls'].model.parameters())


def _stub_runner(model):
    seen = {}
    vis = SimpleNamespace(add_scalars=lambda scalars, step: seen.update(scalars))
    return SimpleNamespace(model=model, iter=0, visualizer=vis,
                           message_hub=SimpleNamespace(update_info=lambda *a: None)), seen


@pytest.mark.parametrize('normalize', [None, 'l2'])
def test_spectrum_hook_split_on_a_non_square_projector(normalize):
    """The hook's kd_total / kd_kt / kd_sr are kd_decomposition(s, t, P) with P = matrix^T (256 x 512, teacher
    to student, rank <= 256 < 512 so SR > 0), and kd_total is the logged loss_kd over its weight."""
    d = one_teacher([dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer3', projector='inverted',
                          loss=dict(type='FeatureL2Loss', loss_weight=0.3, normalize=normalize))]).train()
    hook = ProjectorSpectrumHook(interval=1, plot=False)
    runner, seen = _stub_runner(d)
    x, samples = seg_batch()
    hook.before_train_iter(runner, 0)
    losses = d(x, samples, mode='loss')
    hook.after_train_iter(runner, 0)
    with torch.no_grad():
        s = d.student.extract_feat(x)[3]
        t = _resized(d.teachers['cls'].features(x)[0], s)
    p = d.entries['kd'].projector.matrix.T
    assert p.shape == (256, 512)
    ref = kd_decomposition(s, t, p, reduction='mean', normalize=normalize)
    assert ref['sr'] > 0.01 * ref['total']  # the two halves differ: a swap would show
    for key in ('total', 'kt', 'sr'):
        assert seen[f'spectrum/kd/kd_{key}'] == pytest.approx(ref[key], rel=1e-4), key
    assert seen['spectrum/kd/kd_total'] == pytest.approx(losses['loss_kd_kd'].item() / 0.3, rel=1e-4)
    assert seen['spectrum/kd/sr_fraction'] == pytest.approx(ref['sr'] / ref['total'], rel=1e-6)


def test_kd_decomposition_by_hand_non_square():
    g = torch.Generator().manual_seed(0)
    zs, zt, p = torch.randn(2, 5, 3, 2, generator=g), torch.randn(2, 3, 3, 2, generator=g), torch.randn(3, 5,
                                                                                                        generator=g)
    dec = kd_decomposition(zs, zt, p, reduction='sum')
    s = zs.permute(0, 2, 3, 1).reshape(-1, 5).double().numpy()
    t = zt.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    v = np.linalg.svd(p.double().numpy())[2][:3].T  # the 3 student-side directions P reaches
    kept = s @ v @ v.T
    assert dec['total'] == pytest.approx(((t @ p.double().numpy() - s) ** 2).sum(), rel=1e-9)
    assert dec['sr'] == pytest.approx(((s - kept) ** 2).sum(), rel=1e-9)
    assert dec['kt'] == pytest.approx(((t @ p.double().numpy() - kept) ** 2).sum(), rel=1e-9)
    assert dec['kt'] + dec['sr'] == pytest.approx(dec['total'], rel=1e-9)


def test_exact_split_is_asked_of_the_projector():
    d = one_teacher([dict(name='a', student='backbone[3]', teacher='cls:backbone.layer3',
                          loss=dict(type='FeatureL2Loss', normalize='bn')),
                     dict(name='b', student='backbone[3]', teacher='cls:backbone.layer3',
                          projector=dict(direction='inverted', bias=True), loss=dict(type='FeatureL2Loss')),
                     dict(name='c', student='backbone[3]', teacher='cls:backbone.layer3',
                          loss=dict(type='FeatureL1Loss')),
                     dict(name='e', student='backbone[3]', teacher='cls:backbone.layer3',
                          projector=dict(direction='inverted', rank=8), loss=dict(type='FeatureL2Loss'))])
    e = d.entries
    assert [e[n].projector.exact_l2_split(e[n].loss) for n in 'abce'] == [False, False, False, True]
    hook = ProjectorSpectrumHook(interval=1, plot=False)
    runner, seen = _stub_runner(d.train())
    hook.before_train_iter(runner, 0)
    d(*seg_batch(), mode='loss')
    hook.after_train_iter(runner, 0)
    assert [f'spectrum/{n}/kd_kt' in seen for n in 'abce'] == [False, False, False, True]


# -- entry validation --------------------------------------------------------------------------------------
def _entry(**kw):
    return dict(dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer4',
                     loss=dict(type='FeatureL2Loss')), **kw)


@pytest.mark.parametrize('distill,teachers,error,match', [
    ([_entry(studnet='x')], None, KeyError, r"distill entry 0: unknown keys \['studnet'\]; allowed"),
    ([_entry(), _entry()], None, ValueError, r"distill entry 1: name 'kd' must be a unique identifier"),
    ([_entry(name='not valid')], None, ValueError, 'must be a unique identifier'),
    ([{k: v for k, v in _entry().items() if k != 'loss'}], None, KeyError, r'needs `student` \(a tap\) and `loss`'),
    ([_entry(align='nearest')], None, ValueError, r"align must be one of \('interpolate', 'pool'\), got 'nearest'"),
    ([_entry(teacher=None, projector='inverted')], None, ValueError, "'kd' has a projector but no teacher"),
    ([_entry(loss='FeatureL2Loss')], None, TypeError, '`loss` must be a loss config dict with `type`'),
    ([_entry(teacher='backbone.layer4')], dict(a=CLS, b=CLS), ValueError, r'name the teacher as "<teacher>:<tap>"'),
    (_entry(), None, TypeError, '`distill` must be a list of entries, got a dict'),
    (['kd'], None, TypeError, 'distill entry 0: must be a dict'),
    ([_entry()], [CLS], TypeError, '`teachers` must be a dict'),
    ([_entry(projector='sideways')], None, ValueError, 'projector direction must be one of'),
])
def test_entries_are_validated(distill, teachers, error, match):
    with pytest.raises(error, match=match):
        build(distill=distill, teachers=dict(cls=CLS) if teachers is None else teachers)


def test_dict_teacher_tap_equals_the_string_form():
    teachers = dict(cls=dict(CLS), other=dict(CLS, seed=7))  # two teachers: the dict must name its own
    a = build(teachers=teachers, distill=[_entry(teacher=dict(name='other', path='backbone.layer3'))])
    b = build(teachers=teachers, distill=[_entry(teacher='other:backbone.layer3')])
    assert list(a.teachers) == ['other'] and a.teachers['other'].taps.specs[0].path == 'backbone.layer3'
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(a.teacher_features(x)['other'][0], b.teacher_features(x)['other'][0])
    assert a.entries['kd'].projector.matrix.shape == (512, 256)


def _seg_teacher(num_classes):
    cfg = STUDENT_CFG.to_dict()
    cfg['decode_head'] = dict(cfg['decode_head'], num_classes=num_classes)
    return dict(config=dict(cfg, _scope_='mmseg'), seed=3)


def test_logit_losses_need_the_same_task_and_class_count():
    logits = dict(name='kd', student='decode_head.conv_seg', teacher='seg:decode_head.conv_seg',
                  projector='identity', loss=dict(type='LogitKLLoss'))
    with pytest.raises(ValueError, match='set same_task=True'):
        build(teachers=dict(seg=_seg_teacher(3)), distill=[logits])
    with pytest.raises(ValueError, match="takes logits: use projector='identity'"):
        build(teachers=dict(seg=_seg_teacher(3)), distill=[dict(logits, same_task=True, projector='inverted')])
    with pytest.raises(ValueError, match='the student predicts 3 classes, the teacher 4: not the same task'):
        build(teachers=dict(seg=_seg_teacher(4)), distill=[dict(logits, same_task=True)])
    d = build(teachers=dict(seg=_seg_teacher(3)), distill=[dict(logits, same_task=True)]).train()
    assert torch.isfinite(d(*seg_batch(), mode='loss')['loss_kd_kd'])


def test_a_student_loss_with_the_kd_name_is_refused():
    d = one_teacher([_entry()]).train()
    own = d.student.loss
    d.student.loss = lambda *a, **k: dict(own(*a, **k), loss_kd_kd=torch.tensor(0.))
    with pytest.raises(KeyError, match="the student already returns a loss named 'loss_kd_kd'"):
        d(*seg_batch(), mode='loss')


def test_untruncated_teacher_runs_whole_and_gives_the_same_features():
    cut = one_teacher([_entry(teacher='cls:backbone.layer3')])
    whole = one_teacher([_entry(teacher='cls:backbone.layer3')], truncate_teachers=False)
    ran = []
    handles = [t.model.backbone.layer4.register_forward_hook(lambda *a, r=r: ran.append(r))
               for r, t in (('cut', cut.teachers['cls']), ('whole', whole.teachers['cls']))]
    try:
        x = torch.randn(2, 3, 64, 64)
        a, b = cut.teacher_features(x)['cls'][0], whole.teacher_features(x)['cls'][0]
        ran.clear()
        cut.teacher_features(x), whole.teacher_features(x)
    finally:
        for h in handles:
            h.remove()
    assert ran == ['whole']
    assert torch.equal(a, b)


# -- the teacher's input ------------------------------------------------------------------------------------
def _cls_teacher(in_channels=3, **pre):
    pre = dict(type='ClsDataPreprocessor', **pre) if pre else None
    return FrozenTeacher('t', config=dict(
        _scope_='mmpretrain', type='ImageClassifier', data_preprocessor=pre,
        backbone=dict(type='ResNet', depth=18, in_channels=in_channels, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=4, in_channels=512)))


def _seg_preprocessor(**kw):
    from mmseg.models import SegDataPreProcessor
    return SegDataPreProcessor(**kw)


MEAN, STD = [10., 20., 30.], [2., 4., 5.]


@pytest.mark.parametrize('student,teacher', [
    ({}, dict(mean=MEAN, std=STD, to_rgb=True)),                             # raw student, normalised teacher
    (dict(mean=[1., 2., 3.], std=[3., 2., 1.], bgr_to_rgb=True), dict(to_rgb=True)),  # and the other way
    ({}, {}),                                                               # neither normalises
    (dict(mean=[1., 2., 3.], std=[3., 2., 1.], bgr_to_rgb=False), dict(mean=MEAN, std=STD, to_rgb=True)),
])
def test_teacher_input_by_hand(student, teacher):
    """The teacher sees its own normalisation of the raw image: x_t = (raw_in_its_order - mean_t) / std_t."""
    t = _cls_teacher(**teacher)
    sp = _seg_preprocessor(**student)
    t.match_student_normalization(sp, 3)
    raw = torch.rand(2, 3, 8, 8) * 255  # as loaded (BGR)
    s_order = raw.flip(1) if student.get('bgr_to_rgb') else raw
    t_order = raw.flip(1) if teacher.get('to_rgb') else raw
    s_in = s_order if 'mean' not in student else (
        (s_order - torch.tensor(student['mean']).view(1, 3, 1, 1)) / torch.tensor(student['std']).view(1, 3, 1, 1))
    expected = t_order if 'mean' not in teacher else (
        (t_order - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1))
    assert torch.allclose(t.prepare_inputs(s_in), expected, atol=1e-4)


def test_teacher_channel_count_mismatch_is_refused():
    t = _cls_teacher(in_channels=2)
    with pytest.raises(ValueError, match="teacher 't' takes 2-channel images but the student 3-channel ones"):
        t.match_student_normalization(_seg_preprocessor(), 3)


def test_teacher_checkpoint_with_nan_is_refused_naming_the_tensor(tmp_path):
    t = _cls_teacher()
    state = t.model.state_dict()
    state['backbone.layer2.0.conv1.weight'][0, 0, 0, 0] = float('nan')
    state['head.fc.bias'][1] = float('inf')
    path = str(tmp_path / 'diverged.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(RuntimeError, match=r"teacher 't': checkpoint .*diverged.pth' holds NaN/Inf values in 2 "
                                           r'tensor\(s\) \(backbone.layer2.0.conv1.weight, head.fc.bias\)'):
        FrozenTeacher('t', config=dict(
            _scope_='mmpretrain', type='ImageClassifier', backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=4, in_channels=512)),
            checkpoint=path)


@pytest.mark.parametrize('change,match', [
    (lambda s: s.pop('head.fc.bias'), r'does not fit the teacher model: 1 missing keys \(head.fc.bias\)\. Check'),
    (lambda s: s.update({'head.extra': torch.zeros(1)}), r'does not fit the teacher model: 1 unexpected keys '
                                                            r'\(head.extra\)\. Check')])
def test_teacher_checkpoint_keys_are_checked_one_by_one(tmp_path, change, match):
    """Strict loading names a missing or an unexpected key on its own (not only alongside a shape error)."""
    state = _cls_teacher().model.state_dict()
    change(state)
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(RuntimeError, match=match):
        FrozenTeacher('t', config=dict(
            _scope_='mmpretrain', type='ImageClassifier', backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=4, in_channels=512)),
            checkpoint=path)
