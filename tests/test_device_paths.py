"""The device-dependent paths of docs/gpu_paths.md, checked without a GPU.

PyTorch's ``meta`` device stands in for a GPU: a module moved there leaves the CPU, and an operation that
mixes a ``meta`` tensor with a CPU tensor fails ("Tensor on device cpu is not on the expected device meta")
as a CUDA/CPU mix does. ``torch.cuda.is_available`` is patched where code branches on it."""
import copy
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmcrosskd  # noqa: F401
from conftest import DATA, ROOT


@pytest.fixture
def meta_autocast(monkeypatch):
    """``torch.autocast('meta', ...)`` as a no-op: autocast has no meta backend (CUDA and CPU have one)."""
    import contextlib
    real = torch.autocast

    def autocast(device_type, *args, **kwargs):
        return contextlib.nullcontext() if device_type == 'meta' else real(device_type, *args, **kwargs)

    monkeypatch.setattr(torch, 'autocast', autocast)


def _tiny_distiller():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(copy.deepcopy(Config.fromfile(osp.join(DATA, 'seg_kd_tiny.py')).model))


def _teacher_tensors(model):
    """Every tensor a teacher computes with: weights, buffers, and the re-normalisation scale / shift."""
    out = {}
    for name, teacher in model.teachers.items():
        for k, v in [*teacher.model.named_parameters(), *teacher.model.named_buffers()]:
            out[f'{name}.{k}'] = v
        out[f'{name}._scale'], out[f'{name}._shift'] = teacher._scale, teacher._shift
    return out


def test_the_meta_device_stands_in_for_a_gpu():
    with pytest.raises(RuntimeError, match='not on the expected device meta'):
        torch.empty(1, 3, 4, 4, device='meta') * torch.ones(1, 3, 1, 1)


def test_model_to_device_moves_the_teachers_and_their_normalisation(meta_autocast):
    """CrossTaskDistiller._apply -> FrozenTeacher.apply: ``model.to(device)`` / ``.cuda()`` move the teachers
    (kept out of the module tree, so that their weights are not the student's parameters) and the
    precomputed scale and shift; the distillation forward then runs on that device alone."""
    model = _tiny_distiller().eval()
    tensors = _teacher_tensors(model)
    assert all(v is not None for v in tensors.values()) and len(tensors) > 100
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    cpu = model.teacher_features(x)
    model.to('meta')
    assert {v.device.type for v in _teacher_tensors(model).values()} == {'meta'}
    assert {p.device.type for p in model.parameters()} == {'meta'}
    feats = model.teacher_features(x.to('meta'))  # a CPU scale or weight left behind would raise here
    assert {f.device.type for fs in feats.values() for f in fs} == {'meta'}
    assert {k: [f.shape for f in fs] for k, fs in feats.items()} == {k: [f.shape for f in fs] for k, fs in cpu.items()}
    # the entries (projectors) follow too: each runs on the moved features
    s = torch.empty(2, 512, 8, 8, device='meta')
    entry = model.entries['cls_c4']
    assert entry(s, feats['cls'][0]).device.type == 'meta'
    # the teachers are still no parameters of the distiller
    assert not any('teacher' in n for n, _ in model.named_parameters())


@pytest.mark.parametrize('cast', ['double', 'half'])
def test_dtype_casts_reach_the_teachers(cast):
    """``model.double()`` / ``.half()`` go through the same ``_apply``: teacher weights, BN statistics and
    scale / shift change dtype with it, and the teacher's features match the float32 ones."""
    model = _tiny_distiller().eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    ref = model.teacher_features(x)
    dtype = getattr(torch, cast)
    getattr(model, cast)()
    assert {v.dtype for v in _teacher_tensors(model).values() if v.is_floating_point()} == {dtype}
    try:
        got = model.teacher_features(x.to(dtype))
    except RuntimeError as exc:  # torch before 2.2 has no half-precision convolution on a CPU: the casts are
        if "not implemented for 'Half'" not in str(exc):  # checked above, the features can only be on a GPU
            raise
        return
    for name in ref:
        for a, b in zip(ref[name], got[name]):
            assert b.dtype == dtype
            tol = 1e-5 if cast == 'double' else 2e-2  # float32 vs float64 rounding; half: ~3 digits
            assert (b.float() - a).abs().max().item() <= tol * a.abs().max().item() + tol, name


def test_random_subspace_basis_stays_on_the_models_device(meta_autocast):
    """A model on a GPU loading a CPU checkpoint (mmengine's ``load_from`` maps to the CPU): the resized
    basis buffer is made on the module's device, and the forward uses it there."""
    from mmcrosskd.losses import RandomSubspaceLoss
    saved = RandomSubspaceLoss(k=3, seed=4)
    saved(torch.randn(2, 8, 4, 4))  # builds the (8 x 3) basis
    loss = RandomSubspaceLoss(k=3, seed=4).to('meta')
    loss.load_state_dict(saved.state_dict())
    assert loss.basis.device.type == 'meta' and loss.basis.shape == (8, 3)
    assert loss(torch.empty(2, 8, 4, 4, device='meta')).device.type == 'meta'


