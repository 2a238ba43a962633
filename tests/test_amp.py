"""Mixed precision: the distillation path in float32 under autocast, tools/train.py --amp (bf16 on CPU),
and on a GPU (skipped without CUDA) mmengine's AmpOptimWrapper with the teachers on the student's device."""
import os.path as osp
import re

import pytest
import torch

import mmcrosskd  # noqa: F401
from conftest import DATA, config_with_hooks, run_tool, seg_data_options
from mmcrosskd.losses import FeatureL2Loss, SpectralTailLoss
from mmcrosskd.models.distiller import DistillEntry
from mmcrosskd.models.projectors import FeatureProjector

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')


def _entry(loss=None, direction='inverted'):
    torch.manual_seed(0)
    proj = FeatureProjector(24, 16) if direction == 'inverted' else None
    return DistillEntry('e', loss or FeatureL2Loss(), direction=direction, projector=proj)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_entry_computes_projector_and_loss_in_float32(dtype):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 16, 5, 5, generator=g).to(dtype).requires_grad_()
    t = torch.randn(2, 24, 7, 7, generator=g).to(dtype)
    entry = _entry()
    reference = entry(s.detach().float(), t.float())  # the same (rounded) values, float32 throughout
    for ctx in (torch.autocast('cpu', dtype=torch.bfloat16), torch.autocast('cpu', enabled=False)):
        with ctx:
            value = entry(s, t)
        assert value.dtype == torch.float32
        # autocast left on would run the 1x1 projector in bf16: ~1e-3 relative error, not 1e-6
        assert value.item() == pytest.approx(reference.item(), rel=1e-6)
    value.backward()
    assert s.grad is not None and s.grad.dtype == dtype and torch.isfinite(s.grad).all()


def test_squared_distance_beyond_fp16_range_stays_finite():
    """Features of magnitude ~300 in fp16: their squared distance (~1.8e5) overflows fp16 (max 65504)."""
    s = torch.full((2, 8, 4, 4), 300., dtype=torch.float16)
    t = torch.full((2, 8, 4, 4), -120., dtype=torch.float16)
    assert torch.isinf(((s - t) ** 2).sum())  # what an fp16 reduction gives
    entry = _entry(direction='identity')
    value = entry(s, t)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert value.item() == pytest.approx(420. ** 2, rel=1e-6)
    tail = DistillEntry('tail', SpectralTailLoss(k=1), direction=None)  # teacher-free: float32 as well
    x = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(0)) * 300
    assert tail(x.half()).dtype == torch.float32
    assert tail(x.half()).item() == pytest.approx(tail(x.half().float()).item(), rel=1e-5)


def test_distiller_under_cpu_autocast(tiny_seg):
    """The tiny two-teacher distiller under bf16 autocast: teachers in bf16, distillation terms in float32
    and within bf16 rounding of the float32 forward."""
    from mmengine.config import Config
    from mmengine.registry import MODELS
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(osp.join(DATA, 'seg_kd_tiny.py'))
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()  # eval: no dropout, BN running stats, same math twice
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        d = SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 3, (1, 64, 64), generator=g)))
        d.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        samples.append(d)
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 255, (3, 64, 64), generator=g, dtype=torch.uint8)
                                                for _ in range(2)], data_samples=samples), True)
    full = model.loss(data['inputs'], data['data_samples'])
    with torch.autocast('cpu', dtype=torch.bfloat16):
        t_feats = model.teacher_features(data['inputs'])
        mixed = model.loss(data['inputs'], data['data_samples'])
    assert {f.dtype for feats in t_feats.values() for f in feats} == {torch.bfloat16}
    for key in ('loss_kd_cls_c4', 'loss_kd_depth_c3'):
        assert mixed[key].dtype == torch.float32
        assert mixed[key].item() == pytest.approx(full[key].item(), rel=0.05)  # bf16 features: ~3 digits


