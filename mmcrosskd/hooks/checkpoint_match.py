"""Check a loaded checkpoint against the config's model before mmengine copies it in.

mmengine loads ``load_from`` / ``tools/test.py`` checkpoints with ``strict=False``: a checkpoint of another
kind of model loads nothing and only logs missing/unexpected keys, so a test reports the metric of a random
model and a training starts from scratch. This hook runs in ``after_load_checkpoint``, which mmengine calls
after reading the file and before loading it into the model (for ``load_from``, ``tools/test.py`` and
``--resume`` alike), and

* maps the two kinds of checkpoint mmcrosskd writes: a ``CrossTaskDistiller`` checkpoint given to a plain
  student config loads its ``student.`` weights; a bare student (``student_last.pth``, or any checkpoint of
  the student model) given to a distillation config loads into the distiller's student;
* stops, naming the problem and the fix, when the weights still do not fit (``strict=True``: any model
  weight missing or of another shape; otherwise: no weight at all fits);
* on ``--resume``, stops with one message listing the distill entries added, removed, renamed or resized
  since the checkpoint (mmengine would raise a raw optimizer error, or silently re-initialise a renamed
  entry's projector).
"""
import logging

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ..registry import HOOKS
from ..utils.checkpoint import _summarise
from ..utils.distiller_state import (entry_items, is_distiller_state, is_entry_key, strip_wrapper,
                                     student_into_distiller, student_state_dict)


def _entry_signatures(shapes):
    """``{entry name: ((key suffix, shape), ...)}`` of the entries' weights."""
    return {name: tuple(sorted((rest, tuple(shape)) for rest, shape in items.items()))
            for name, items in entry_items(shapes).items()}


def describe_entry_changes(checkpoint_shapes, model_shapes):
    """The differences between the distill entries of a checkpoint and of a model, in words.

    Entries are compared by their weights (``entries.<name>.*``): an entry that holds no weights (a
    teacher-free loss, an identity projector) does not affect resuming and is not listed.

    Args:
        checkpoint_shapes (dict): ``{key: shape}`` of the checkpoint's state dict.
        model_shapes (dict): ``{key: shape}`` of the model's state dict.

    Returns:
        list[str]: one phrase per change (empty when the entries agree).
    """
    old, new = _entry_signatures(checkpoint_shapes), _entry_signatures(model_shapes)
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    changes = []
    for name in list(removed):  # a removed entry whose weights reappear under a new name: renamed
        twin = next((a for a in added if new[a] == old[name]), None)
        if twin is not None:
            changes.append(f'renamed {name!r} -> {twin!r}')
            removed.remove(name)
            added.remove(twin)
    changes += [f'added {name!r}' for name in added]
    changes += [f'removed {name!r}' for name in removed]
    for name in sorted(set(old) & set(new)):
        if old[name] != new[name]:
            was = ', '.join(f'{k} {s}' for k, s in old[name])
            now = ', '.join(f'{k} {s}' for k, s in new[name])
            changes.append(f'changed {name!r} ({was} -> {now})')
    return changes


