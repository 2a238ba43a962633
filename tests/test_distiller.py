"""CrossTaskDistiller with real mmseg / mmpretrain models (built from their registries and configs)."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS, init_default_scope

import mmcrosskd  # noqa: F401
from conftest import DATA

init_default_scope('mmseg')
KD_CFG = Config.fromfile(osp.join(DATA, 'seg_kd_tiny.py'))
STUDENT_CFG = KD_CFG.model.student


def seg_batch(n=2, size=64, seed=0):
    """A preprocessed batch as the Runner gives it to the model."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, size, size), generator=g))
        s.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        samples.append(s)
    return torch.randn(n, 3, size, size, generator=g), samples


def build(distill=None, teachers=None, **kw):
    cfg = copy.deepcopy(KD_CFG.model).to_dict()
    if distill is not None:
        cfg['distill'] = distill
    if teachers is not None:
        cfg['teachers'] = teachers
    for k, v in kw.items():
        cfg[k] = v
    torch.manual_seed(0)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def distiller():
    return build()


def _teacher_state(d):
    return {name: {k: v.clone() for k, v in t.model.state_dict().items()} for name, t in d.teachers.items()}


def test_predictions_are_the_bare_students(distiller):
    student = MODELS.build(copy.deepcopy(STUDENT_CFG))
    student.load_state_dict(distiller.student.state_dict())
    distiller.eval()
    student.eval()
    x, samples = seg_batch()
    with torch.no_grad():
        assert torch.equal(distiller(x, mode='tensor'), student(x, mode='tensor'))
        got = distiller(x, copy.deepcopy(samples), mode='predict')
        ref = student(x, copy.deepcopy(samples), mode='predict')
    for a, b in zip(got, ref):
        assert torch.equal(a.seg_logits.data, b.seg_logits.data)
    assert distiller.data_preprocessor is distiller.student.data_preprocessor


def test_loss_dict_has_student_losses_and_one_term_per_entry(distiller):
    distiller.train()
    x, samples = seg_batch()
    losses = distiller(x, samples, mode='loss')
    assert {'decode.loss_ce', 'loss_kd_cls_c4', 'loss_kd_depth_c3'} <= set(losses)
    assert all(torch.isfinite(losses[k]) for k in ('loss_kd_cls_c4', 'loss_kd_depth_c3'))


def test_training_leaves_teachers_bit_identical_and_trains_projectors():
    d = build()
    before = _teacher_state(d)
    d.train()
    for t in d.teachers.values():
        assert not t.model.training
        assert all(not m.training for m in t.model.modules())
    optim = OptimWrapper(torch.optim.SGD(d.parameters(), lr=0.1, momentum=0.9))
    proj_before = {k: v.clone() for k, v in d.entries.state_dict().items()}
    for i in range(3):
        x, samples = seg_batch(seed=i)
        losses = d(x, samples, mode='loss')
        loss, _ = d.parse_losses(losses)
        loss.backward()
        for name, entry in d.entries.items():
            assert entry.projector.proj.weight.grad is not None, name
            assert entry.projector.proj.weight.grad.abs().sum() > 0, name
        for t in d.teachers.values():
            assert all(p.grad is None and not p.requires_grad for p in t.model.parameters())
        optim.step()
        optim.zero_grad()
    after = _teacher_state(d)
    for name in before:
        for k in before[name]:
            assert torch.equal(before[name][k], after[name][k]), f'{name}.{k} changed'
    changed = [k for k, v in d.entries.state_dict().items() if not torch.equal(v, proj_before[k])]
    assert changed, 'projectors did not train'


def test_teachers_are_out_of_parameters_and_state_dict(distiller):
    names = [n for n, _ in distiller.named_parameters()]
    assert not any('teacher' in n for n in names)
    keys = distiller.state_dict().keys()
    assert any(k.startswith('entries.cls_c4.projector') for k in keys)
    assert all(k.startswith(('student.', 'entries.', 'data_preprocessor.')) for k in keys)


