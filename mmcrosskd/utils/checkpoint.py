"""Checkpoint helpers: one reader with clear messages for damaged files, safe teacher loading, atomic
writes. The layout of a distiller's state dict is :mod:`mmcrosskd.utils.distiller_state`'s."""
import contextlib
import errno
import glob
import json
import os
import os.path as osp
import pickle
import re
import shutil
import tempfile
import zipfile
from collections import OrderedDict

import torch

from ..compat.checkpoint_globals import safe_load
from .distiller_state import strip_wrapper

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


def _leading_bytes(path, n=16):
    with open(path, 'rb') as f:
        return f.read(n)


def check_checkpoint_file(path, what='checkpoint'):
    """Refuse, with a message naming the problem and the fix, a path that cannot be a torch checkpoint.

    Cheap (reads the first bytes and, for torch's zip format, the archive's directory): a missing path,
    a directory, an empty file, a text or other non-torch file, a truncated zip archive.

    Args:
        path (str): the checkpoint path.
        what (str): who asks, for messages (``"teacher 'cls'"``, ``'tools/test.py'``).

    Returns:
        str: ``path``.
    """
    if osp.isdir(path):
        inside = sorted(glob.glob(osp.join(path, '*.pth')))[-3:]
        hint = (f': give a file inside it, e.g. {inside[-1]!r}' if inside
                else ' (it holds no .pth file): give the checkpoint file itself')
        raise IsADirectoryError(f'{what}: {path!r} is a directory, not a checkpoint file{hint}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what}: checkpoint not found: {path!r}')
    size = osp.getsize(path)
    if size == 0:
        raise RuntimeError(f'{what}: checkpoint {path!r} is empty (0 bytes): it was never written completely '
                           '(a save killed or stopped by a full disk); use an earlier checkpoint')
    head = _leading_bytes(path)
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path):
                pass
        except (zipfile.BadZipFile, OSError) as exc:
            raise RuntimeError(f'{what}: checkpoint {path!r} is damaged ({size} bytes; {exc}): most likely '
                               'cut short by a killed save or a full disk; use an earlier checkpoint') from exc
    elif not head.startswith(b'\x80'):  # neither torch's zip format nor a legacy pickle
        shown = head.decode('utf-8', 'replace').strip()[:16]
        kind = 'a text file' if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head) else 'not torch data'
        raise RuntimeError(f'{what}: {path!r} is not a torch checkpoint ({kind}, starting {shown!r}): '
                           'give the .pth file written by training (or by tools/export_student.py)')
    return path


def read_checkpoint(path, what='checkpoint', weights_only=True, unsafe_hint=None):
    """``torch.load`` on the CPU after :func:`check_checkpoint_file`, with messages for every failure.

    Args:
        path (str): the checkpoint path.
        what (str): who asks, for messages.
        weights_only (bool): refuse pickled code (torch's safe loading). Default True.
        unsafe_hint (str, optional): how to allow unsafe loading, told when ``weights_only`` refuses.

    Returns:
        object: what the file holds (usually a dict with ``state_dict``).
    """
    check_checkpoint_file(path, what)
    try:
        if weights_only:  # also on torch < 2.4, which has no allow-list for mmengine's contents
            return safe_load(path, map_location='cpu')
        return torch.load(path, map_location='cpu', weights_only=False)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if 'Unsupported global' not in text:  # not a refusal: the file is damaged
            raise RuntimeError(f'{what}: cannot read checkpoint {path!r} (damaged or not a torch checkpoint): '
                               f'{_first_line(text)}') from exc
        glob_name = re.search(r'GLOBAL (\S+)', text)
        how = f'If you trust this file, {unsafe_hint}. ' if unsafe_hint else ''
        raise RuntimeError(
            f'{what}: {path!r} holds objects that are not plain weights, so it was refused (loaded with '
            f'weights_only=True). {how}It needs: {glob_name.group(1) if glob_name else "an unsupported global"}'
        ) from exc
    except Exception as exc:
        raise RuntimeError(f'{what}: cannot read checkpoint {path!r} (damaged: {_first_line(str(exc))}); '
                           'use an earlier checkpoint') from exc