def test_enable_amp_picks_the_wrapper_by_device(monkeypatch):
    """``--amp``: mmengine's AmpOptimWrapper (fp16, dynamic loss scale) where CUDA is available, our bf16
    CPUAutocastOptimWrapper elsewhere; a config that already chose stays as it is."""
    from mmcrosskd.runner_utils import enable_amp

    def cfg(kind='OptimWrapper'):
        return Config(dict(optim_wrapper=dict(type=kind, optimizer=dict(type='SGD', lr=0.1))))

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    gpu = cfg()
    assert enable_amp(gpu).startswith('AMP: AmpOptimWrapper')
    assert gpu.optim_wrapper.type == 'AmpOptimWrapper' and gpu.optim_wrapper.loss_scale == 'dynamic'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cpu = cfg()
    assert enable_amp(cpu).startswith('AMP without CUDA')
    assert cpu.optim_wrapper.type == 'CPUAutocastOptimWrapper' and 'loss_scale' not in cpu.optim_wrapper
    assert 'already enabled' in enable_amp(cfg('AmpOptimWrapper'))
    with pytest.raises(ValueError, match="optim_wrapper type 'ZeroRedundancyOptimizer'"):
        enable_amp(cfg('ZeroRedundancyOptimizer'))


@pytest.mark.parametrize('launcher', ['pytorch', 'slurm'])
def test_gpu_machines_keep_mmengines_launchers(monkeypatch, launcher):
    """With CUDA, ``prepare_cpu_distributed`` does nothing: mmengine's launcher sets the device and NCCL."""
    import torch.distributed as dist

    from mmcrosskd.runner_utils import prepare_cpu_distributed
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert prepare_cpu_distributed(cfg, launcher) is False
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg
    assert not dist.is_initialized()
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert prepare_cpu_distributed(cfg, 'none') is False and not dist.is_initialized()


def test_train_lock_is_taken_by_the_first_slurm_task_only(monkeypatch, tmp_path):
    """Under srun mmengine sets RANK only when it builds the runner: tools/train.py reads SLURM_PROCID, so
    one task, not every task, holds the work dir's lock."""
    spec = importlib.util.spec_from_file_location('train_tool', osp.join(ROOT, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    locked = []
    monkeypatch.setattr(train, 'work_dir_lock', lambda *a: locked.append(a) or __import__('contextlib').nullcontext())
    monkeypatch.setattr(train, 'build_runner', lambda cfg: (_ for _ in ()).throw(SystemExit('built')))
    monkeypatch.setattr(train, 'prepare_cpu_distributed', lambda cfg, launcher: False)
    monkeypatch.delenv('RANK', raising=False)
    args = [osp.join(DATA, 'seg_fcn_r18_tiny.py'), '--work-dir', str(tmp_path), '--launcher', 'slurm']
    for task, lock in (('1', False), ('0', True)):
        monkeypatch.setenv('SLURM_PROCID', task)
        locked.clear()
        with pytest.raises(SystemExit, match='built'):
            train.main(args)
        assert bool(locked) == lock, task


@pytest.mark.parametrize('name', ['FeatureL2Loss', 'FeatureCosineLoss', 'AttentionTransferLoss',
                                  'SimilarityPreservingLoss', 'ChannelWiseDistillLoss', 'RelationalKDLoss',
                                  'PKTLoss', 'DISTLoss', 'RandomSubspaceLoss'])
def test_losses_compute_on_their_inputs_device(name, meta_autocast):
    """Tensors a loss makes itself (RKD's pair mask, the random subspace basis) are made on the features'
    device: on a 'meta' input every loss gives a 'meta' value (a CPU tensor inside would raise)."""
    import contextlib

    from mmcrosskd import losses
    ctx = contextlib.nullcontext()
    if name == 'RelationalKDLoss':  # its d[mask] needs a nonzero() on 'meta', which torch allows on request
        fx_config = pytest.importorskip('torch.fx.experimental._config', reason='this torch has no meta nonzero()')
        if not hasattr(fx_config, 'meta_nonzero_assume_all_nonzero'):
            pytest.skip('this torch has no meta nonzero()')
        ctx = fx_config.patch(meta_nonzero_assume_all_nonzero=True)
    s = torch.empty(4, 8, 4, 4, device='meta')
    with ctx:
        if name == 'RandomSubspaceLoss':
            value = losses.RandomSubspaceLoss(k=2).to('meta')(s)
        else:
            value = getattr(losses, name)()(s, torch.empty(4, 8, 4, 4, device='meta'))
    assert value.device.type == 'meta' and value.dim() == 0


def test_building_teachers_leaves_the_random_streams(monkeypatch):
    """Teachers are built under ``fork_rng(devices=[])`` on the CPU: the run's CPU stream is untouched and no
    CUDA generator is read or written (the patched CUDA functions would raise), on a CUDA machine too."""
    from mmcrosskd.models.teacher import FrozenTeacher

    def touched(*args, **kwargs):
        raise AssertionError('a CUDA generator was touched')

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    for name in ('get_rng_state', 'set_rng_state', 'get_rng_state_all', 'set_rng_state_all'):
        monkeypatch.setattr(torch.cuda, name, touched)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    init_default_scope('mmseg')
    a = FrozenTeacher('cls', config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    b = FrozenTeacher('cls', config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