def test_distillation_term_by_hand():
    """loss_kd = mean((W t - s)^2) over the l2-normalised features, W the projector."""
    d = build(distill=[dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer4',
                            projector='inverted', loss=dict(type='FeatureL2Loss', loss_weight=0.7))])
    g = torch.Generator().manual_seed(3)
    w = torch.randn(512, 512, generator=g) * 0.05
    with torch.no_grad():
        d.entries['kd'].projector.proj.weight.copy_(w.view(512, 512, 1, 1))
    x, samples = seg_batch()
    d.train()
    with torch.no_grad():
        losses = d(x, samples, mode='loss')
        s = d.student.extract_feat(x)[3]
        t = d.teachers['cls'].model.backbone(x)[-1]  # same mean/std: no re-normalisation needed
    s, t = s.double().numpy(), t.double().numpy()
    # the teacher map is resized to the student's: ResNet-18 /32 vs dilated ResNetV1c /8
    t = torch.nn.functional.interpolate(torch.from_numpy(t), size=s.shape[-2:], mode='bilinear',
                                        align_corners=False).numpy()
    proj = np.einsum('oc,bchw->bohw', w.double().numpy(), t)
    expected = 0.7 * np.mean((s - proj) ** 2)
    assert losses['loss_kd_kd'].item() == pytest.approx(expected, rel=1e-4)


def test_teacher_inputs_are_renormalised():
    teachers = dict(cls=dict(config=dict(
        _scope_='mmpretrain', type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[0., 10., 20.], std=[2., 4., 8.], to_rgb=False),
        backbone=dict(type='ResNet', depth=18, out_indices=(3, )), neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=512)), input_size=(32, 32)))
    d = build(teachers=teachers, distill=[dict(name='kd', student='backbone[3]', teacher='backbone[0]',
                                               loss=dict(type='FeatureL2Loss'))])
    raw = torch.rand(1, 3, 64, 64) * 255  # BGR, as loaded
    sp = d.data_preprocessor  # student: bgr_to_rgb, mean/std of ImageNet
    student_in = (raw.flip(1) - sp.mean.view(1, 3, 1, 1)) / sp.std.view(1, 3, 1, 1)
    expected = (raw - torch.tensor([0., 10., 20.]).view(1, 3, 1, 1)) / torch.tensor([2., 4., 8.]).view(1, 3, 1, 1)
    expected = torch.nn.functional.interpolate(expected, size=(32, 32), mode='bilinear', align_corners=False)
    got = d.teachers['cls'].prepare_inputs(student_in)
    assert torch.allclose(got, expected, atol=1e-3)


def test_teacher_stops_after_its_last_tap(distiller):
    t = distiller.teachers['cls']
    assert t.taps.stop_path == 'backbone.layer4'
    ran = []
    handle = t.model.head.register_forward_hook(lambda *a: ran.append(1))
    try:
        distiller.teacher_features(torch.randn(1, 3, 64, 64))
    finally:
        handle.remove()
    assert ran == []


def test_teacher_dropout_and_droppath_stay_off():
    vit = dict(config=dict(
        _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch='deit-tiny', img_size=32, patch_size=16, drop_rate=0.5,
                      drop_path_rate=0.5, out_type='featmap'),
        neck=None, head=dict(type='VisionTransformerClsHead', num_classes=4, in_channels=192)))
    d = build(teachers=dict(vit=vit), distill=[dict(name='kd', student='backbone[3]', teacher='backbone[0]',
                                                    loss=dict(type='FeatureL2Loss'))])
    d.train()
    x = torch.randn(2, 3, 32, 32)
    a = d.teacher_features(x)['vit'][0]
    b = d.teacher_features(x)['vit'][0]
    assert torch.equal(a, b), 'teacher is stochastic: dropout or drop-path is on'
    d.teachers['vit'].model.train()  # even if someone flips it
    assert torch.equal(d.teacher_features(x)['vit'][0], a)


