"""Save the random generators' state in checkpoints and restore it on resume, for exact resumption."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from ..registry import HOOKS


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
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint):
        state = dict(torch=torch.get_rng_state(), numpy=np.random.get_state(), python=random.getstate())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint):
        self._pending = checkpoint.get('rng_state')

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        torch.set_rng_state(state['torch'])
        np.random.set_state(state['numpy'])
        random.setstate(state['python'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['cuda'])
