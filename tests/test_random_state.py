"""RandomStateHook: ``--resume`` continues the random streams, also when the saved states come back as
tensors that are not CPU ByteTensors (a GPU resume maps them to the GPU); a plain ``load_from`` keeps the
new run's seed; a resumed checkpoint without saved states warns once and training goes on."""
import logging
import os.path as osp
import random
import types

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.testing import RunnerTestCase

from mmcrosskd.hooks import RandomStateHook


class OnDevice(torch.Tensor):
    """A tensor that reports a non-CPU device (``cuda`` by default) while its bytes stay on the CPU: what a
    checkpoint loaded with ``map_location='cuda:0'`` holds, on a machine without a GPU. ``torch.set_rng_state``
    refuses it exactly as it refuses a CUDA tensor; a move to the CPU (``.cpu()``, ``.to('cpu')``) gives the
    bytes back and is counted."""

    moves = 0
    # results stay what __torch_dispatch__ returns (torch < 2.2 would wrap them back into this class)
    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def __new__(cls, inner, device='cuda'):
        wrapper = torch.Tensor._make_wrapper_subclass(cls, inner.shape, dtype=inner.dtype, device=device)
        wrapper.inner = inner
        return wrapper

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._to_copy.default and kwargs.get('device', torch.device('cpu')).type == 'cpu':
            OnDevice.moves += 1
            return args[0].inner.to(dtype=kwargs.get('dtype') or args[0].inner.dtype)
        raise NotImplementedError(f'{func} on a stand-in device tensor')


def _on_device(rng_state):
    """Every tensor of a saved ``rng_state``, as a GPU resume's ``map_location`` leaves it."""
    state = dict(rng_state)
    state['torch'] = OnDevice(state['torch'])
    if 'cuda' in state:
        state['cuda'] = [OnDevice(s) for s in state['cuda']]
    return state


class Draws(Hook):
    """Records the random numbers the run can draw at the start of each iteration (after the restore)."""
    priority = 'LOW'

    def __init__(self):
        self.draws = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.draws[runner.iter] = (torch.rand(3).tolist(), float(np.random.rand()), random.random())


class MapToDevice(Hook):
    """Runs before RandomStateHook when a checkpoint is loaded and turns its saved states into non-CPU tensors."""
    priority = 'HIGHEST'

    def after_load_checkpoint(self, runner, checkpoint):
        if 'rng_state' in checkpoint:
            checkpoint['rng_state'] = _on_device(checkpoint['rng_state'])


def test_stand_in_is_refused_like_a_cuda_tensor():
    """The premise of the GPU tests below: the stand-in state is what torch refuses."""
    state = OnDevice(torch.get_rng_state())
    assert state.device.type == 'cuda' and state.dtype == torch.uint8
    with pytest.raises((TypeError, RuntimeError), match='ByteTensor'):
        torch.set_rng_state(state)
    with pytest.raises((TypeError, RuntimeError), match='ByteTensor'):
        torch.set_rng_state(torch.get_rng_state().long())  # another dtype: refused too


@pytest.mark.parametrize('form', ['on_device', 'int64', 'list'])
def test_restore_converts_any_saved_form(form, monkeypatch):
    """Saved torch / CUDA / numpy / Python states in the forms loaders give back are restored exactly."""
    hook = RandomStateHook()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    saved = dict(torch=torch.get_rng_state(), numpy=np.random.get_state(), python=random.getstate())
    expected = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    cuda = [torch.randint(0, 256, (16, ), dtype=torch.uint8) for _ in range(3)]  # 3 devices saved
    convert = dict(on_device=OnDevice, int64=lambda t: t.long(), list=lambda t: t.tolist())[form]
    name, key, pos, has_gauss, cached = saved['numpy']
    state = dict(torch=convert(saved['torch']), cuda=[convert(c) for c in cuda],
                 numpy=[name, torch.from_numpy(key.astype(np.int64)), torch.tensor(pos), has_gauss, cached],
                 python=[saved['python'][0], list(saved['python'][1]), saved['python'][2]])
    got_cuda = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)  # the resuming machine has 2
    monkeypatch.setattr(torch.cuda, 'set_rng_state_all', got_cuda.extend)
    OnDevice.moves = 0
    runner = types.SimpleNamespace(epoch=0, iter=6)
    hook.after_load_checkpoint(runner, dict(rng_state=state, meta=dict(epoch=0, iter=6)))
    hook.before_train(runner)
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    hook.before_train_iter(runner, 6)
    assert torch.equal(torch.rand(4), expected[0])
    assert np.array_equal(np.random.rand(4), expected[1])
    assert [random.random() for _ in range(4)] == expected[2]
    assert len(got_cuda) == 2
    for got, want in zip(got_cuda, cuda):
        assert got.device.type == 'cpu' and got.dtype == torch.uint8 and torch.equal(got, want)
    if form == 'on_device':
        assert OnDevice.moves == 1 + 3  # the torch state and each CUDA state went through a move to the CPU


