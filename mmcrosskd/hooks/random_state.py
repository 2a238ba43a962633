"""Save the random generators' state in checkpoints and restore it on ``--resume``, for exact resumption."""
import logging
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ..registry import HOOKS


def cpu_byte_tensor(state):
    """A generator state as torch's ``set_rng_state`` functions take it: a CPU ``uint8`` tensor.

    mmengine's ``Runner.resume`` loads the checkpoint with ``map_location`` set to the current device, so
    on a GPU the saved state arrives as a CUDA tensor, which torch refuses ("RNG state must be a
    torch.ByteTensor"); a converted checkpoint may hold it as a list or an array of another dtype.

    Args:
        state (torch.Tensor | numpy.ndarray | list): a saved ``torch.get_rng_state()``-like state.

    Returns:
        torch.Tensor: a contiguous CPU ``uint8`` tensor.
    """
    if not isinstance(state, torch.Tensor):
        state = torch.as_tensor(np.asarray(state))
    return state.to(device='cpu', dtype=torch.uint8).contiguous()


def _plain(value):
    """Numbers and arrays of a numpy state out of whatever container a loader gave (tensors, lists)."""
    if isinstance(value, torch.Tensor):
        value = value.to('cpu').numpy()
    return value


def numpy_state(state):
    """``np.random.get_state()`` as saved (a tuple, a list, or numpy's dict form), for ``set_state``."""
    if isinstance(state, dict):  # np.random.get_state(legacy=False)
        state = dict(state)
        inner = dict(state['state'])
        inner['key'] = np.asarray(_plain(inner['key']), dtype=np.uint32)
        state['state'] = inner
        return state
    name, key, pos, has_gauss, cached = state
    return (str(name), np.asarray(_plain(key), dtype=np.uint32), int(_plain(pos)), int(_plain(has_gauss)),
            float(_plain(cached)))


def python_state(state):
    """``random.getstate()`` as saved (tuples may come back as lists), for ``random.setstate``."""
    version, internal, gauss = state
    return int(version), tuple(int(v) for v in internal), gauss


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Make ``--resume`` continue the random streams (dropout, drop-path, random projector init of
    later entries...) where the interrupted run left them.

    mmengine re-seeds at start but does not checkpoint the generators, so a resumed run draws
    different dropout masks than an uninterrupted one. This hook stores the torch (CPU and CUDA),
    numpy and Python generator states in each checkpoint and restores them just before the first
    resumed training iteration - after the loop has skipped the already-seen batches, which would
    otherwise consume random numbers twice. Resumption is then exact for pipelines whose data
    loading draws no random numbers in the main process after the skip (e.g. ``num_workers=0``
    without random augmentations, or augmentations in workers seeded by mmengine).

    Only a resumed run is restored. A plain ``load_from`` (fine-tuning from a checkpoint) keeps the new
    run's own seed. mmengine calls ``after_load_checkpoint`` for both, so the hook tells them apart
    when training starts: ``Runner.resume`` has then set the loop to the checkpoint's epoch and iteration,
    while a loaded run starts at 0. (This also covers a direct ``runner.resume(path)`` call, which the
    runner's private ``_resume`` flag would miss.) A resumed checkpoint without saved states (written
    without this hook, or by another tool) gives one warning and training goes on from the seed.
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._loaded = None  # (rng_state or None, (epoch, iter)) of the last loaded checkpoint
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint):
        state = dict(torch=torch.get_rng_state(), numpy=np.random.get_state(), python=random.getstate())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint):
        meta = checkpoint.get('meta') or {}
        self._loaded = (checkpoint.get('rng_state'), (meta.get('epoch'), meta.get('iter')))

    def before_train(self, runner):
        if self._loaded is None:
            return
        (state, position), self._loaded = self._loaded, None
        if position != (runner.epoch, runner.iter) or position == (0, 0):
            return  # load_from: the checkpoint's weights only, the new run's seed stands
        if state is None:
            print_log('RandomStateHook: the resumed checkpoint holds no random generator states (it was written '
                      'without RandomStateHook or by another tool); training goes on with the generators seeded '
                      'afresh, so it will not repeat the interrupted run exactly', logger='current',
                      level=logging.WARNING)
            return
        self._pending = state

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        torch.set_rng_state(cpu_byte_tensor(state['torch']))
        np.random.set_state(numpy_state(state['numpy']))
        random.setstate(python_state(state['python']))
        if state.get('cuda') is not None and torch.cuda.is_available():
            # one state per device of the saving machine; a machine with fewer devices restores those it has
            saved = [cpu_byte_tensor(s) for s in state['cuda']][:torch.cuda.device_count()]
            torch.cuda.set_rng_state_all(saved)