def test_channels_inferred_for_token_features():
    vit = dict(config=dict(
        _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch='deit-tiny', img_size=64, patch_size=16, out_type='raw'),
        neck=None, head=dict(type='VisionTransformerClsHead', num_classes=4, in_channels=192)))
    student = dict(_scope_='mmpretrain', type='ImageClassifier',
                   backbone=dict(type='VisionTransformer', arch='deit-tiny', img_size=64, patch_size=16,
                                 out_type='raw', out_indices=(5, )),
                   neck=None, head=dict(type='VisionTransformerClsHead', num_classes=4, in_channels=192))
    d = build(student=student, teachers=dict(vit=vit),
              distill=[dict(name='tok', student='backbone.layers.5', teacher='backbone.layers.2',
                            loss=dict(type='FeatureL2Loss'))])
    proj = d.entries['tok'].projector
    assert isinstance(proj.proj, torch.nn.Linear) and proj.matrix.shape == (192, 192)


def test_export_student_loads_into_a_plain_model(distiller, tmp_path):
    from mmengine.runner import load_checkpoint

    from mmcrosskd.hooks import export_student
    path = export_student({'meta': {}, 'state_dict': distiller.state_dict()}, str(tmp_path / 's.pth'))
    plain = MODELS.build(copy.deepcopy(STUDENT_CFG))
    load_checkpoint(plain, path, map_location='cpu', strict=True)
    plain.eval()
    distiller.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(plain(x, mode='tensor'), distiller(x, mode='tensor'))


# -- error paths -------------------------------------------------------------------------------
def test_wrong_student_path_names_closest():
    with pytest.raises(KeyError, match=r"student: no module 'backbone.layer5'.*'backbone.layer4'"):
        build(distill=[dict(name='x', student='backbone.layer5', teacher='cls:backbone.layer4',
                            loss=dict(type='FeatureL2Loss'))])


def test_wrong_teacher_path_names_closest():
    with pytest.raises(KeyError, match=r"teacher 'cls': no module 'backbone.layr4'.*'backbone.layer4'"):
        build(distill=[dict(name='x', student='backbone[3]', teacher='cls:backbone.layr4',
                            loss=dict(type='FeatureL2Loss'))])


def test_index_out_of_range_is_explained():
    with pytest.raises(IndexError, match=r'index 7 is out of range; .* returns 4 items'):
        build(distill=[dict(name='x', student='backbone[7]', teacher='cls:backbone.layer4',
                            loss=dict(type='FeatureL2Loss'))])


def test_unknown_teacher_and_empty_distill():
    with pytest.raises(KeyError, match=r"unknown teacher 'seg'; teachers: \['cls', 'depth'\]"):
        build(distill=[dict(name='x', student='backbone[3]', teacher='seg:backbone',
                            loss=dict(type='FeatureL2Loss'))])
    with pytest.raises(ValueError, match='`distill` is empty'):
        build(distill=[])


def test_missing_and_mismatched_teacher_checkpoints(tmp_path):
    teachers = dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py',
                             checkpoint=str(tmp_path / 'missing.pth')))
    entry = [dict(name='x', student='backbone[3]', teacher='backbone[0]', loss=dict(type='FeatureL2Loss'))]
    with pytest.raises(FileNotFoundError, match=r"teacher 'cls': checkpoint not found: .*missing.pth"):
        build(teachers=teachers, distill=entry)
    wrong = tmp_path / 'wrong.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1), 'extra.w': torch.zeros(1)}}, wrong)
    teachers['cls']['checkpoint'] = str(wrong)
    with pytest.raises(RuntimeError, match=r'does not fit the teacher model: \d+ missing keys .*1 unexpected '
                                           r'keys \(extra.w\).*shape mismatch: backbone.conv1.weight'):
        build(teachers=teachers, distill=entry)
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint')
    teachers['cls']['checkpoint'] = str(garbage)
    with pytest.raises(RuntimeError, match=r"teacher 'cls': .*garbage.pth' is not a torch checkpoint \(a text file"):
        build(teachers=teachers, distill=entry)


