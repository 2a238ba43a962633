"""The layout of a ``CrossTaskDistiller`` state dict, owned here and nowhere else.

A distiller's weights are ``student.<student key>`` (the wrapped model) and ``entries.<entry name>.<key>``
(the projectors, and the buffers of losses that have some). Teachers are never saved. A *bare student* is
the student's own state dict (what ``ExportStudentHook`` writes), loadable by plain mmseg / mmpretrain.
The distiller, ``CheckpointMatchHook``, ``ExportStudentHook``, ``tools/export_student.py`` and the
projector analysis read and write checkpoints through these functions only.
"""
from collections import OrderedDict

STUDENT_PREFIX = 'student.'
ENTRIES_PREFIX = 'entries.'
_WRAPPER_PREFIX = 'module.'  # a DDP wrapper's state dict


def strip_wrapper(key):
    """``key`` without a leading ``module.`` (DDP)."""
    return key[len(_WRAPPER_PREFIX):] if key.startswith(_WRAPPER_PREFIX) else key


def is_distiller_state(keys):
    """Whether these state-dict keys are a distiller's (they hold ``student.`` weights)."""
    return any(strip_wrapper(k).startswith(STUDENT_PREFIX) for k in keys)


def is_entry_key(key):
    """Whether a (wrapper-free) key belongs to a distill entry (a projector or a loss buffer)."""
    return key.startswith(ENTRIES_PREFIX)


def student_state_dict(state_dict, prefix=STUDENT_PREFIX):
    """The student's weights of a distiller state dict, with the prefix removed (a bare student).

    Args:
        state_dict (dict): a distiller state dict (``module.`` prefixes are ignored).
        prefix (str): the student's prefix. Default ``'student.'``.

    Returns:
        OrderedDict: the bare student's state dict.
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        key = strip_wrapper(key)
        if key.startswith(prefix):
            out[key[len(prefix):]] = value
    if not out:
        raise KeyError(f'no `{prefix}` keys in this state dict: is it a CrossTaskDistiller checkpoint?')
    return out


def student_into_distiller(state_dict):
    """A bare student's state dict laid out as a distiller's (``student.`` added; no entries).

    Args:
        state_dict (dict): a bare student's state dict (``module.`` prefixes are dropped).

    Returns:
        OrderedDict: the same tensors under ``student.<key>``.
    """
    return OrderedDict((STUDENT_PREFIX + strip_wrapper(k), v) for k, v in state_dict.items())


def move_bare_student_in_place(state_dict, prefix, student_keys):
    """For ``load_state_dict`` pre-hooks: if ``state_dict`` (under ``prefix``) is a bare student's, move its
    keys under ``<prefix>student.`` in place. A distiller's state dict, or one that shares no key with the
    student, is left alone.

    Args:
        state_dict (dict): the state dict being loaded, changed in place.
        prefix (str): the distiller's prefix in it (``''`` at top level).
        student_keys (Iterable[str]): the student's own state-dict keys.
    """
    if any(k.startswith(prefix + STUDENT_PREFIX) for k in state_dict):
        return
    own = set(student_keys)
    if not any(k.startswith(prefix) and k[len(prefix):] in own for k in state_dict):
        return
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(prefix + ENTRIES_PREFIX)]:
        state_dict[prefix + STUDENT_PREFIX + key[len(prefix):]] = state_dict.pop(key)


def entry_items(state_dict):
    """``{entry name: {key inside the entry: value}}`` of the ``entries.<name>.*`` items.

    Args:
        state_dict (dict): a distiller state dict, or ``{key: shape}`` (``module.`` prefixes are ignored).

    Returns:
        dict: per entry, its items.
    """
    out = {}
    for key, value in state_dict.items():
        key = strip_wrapper(key)
        if is_entry_key(key):
            name, _, rest = key[len(ENTRIES_PREFIX):].partition('.')
            out.setdefault(name, {})[rest] = value
    return out


def projector_weights(state_dict):
    """``{entry name: {'proj': weight, 'reduce': weight}}`` of each entry's projector (``reduce`` only for a
    rank-limited one), as saved by a distiller."""
    out = {}
    for name, items in entry_items(state_dict).items():
        for layer in ('proj', 'reduce'):
            key = f'projector.{layer}.weight'
            if key in items:
                out.setdefault(name, {})[layer] = items[key]
    return out


def bare_student_checkpoint(checkpoint):
    """The bare-student checkpoint of a distiller checkpoint: ``{'meta': ..., 'state_dict': ...}``, the meta
    marked ``exported_by='mmcrosskd'``.

    Args:
        checkpoint (dict): a checkpoint dict with a ``state_dict`` (or a bare state dict).

    Returns:
        dict: what to save.
    """
    state = checkpoint.get('state_dict', checkpoint)
    meta = dict(checkpoint.get('meta', {}) or {})
    meta['exported_by'] = 'mmcrosskd'
    return {'meta': meta, 'state_dict': student_state_dict(state)}