@HOOKS.register_module()
class CheckpointMatchHook(Hook):
    """Make a loaded checkpoint fit the config's model, or stop with a message (see the module docstring).

    ``tools/train.py`` and ``tools/test.py`` add it to every run; other entry points can list it in
    ``custom_hooks``.

    Args:
        strict (bool): stop when any weight of the model is missing from the checkpoint or has another
            shape (``tools/test.py``: a metric of a partly loaded model is wrong). With False (training's
            ``load_from``, where fine-tuning with a new head is legitimate), stop only when no weight fits
            and log the rest. Projector weights of a distiller never count as missing (a bare student
            has none; predictions do not use them). Default False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict=False):
        self.strict = strict

    def after_load_checkpoint(self, runner, checkpoint):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        holder = checkpoint if isinstance(checkpoint.get('state_dict'), dict) else None
        state = holder['state_dict'] if holder is not None else checkpoint
        resuming = bool(getattr(runner, '_resume', False))
        source = getattr(runner, '_load_from', None) or runner.cfg.get('load_from') or 'the checkpoint'
        mapped, note = self._map_kind(model, state, resuming, source)
        if mapped is not state:
            if holder is not None:
                holder['state_dict'] = mapped
            else:
                checkpoint.clear()
                checkpoint.update(mapped)
            runner.logger.info(note)
        own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        theirs = {strip_wrapper(k): tuple(v.shape) for k, v in mapped.items() if hasattr(v, 'shape')}
        if resuming and hasattr(model, 'entries'):
            changes = describe_entry_changes(theirs, own)
            if changes:
                raise RuntimeError(
                    f'--resume: the distill entries changed since {source!r} was saved: ' + '; '.join(changes)
                    + '. A resumed run continues the saved optimizer state, which belongs to the old entries. '
                    'Either undo the change to resume, or start a new run from these weights with '
                    f'load_from={source!r} (no --resume): the student and the unchanged entries are loaded '
                    'and the new ones start fresh.')
        self._check_fit(model, own, theirs, source)

    @staticmethod
    def _map_kind(model, state, resuming, source):
        """The state dict in the model's naming, and a note for the log (the same dict if nothing to do)."""
        ckpt_is_distiller = is_distiller_state(state)
        model_is_distiller = hasattr(model, 'student') and hasattr(model, 'entries')
        if ckpt_is_distiller and not model_is_distiller:
            if resuming:
                raise RuntimeError(
                    f'--resume: {source!r} is a distillation (CrossTaskDistiller) checkpoint but the config '
                    'trains a plain model: resume with the distillation config, or start the plain model from '
                    f'the distilled student with load_from={source!r} (no --resume)')
            out = student_state_dict(state)
            return out, (f'{source!r} is a CrossTaskDistiller checkpoint: loading its student '
                         f'({len(out)} tensors) into the plain model')
        if model_is_distiller and not ckpt_is_distiller:
            if resuming:
                raise RuntimeError(
                    f'--resume: {source!r} holds no distiller state (no `student.` weights: a bare student '
                    'or a plain model checkpoint), so there is no distillation to continue. Start the '
                    f'distillation from it with load_from={source!r} (no --resume)')
            out = student_into_distiller(state)
            return out, (f'{source!r} is a plain (bare student) checkpoint: loading it into the distiller\'s '
                         'student; the projectors keep their fresh initialisation')
        return state, ''

    def _check_fit(self, model, own, theirs, source):
        distiller = hasattr(model, 'entries')
        missing = [k for k in own if k not in theirs and not (distiller and is_entry_key(k))]
        unexpected = [k for k in theirs if k not in own]
        reshaped = [f'{k} {theirs[k]} vs model {own[k]}' for k in own if k in theirs and theirs[k] != own[k]]
        loaded = len([k for k in own if k in theirs and theirs[k] == own[k]])
        if not (missing or unexpected or reshaped):
            return
        parts = []
        if missing:
            parts.append(f'{len(missing)} of the model\'s {len(own)} weights are not in it ({_summarise(missing)})')
        if reshaped:
            parts.append(f'{len(reshaped)} have another shape ({_summarise(reshaped)})')
        if unexpected:
            parts.append(f'{len(unexpected)} of its weights are not in the model ({_summarise(unexpected)})')
        detail = '; '.join(parts)
        if loaded == 0 or (self.strict and (missing or reshaped)):
            why = ('nothing of it would be loaded' if loaded == 0 else
                   'the model would be evaluated with part of its weights left at random initialisation')
            raise RuntimeError(
                f'checkpoint {source!r} does not fit the config\'s model: {detail}; {why}. Give the config '
                'the checkpoint was trained with (the student\'s config for a bare student or a distiller '
                'checkpoint, the distillation config for a distiller checkpoint).')
        print_log(f'checkpoint {source!r} loads only partly: {detail}', logger='current', level=logging.WARNING)