def _first_line(text):
    """The informative line of a torch error (its first non-empty one), shortened."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return (lines[0] if lines else type(text).__name__)[:300]


def nonfinite_entries(state_dict):
    """The names of the floating-point tensors of ``state_dict`` that hold NaN or Inf."""
    return [k for k, v in state_dict.items()
            if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


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
    return fit_teacher_state(model, read_checkpoint_file(path, name, allow_unsafe), path, name, prefix, key_map)


def read_checkpoint_file(path, name='teacher', allow_unsafe=False):
    """:func:`read_checkpoint` for a teacher's (or a converted) weights file.

    Args:
        path (str): the file.
        name (str): the teacher's name, for messages.
        allow_unsafe (bool): load with ``weights_only=False``.

    Returns:
        object: what the file holds.
    """
    return read_checkpoint(path, f'teacher {name!r}', weights_only=not allow_unsafe,
                           unsafe_hint='set `allow_unsafe_checkpoint=True` on the teacher')


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
    state = OrderedDict((strip_wrapper(k), v) for k, v in state.items())
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
    bad = nonfinite_entries(state)
    if bad:
        raise RuntimeError(
            f'teacher {name!r}: checkpoint {source!r} holds NaN/Inf values in {len(bad)} tensor(s) '
            f'({_summarise(bad)}): a teacher with non-finite weights gives non-finite features. It was saved '
            'from a diverged training (or is damaged): use an earlier checkpoint of the teacher')
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


_TMP_PREFIX = '.tmp-'
_TMP_NAME = re.compile(r'^\.tmp-(?P<pid>\d+)-[^/]*\.pth$')


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder):
    """Remove ``.tmp-<pid>-*.pth`` files that a killed process left in ``folder`` (its pid is gone).

    Returns:
        list[str]: the removed paths.
    """
    removed = []
    for path in glob.glob(osp.join(folder, _TMP_PREFIX + '*.pth')):
        m = _TMP_NAME.match(osp.basename(path))
        if m and int(m.group('pid')) != os.getpid() and not _pid_alive(int(m.group('pid'))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
                removed.append(path)
    return removed


def _plain_file_mode():
    """The mode ``open(path, 'w')`` gives a new file (0o666 less the umask), as mmengine's checkpoints get."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _replaced_whole(path):
    """Yield a temporary name in ``path``'s folder; on success rename it over ``path``, on any failure remove
    it, so ``path`` is either its earlier file or the complete new one.

    The temporary name holds this process's id, so that temporaries of killed processes are recognised
    and removed by the next write into the folder.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(folder)
    fd, tmp = tempfile.mkstemp(prefix=f'{_TMP_PREFIX}{os.getpid()}-', suffix='.pth', dir=folder)
    os.close(fd)
    try:
        yield tmp
        if osp.exists(tmp):
            os.chmod(tmp, _plain_file_mode())  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException as exc:
        if osp.exists(tmp):
            os.remove(tmp)
        if _is_disk_full(exc):
            free = shutil.disk_usage(folder).free
            raise OSError(errno.ENOSPC, f'cannot write {path!r}: no space left on the disk of {folder!r} '
                          f'({free / 2**20:.1f} MiB free). The partial file was removed and any earlier '
                          f'{osp.basename(path)!r} is intact: free some space or write elsewhere') from exc
        raise


def _is_disk_full(exc):
    """torch reports a full disk as ``OSError(ENOSPC)`` or as a ``RuntimeError`` of its zip writer."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ('file write failed' in text or 'No space left' in text)


def atomic_torch_save(obj, path):
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    A crash while saving leaves any earlier file at ``path`` intact; a full disk is reported as such.
    The file gets the mode of any newly created file (like mmengine's checkpoints).
    """
    with _replaced_whole(path) as tmp, open(tmp, 'wb') as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_json(obj, path, **dump_kwargs):
    """``json.dump`` to ``path`` whole or not at all (a crash leaves any earlier file intact), for the small
    records that tools read back later (a sweep's ``result.json``, the projector spectra of a run)."""
    with _replaced_whole(path) as tmp, open(tmp, 'w') as f:
        json.dump(obj, f, **dump_kwargs)


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