class PickledThing:
    pass


def test_checkpoint_needing_pickled_code_is_refused(tmp_path):
    path = tmp_path / 'pickled.pth'
    torch.save({'state_dict': {}, 'extra': PickledThing()}, path)
    teachers = dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', checkpoint=str(path)))
    with pytest.raises(RuntimeError, match=r'allow_unsafe_checkpoint=True.*It needs: .*PickledThing'):
        build(teachers=teachers, distill=[dict(name='x', student='backbone[3]', teacher='backbone[0]',
                                               loss=dict(type='FeatureL2Loss'))])


def test_teacher_checkpoint_round_trip(tmp_path):
    """A teacher saved by mmengine loads (weights_only) and gives the same features."""
    from mmengine.runner import save_checkpoint
    d = build()
    t = d.teachers['cls'].model
    path = str(tmp_path / 'cls.pth')
    save_checkpoint({'meta': {}, 'state_dict': t.state_dict()}, path)
    teachers = dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', checkpoint=path, seed=99))
    entry = [dict(name='x', student='backbone[3]', teacher='backbone.layer4', loss=dict(type='FeatureL2Loss'))]
    d2 = build(teachers=teachers, distill=entry)
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(d.teacher_features(x)['cls'][0], d2.teacher_features(x)['cls'][0])


def test_same_seed_same_random_teacher_and_different_seed_differs():
    entry = [dict(name='x', student='backbone[3]', teacher='backbone.layer4', loss=dict(type='FeatureL2Loss'))]
    mk = lambda seed: build(teachers=dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=seed)),
                            distill=entry).teachers['cls'].model.backbone.conv1.weight
    assert torch.equal(mk(5), mk(5)) and not torch.equal(mk(5), mk(6))


def _deit_tiny(**backbone):
    backbone = dict(type='VisionTransformer', arch='deit-tiny', img_size=64, patch_size=16,
                    **{'out_type': 'raw', **backbone})
    return dict(_scope_='mmpretrain', type='ImageClassifier', backbone=backbone,
                neck=None, head=dict(type='VisionTransformerClsHead', num_classes=4, in_channels=192))


def _one_step_moves_the_student(d, batch):
    inputs, samples = batch
    before = {k: v.clone() for k, v in d.student.named_parameters()}
    optim = OptimWrapper(torch.optim.SGD(d.parameters(), lr=0.1))
    losses = d.train_step(dict(inputs=list(inputs), data_samples=samples), optim)
    assert all(torch.isfinite(v).all() for v in losses.values())
    return sum(not torch.equal(before[k], v) for k, v in d.student.named_parameters())


def test_map_student_under_a_token_teacher():
    """The ViT teacher's 17 tokens (class + 4x4 patches) are folded into a map and resized to the
    student's 8x8 stage 4; the projector is then a 1x1 convolution."""
    d = build(teachers=dict(vit=dict(config=_deit_tiny())),
              distill=[dict(name='x', student='backbone[3]', teacher='backbone[0]', loss=dict(type='FeatureL2Loss'))])
    proj = d.entries['x'].projector.proj
    assert isinstance(proj, torch.nn.Conv2d) and (proj.in_channels, proj.out_channels) == (192, 512)
    assert _one_step_moves_the_student(d, seg_batch()) > 0


def test_token_student_under_a_map_teacher():
    """A ViT student (its every feature is tokens, as T2T-ViT's) under the seg student's ResNet teacher: the
    teacher's map is laid out on the student's 4x4 patch grid, the class token is left out."""
    init_default_scope('mmpretrain')
    try:
        d = build(student=_deit_tiny(out_type='cls_token'), data_preprocessor=dict(type='ClsDataPreprocessor'),
                  teachers=dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1)),
                  distill=[dict(name='x', student='backbone.layers.5', teacher='backbone.layer4',
                                loss=dict(type='FeatureL2Loss'))])
        entry = d.entries['x']
        assert isinstance(entry.projector.proj, torch.nn.Linear) and entry.projector.matrix.shape[0] == 192
        from mmpretrain.structures import DataSample
        inputs = torch.randn(2, 3, 64, 64)
        samples = [DataSample().set_gt_label(i) for i in range(2)]
        assert _one_step_moves_the_student(d, (inputs, samples)) > 0
    finally:
        init_default_scope('mmseg')


