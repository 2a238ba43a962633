"""Checkpoint helpers: safe teacher loading, atomic writes, the bare student's weights."""
import contextlib
import os
import os.path as osp
import pickle
import re
import shutil
import tempfile
from collections import OrderedDict

import torch

_STATE_KEYS = ('state_dict', 'model', 'module')


def _extract_state_dict(obj):
    for key in _STATE_KEYS:
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def _summarise(keys, limit=5):
    keys = sorted(keys)
    more = f' ... and {len(keys) - limit} more' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def load_teacher_checkpoint(model, path, name='teacher', prefix=None, allow_unsafe=False, key_map=None):
    """Load weights into a teacher with ``weights_only=True`` and strict key checking.

    Args:
        model (nn.Module): the teacher.
        path (str): a local checkpoint file (``state_dict``/``model`` sub-dicts are understood).
        name (str): the teacher's name, for messages.
        prefix (str, optional): keep only keys under this prefix and strip it
            (e.g. ``'student.'`` to use a distilled student as a teacher).
        allow_unsafe (bool): load with ``weights_only=False``. Only for checkpoints you trust:
            unpickling can run arbitrary code.
        key_map (callable, optional): renames the file's keys to the model's (see
            :mod:`mmcrosskd.utils.teacher_weights`), applied after ``prefix``.

    Returns:
        dict: the loaded state dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'teacher {name!r}: checkpoint not found: {path!r}')
    obj = read_checkpoint_file(path, name, allow_unsafe)
    return fit_teacher_state(model, obj, path, name, prefix, key_map)


def read_checkpoint_file(path, name='teacher', allow_unsafe=False):
    """``torch.load`` a local file on the CPU, weights-only unless ``allow_unsafe``, with clear errors.

    Args:
        path (str): an existing file.
        name (str): the teacher's name, for messages.
        allow_unsafe (bool): load with ``weights_only=False``.

    Returns:
        object: what the file holds.
    """
    try:
        return torch.load(path, map_location='cpu', weights_only=not allow_unsafe)
    except pickle.UnpicklingError as exc:
        if 'Unsupported global' not in str(exc):  # not a refusal: the file is damaged
            raise RuntimeError(f'teacher {name!r}: cannot read checkpoint {path!r} (damaged or not a '
                               f'torch checkpoint): {str(exc).splitlines()[-1][:300]}') from exc
        glob = re.search(r'GLOBAL (\S+)', str(exc))
        raise RuntimeError(
            f'teacher {name!r}: {path!r} holds objects that are not plain weights, so it was refused '
            f'(loaded with weights_only=True). If you trust this file, set `allow_unsafe_checkpoint=True` '
            f'on the teacher. It needs: {glob.group(1) if glob else "an unsupported global"}') from exc
    except Exception as exc:
        raise RuntimeError(f'teacher {name!r}: cannot read checkpoint {path!r}: {exc}') from exc


def fit_teacher_state(model, obj, source, name='teacher', prefix=None, key_map=None):
    """Load a checkpoint's state dict into a teacher, strictly: every key and shape must match.

    Args:
        model (nn.Module): the teacher.
        obj (dict): a loaded checkpoint (``state_dict``/``model`` sub-dicts are understood).
        source (str): where it came from, for messages.
        name (str): the teacher's name, for messages.
        prefix (str, optional): keep only keys under this prefix and strip it.
        key_map (callable, optional): ``state_dict -> state_dict`` renaming, applied after ``prefix``.

    Returns:
        dict: the loaded state dict.
    """
    state = _extract_state_dict(obj)
    if not isinstance(state, dict):
        raise RuntimeError(f'teacher {name!r}: {source!r} holds no state dict')
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in state.items())
    if prefix:
        state = OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
    if key_map is not None:
        state = key_map(state)
    own = model.state_dict()
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    shape_bad = [k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shape_bad:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing keys ({_summarise(missing)})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected keys ({_summarise(unexpected)})')
        if shape_bad:
            parts.append('shape mismatch: ' + _summarise(
                [f'{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}' for k in shape_bad]))
        raise RuntimeError(
            f'teacher {name!r}: checkpoint {source!r} does not fit the teacher model: '
            + '; '.join(parts) + '. Check that the teacher config matches the checkpoint '
            '(or set `prefix=` to select a sub-model' + _key_map_hint(state, key_map) + ').')
    model.load_state_dict(state, strict=True)
    return state


def _key_map_hint(state, key_map):
    """Suggest ``key_map=`` when the keys look like a torchvision or timm classifier's."""
    if key_map is not None:
        return ''
    keys = set(state)
    if {'fc.weight', 'conv1.weight'} <= keys or 'classifier.1.weight' in keys or 'conv_proj.weight' in keys:
        return ", or `key_map='torchvision'` for a torchvision checkpoint"
    if 'patch_embed.proj.weight' in keys:
        return ", or `key_map='timm'` for a timm checkpoint"
    return ''


@contextlib.contextmanager
def _replaced_whole(path):
    """Yield a temporary name in ``path``'s folder; on success rename it over ``path``, on any failure remove
    it, so ``path`` is either its earlier file or the complete new one."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.pth', dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj, path):
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    A crash while saving leaves any earlier file at ``path`` intact.
    """
    with _replaced_whole(path) as tmp, open(tmp, 'wb') as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def atomic_link_or_copy(src, dst):
    """Make ``dst`` the same file as ``src``: a hard link, or a copy where links are not supported.

    Any earlier ``dst`` is replaced only once the new one is complete.

    Args:
        src (str): an existing file.
        dst (str): the second name.
    """
    with _replaced_whole(dst) as tmp:
        os.remove(tmp)  # os.link needs a free name
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def student_state_dict(state_dict, prefix='student.'):
    """Keep the student's entries of a distiller state dict, with the prefix removed."""
    out = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    if not out:
        raise KeyError(f'no `{prefix}` keys in this state dict: is it a CrossTaskDistiller checkpoint?')
    return out