def test_cuda_states_are_saved_when_cuda_is_in_use(monkeypatch):
    states = [torch.full((4, ), i, dtype=torch.uint8) for i in range(2)]
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_rng_state_all', lambda: states)
    for used in (True, False):  # a CUDA machine whose run never touched CUDA: no context is created for it
        monkeypatch.setattr(torch.cuda, 'is_initialized', lambda: used)
        checkpoint = {}
        RandomStateHook().before_save_checkpoint(None, checkpoint)
        assert set(checkpoint['rng_state']) == {'torch', 'numpy', 'python'} | ({'cuda'} if used else set())
        assert checkpoint['rng_state'].get('cuda', states) is states


def test_numpy_dict_state_is_restored():
    from mmcrosskd.hooks.random_state import numpy_state
    np.random.seed(5)
    state = np.random.get_state(legacy=False)
    expected = np.random.rand(3)
    state['state']['key'] = torch.from_numpy(state['state']['key'].astype(np.int64))
    np.random.seed(0)
    np.random.set_state(numpy_state(state))
    assert np.array_equal(np.random.rand(3), expected)


class Records(logging.Handler):
    """The messages the runners logged."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))

    def about_the_hook(self):
        return [(level, text) for level, text in self.messages if 'RandomStateHook' in text]


class TestResume(RunnerTestCase):
    """Real mmengine Runners (the toy model of mmengine's RunnerTestCase), iteration-based."""

    def setUp(self):
        super().setUp()
        self.records = Records()

    def _run(self, name, max_iters=4, seed=0, hook=True, load_from=None, resume=False, extra=(), device=None):
        cfg = self.iter_based_cfg.copy()
        cfg.work_dir = osp.join(self.temp_dir.name, name)
        cfg.train_cfg = dict(by_epoch=False, max_iters=max_iters, val_interval=100)
        cfg.default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False))
        cfg.randomness = dict(seed=seed)
        cfg.load_from, cfg.resume = load_from, resume
        runner = self.build_runner(cfg)
        runner.logger.addHandler(self.records)
        draws = Draws()
        for h in [*extra, draws] + ([RandomStateHook()] if hook else []):
            runner.register_hook(h)
        if device is not None:  # after the model is built and placed: only the checkpoint load sees it
            import mmengine.runner.runner as runner_module
            patch = pytest.MonkeyPatch()
            patch.setattr(runner_module, 'get_device', lambda: device)
            try:
                runner.train()
            finally:
                patch.undo()
        else:
            runner.train()
        return runner, draws.draws

    def _straight(self, hook=True):
        runner, draws = self._run('straight', hook=hook)
        return osp.join(runner.work_dir, 'iter_2.pth'), draws

    def test_resume_continues_the_streams(self):
        ckpt, straight = self._straight()
        _, resumed = self._run('resumed', load_from=ckpt, resume=True)
        assert sorted(resumed) == [2, 3]
        assert resumed[2] == straight[2] and resumed[3] == straight[3]
        # the test can fail: without the hook the resumed run draws other numbers
        _, unhooked = self._run('unhooked', hook=False, load_from=ckpt, resume=True)
        assert unhooked[2] != straight[2]

    def test_load_from_keeps_the_new_seed(self):
        ckpt, straight = self._straight()
        _, loaded = self._run('loaded', max_iters=2, seed=1, load_from=ckpt)
        _, fresh = self._run('fresh', max_iters=2, seed=1)
        assert loaded == fresh  # seed 1's own streams, as without any checkpoint
        assert loaded[0] != straight[2]  # not the checkpoint's (seed 0, iteration 2) streams

    def test_gpu_resume_with_a_device_map_location(self):
        """Runner.resume loads with map_location=get_device(); here a callable proxy for a GPU, and the saved
        states arrive as non-CPU tensors (as ``map_location='cuda:0'`` leaves them)."""
        ckpt, straight = self._straight()
        mapped = []

        def to_gpu(storage, location):  # a map_location callable, as torch.load calls it
            mapped.append(location)
            return storage  # a CPU machine cannot hold CUDA storages: MapToDevice stands in for the move

        OnDevice.moves = 0
        _, resumed = self._run('resumed', load_from=ckpt, resume=True, extra=[MapToDevice()], device=to_gpu)
        assert mapped and set(mapped) == {'cpu'}  # the resume's checkpoint went through the proxy
        assert OnDevice.moves == 1  # the torch state was moved back to the CPU
        assert resumed[2] == straight[2] and resumed[3] == straight[3]

    def test_resume_without_saved_states_warns_once(self):
        ckpt, _ = self._straight(hook=False)  # a checkpoint without rng_state
        runner, resumed = self._run('resumed', load_from=ckpt, resume=True)
        said = self.records.about_the_hook()
        assert len(said) == 1 and said[0][0] == logging.WARNING and 'no random generator states' in said[0][1], said
        assert runner.iter == 4 and sorted(resumed) == [2, 3]  # training went on
        # a plain load_from of the same checkpoint: nothing to say
        self.records.messages.clear()
        self._run('loaded', max_iters=2, load_from=ckpt)
        assert any('Load checkpoint from' in text for _, text in self.records.messages)
        assert self.records.about_the_hook() == []