@pytest.mark.parametrize('mode', ['raise', 'skip'])
def test_nonfinite_loss(mode):
    d = build(nonfinite=mode, distill=[dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer4',
                                            loss=dict(type='FeatureL2Loss', loss_weight=1.0))])
    with torch.no_grad():  # a projector that has diverged: one weight is Inf
        d.entries['kd'].projector.proj.weight[0, 0] = float('inf')
    x, samples = seg_batch()
    if mode == 'raise':
        with pytest.raises(FloatingPointError, match=r"distill entry 'kd' gave a non-finite loss"):
            d(x, samples, mode='loss')
    else:
        with pytest.warns(UserWarning, match='skipped for this step'):
            losses = d(x, samples, mode='loss')
        # an exact, finite zero (p * 0 would be NaN at the Inf weight) that still reaches the projector
        assert losses['loss_kd_kd'].item() == 0
        total, _ = d.parse_losses(losses)
        assert torch.isfinite(total)
        total.backward()
        grad = d.entries['kd'].projector.proj.weight.grad
        assert grad is not None and torch.equal(grad, torch.zeros_like(grad))
        assert all(torch.isfinite(p.grad).all() for p in d.student.parameters() if p.grad is not None)


def test_kd_term_too_large_for_the_task_loss_warns_once(recwarn):
    entry = dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer4',
                 loss=dict(type='FeatureL2Loss', loss_weight=1e4, normalize='l2'))
    d = build(distill=[entry]).train()
    x, samples = seg_batch()
    losses = d(x, samples, mode='loss')
    task = sum(float(v) for k, v in losses.items() if 'loss' in k and k != 'loss_kd_kd')
    ratio = float(losses['loss_kd_kd']) / task
    assert ratio > 0.5
    msgs = [str(w.message) for w in recwarn if 'x the task loss' in str(w.message)]
    assert msgs == [f'loss_kd_kd starts at {ratio:.2f} x the task loss (> max_kd_ratio=0.5): on the quick-start '
                    'task a term at 0.75 x cost 3 mIoU (docs/tuning.md); consider a lower loss_weight']
    recwarn.clear()
    d(x, samples, mode='loss')  # checked once only
    assert not [w for w in recwarn if 'x the task loss' in str(w.message)]
    # a small term, or the check turned off: no warning
    for kw in (dict(distill=[dict(entry, loss=dict(entry['loss'], loss_weight=1.0))]),
               dict(distill=[entry], max_kd_ratio=None)):
        build(**kw).train()(x, samples, mode='loss')
        assert not [w for w in recwarn if 'x the task loss' in str(w.message)]


def test_top_level_data_preprocessor_goes_to_the_student():
    """mmpretrain configs keep data_preprocessor at top level; the Runner passes it to the outer model."""
    student = dict(_scope_='mmpretrain', type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
                   neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=3,
                                                                   in_channels=512))
    pre = dict(type='mmpretrain.ClsDataPreprocessor', num_classes=3, mean=[1., 2., 3.], std=[4., 5., 6.])
    d = MODELS.build(dict(type='CrossTaskDistiller', student=student, data_preprocessor=pre,
                          distill=[dict(name='t', student='backbone[0]', loss=dict(type='SpectralTailLoss', k=2))]))
    assert d.data_preprocessor is d.student.data_preprocessor
    assert d.student.data_preprocessor.mean.flatten().tolist() == [1., 2., 3.]


