"""Stop a diverged training before it writes a checkpoint of the broken step."""
import math

import torch
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS
from ..utils.checkpoint import _summarise, nonfinite_entries
from ..utils.workdir import last_written_checkpoint


def _last_good(runner):
    """The newest checkpoint completely written so far, for messages."""
    last = last_written_checkpoint(runner.work_dir)
    return f'the last checkpoint written, {last!r}, is intact' if last else 'no checkpoint was written yet'


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Stop training with a clear error when the loss or the weights become NaN/Inf, before any checkpoint
    of that step is written.

    With a too-large ``loss_weight`` the loss of a step can still be finite while the update it makes
    overflows the weights; without this hook, that step's checkpoint, the bare student exported beside it
    and ``last_checkpoint`` would all hold Inf weights, and ``--resume`` would pick them up. The hook runs
    first (``VERY_HIGH`` priority; ``CheckpointHook`` is ``VERY_LOW``):

    * after every training step: the total loss must be finite (a free check on the logged value);
    * after a step (or epoch) at which ``CheckpointHook`` will save - before it deletes an old checkpoint
      for ``max_keep_ckpts``: every weight and buffer of the model must be finite;
    * in ``before_save_checkpoint``, for any other save (best checkpoints...): the saved weights must be
      finite.

    ``tools/train.py`` adds it to every training; other entry points can list it in ``custom_hooks``.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if outputs:
            values = {}
            for key, value in outputs.items():
                if torch.is_tensor(value) and value.numel() == 1:
                    values[key] = float(value.detach())
                elif isinstance(value, (int, float)):
                    values[key] = float(value)
            bad = [k for k, v in values.items() if 'loss' in k and not math.isfinite(v)]
            if bad:
                terms = ', '.join(f'{k}={values[k]}' for k in values)
                raise FloatingPointError(
                    f'training diverged: non-finite loss at iteration {runner.iter + 1} ({terms}); '
                    f'{_last_good(runner)} and no checkpoint of this step was written. Lower the learning '
                    "rate or the distillation loss_weight, or normalise the features (normalize='l2').")
        checkpoint_hook = self._checkpoint_hook(runner)
        if checkpoint_hook is not None and not checkpoint_hook.by_epoch and (
                checkpoint_hook.every_n_train_iters(runner, checkpoint_hook.interval, checkpoint_hook.save_begin)
                or (checkpoint_hook.save_last and checkpoint_hook.is_last_train_iter(runner))):
            self._check_model(runner, f'iteration {runner.iter + 1}')

    def after_train_epoch(self, runner):
        checkpoint_hook = self._checkpoint_hook(runner)
        if checkpoint_hook is not None and checkpoint_hook.by_epoch and (
                checkpoint_hook.every_n_epochs(runner, checkpoint_hook.interval, checkpoint_hook.save_begin)
                or (checkpoint_hook.save_last and checkpoint_hook.is_last_train_epoch(runner))):
            self._check_model(runner, f'epoch {runner.epoch + 1}')

    def before_save_checkpoint(self, runner, checkpoint):
        bad = nonfinite_entries(checkpoint.get('state_dict', {}))
        if bad:
            raise FloatingPointError(self._message(bad, f'the checkpoint of iteration {runner.iter + 1}', runner))

    @staticmethod
    def _checkpoint_hook(runner):
        return next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)

    def _check_model(self, runner, when):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        bad = nonfinite_entries(model.state_dict())
        if bad:
            raise FloatingPointError(self._message(bad, when, runner))

    @staticmethod
    def _message(bad, when, runner):
        return (f'training diverged: {len(bad)} weights are NaN/Inf at {when} ({_summarise(bad)}), so the '
                f'checkpoint of this step was not written; {_last_good(runner)}. Lower the learning rate or '
                "the distillation loss_weight, or normalise the features (normalize='l2'); then resume from "
                'the last checkpoint (--resume) or start again.')