def test_train_amp_on_cpu_runs_the_student_in_bf16(tiny_seg, tmp_path):
    """tools/train.py --amp on a CPU: forward hooks on the student's layers see bfloat16 tensors under
    autocast (the teachers' too), while the projectors and the distillation losses take and give float32
    with autocast off, as the README says."""
    import json
    dtypes = str(tmp_path / 'dtypes.json')
    student = ['student.backbone.stem.0', 'student.backbone.layer4.1.conv2', 'student.decode_head.conv_seg']
    teacher = ['teachers.cls.model.backbone.conv1', 'teachers.depth.model.backbone.stem.0']
    projectors = ['entries.cls_c4.projector', 'entries.depth_c3.projector']
    losses = ['entries.cls_c4.loss', 'entries.depth_c3.loss']
    cfg, env = config_with_hooks(osp.join(DATA, 'seg_kd_tiny.py'), str(tmp_path / 'cfg'),
                                 dict(type='ForwardDtypeProbe', modules=student + teacher + projectors + losses,
                                      out_file=dtypes))
    work = str(tmp_path / 'amp')
    proc = run_tool('train', cfg, '--amp', '--work-dir', work, '--cfg-options', *seg_data_options(tiny_seg),
                    'train_cfg.max_iters=2', env=env)
    log = proc.stdout + proc.stderr
    assert 'AMP without CUDA: CPUAutocastOptimWrapper (bfloat16 autocast on the CPU)' in log
    with open(dtypes) as f:
        seen = json.load(f)
    for path in student + teacher:  # convolutions under autocast compute in bfloat16
        assert seen[path]['outputs'] == ['bfloat16'] and seen[path]['autocast'] == [True], (path, seen[path])
    assert seen['student.backbone.stem.0']['inputs'] == ['float32']  # the images themselves stay float32
    for path in projectors + losses:
        assert seen[path]['inputs'] == ['float32'] and seen[path]['outputs'] == ['float32'], (path, seen[path])
        assert seen[path]['autocast'] == [False], (path, seen[path])
    values = [float(v) for v in re.findall(r'loss_kd_cls_c4: ([-\d.e+]+|nan|inf)', log)]
    assert values and all(v == v and abs(v) < float('inf') for v in values)
    assert osp.isfile(osp.join(work, 'iter_2.pth')) and osp.isfile(osp.join(work, 'student_iter_2.pth'))


def test_cpu_autocast_wrapper_refuses_bad_dtype():
    from mmcrosskd.optim import CPUAutocastOptimWrapper
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="dtype must be 'bfloat16' or 'float16'"):
        CPUAutocastOptimWrapper(optimizer=opt, dtype='float64')


@cuda
def test_amp_train_step_on_gpu_with_teachers_on_the_students_device(tiny_seg):
    """mmengine's AmpOptimWrapper (fp16) around the distiller on CUDA: teachers follow .cuda(), stay out
    of the parameters, and the distillation terms are float32 and finite."""
    from mmengine.config import Config
    from mmengine.optim import AmpOptimWrapper
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(DATA, 'seg_kd_tiny.py'))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model).cuda().train()
    for teacher in model.teachers.values():
        assert {p.device.type for p in teacher.model.parameters()} == {'cuda'}
    assert not any('teacher' in n for n, _ in model.named_parameters())
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    samples = []
    for _ in range(2):
        d = SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 3, (1, 64, 64))))
        d.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        samples.append(d)
    batch = dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8) for _ in range(2)],
                 data_samples=samples)
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.01))
    with wrapper.optim_context(model):
        data = model.data_preprocessor(batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['decode.loss_ce'].dtype in (torch.float16, torch.float32)
    for key in ('loss_kd_cls_c4', 'loss_kd_depth_c3'):
        assert losses[key].dtype == torch.float32 and torch.isfinite(losses[key])
    log = model.train_step(batch, wrapper)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log.values())