@pytest.mark.parametrize('opts', [dict(autocast='bf16'), dict(channels_last=True)])
def test_teacher_speed_options_keep_features(opts):
    """bf16 autocast and channels-last give (nearly) the fp32 teacher's features, as float32."""
    entry = [dict(name='x', student='backbone[3]', teacher='backbone.layer3', loss=dict(type='FeatureL2Loss'))]
    cfg = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
    ref = build(teachers=dict(cls=dict(config=cfg, seed=3)), distill=entry)
    fast = build(teachers=dict(cls=dict(config=cfg, seed=3, **opts)), distill=entry)
    x = torch.randn(2, 3, 64, 64)
    a, b = ref.teacher_features(x)['cls'][0], fast.teacher_features(x)['cls'][0]
    assert b.dtype == torch.float32 and a.shape == b.shape
    tol = 5e-2 if 'autocast' in opts else 1e-5
    assert (a - b).abs().max() <= tol * a.abs().max()
    with pytest.raises(ValueError, match="autocast must be None, 'bf16' or 'fp16'"):
        build(teachers=dict(cls=dict(config=cfg, autocast='int8')), distill=entry)


def test_teacher_bit_identical_under_bf16_autocast():
    """Mixed precision on the teacher side (autocast='bf16') leaves its weights and BN statistics intact.
    (mmengine's AmpOptimWrapper needs a GPU; with one, the CUDA path is the same code.)"""
    teachers = dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1, autocast='bf16'))
    d = build(teachers=teachers, distill=[dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer4',
                                               loss=dict(type='FeatureL2Loss', normalize='l2'))])
    before = _teacher_state(d)
    optim = OptimWrapper(torch.optim.SGD(d.parameters(), lr=0.1))
    d.train()
    for i in range(2):
        x, samples = seg_batch(seed=i)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            losses = d(x, samples, mode='loss')
        loss, _ = d.parse_losses(losses)
        optim.update_params(loss)
    after = _teacher_state(d)
    assert all(torch.equal(before['cls'][k], after['cls'][k]) for k in before['cls'])


def test_distiller_level_projector_switches_entries_without_their_own():
    entries = [dict(name='a', student='backbone[3]', teacher='cls:backbone.layer4', loss=dict(type='FeatureL2Loss')),
               dict(name='b', student='backbone[2]', teacher='depth:backbone[2]', projector='identity',
                    loss=dict(type='FeatureL2Loss'))]
    d = build(distill=entries, projector='traditional')
    assert d.entries['a'].direction == 'traditional' and d.entries['b'].direction == 'identity'
    assert build(distill=entries[:1]).entries['a'].direction == 'inverted'


def test_student_taps_are_checked_in_training_mode_without_side_effects():
    """mmseg's DDRNet backbone returns one map in eval mode and (auxiliary, main) in training, when the
    distiller reads it: ``backbone[1]`` must build, and building must leave BatchNorm statistics and the
    random stream as they were."""
    from mmcrosskd.utils.config import load_model_spec
    spec, scope = load_model_spec('mmseg::ddrnet/ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024.py')
    spec = spec.to_dict()
    spec['backbone']['init_cfg'] = None
    spec['data_preprocessor']['size'] = (64, 64)
    spec['_scope_'] = scope
    torch.manual_seed(0)
    plain = MODELS.build(copy.deepcopy(spec))
    after_plain = torch.random.get_rng_state()
    torch.manual_seed(0)
    model = MODELS.build(dict(type='CrossTaskDistiller', student=spec, distill=[
        dict(name='tail', student='backbone[1]', loss=dict(type='SpectralTailLoss', k=4))]))
    assert torch.equal(torch.random.get_rng_state(), after_plain)  # the dry run drew nothing from the stream
    for (name, a), b in zip(plain.named_buffers(), model.student.buffers()):
        assert torch.equal(a, b), name  # running statistics untouched by the dry run
    x, samples = seg_batch(size=64)
    model.train()
    log = model.train_step(dict(inputs=list((x * 50 + 100).clamp(0, 255).byte()), data_samples=samples),
                           OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3)))
    assert 'loss_kd_tail' in log and torch.isfinite(log['loss_kd_tail'])
