"""Work-dir safety for ``tools/train.py``: one training per work dir, and a sound checkpoint to resume."""
import contextlib
import glob
import json
import logging
import os
import os.path as osp
import re
import socket
import time

from mmengine.logging import print_log

from .checkpoint import _pid_alive, nonfinite_entries, read_checkpoint

LOCK_NAME = '.training.lock'


class WorkDirBusyError(RuntimeError):
    """Another live training holds the work dir."""


def _read_lock(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def work_dir_lock(work_dir, description=''):
    """Hold ``<work_dir>/.training.lock`` (this process's id, host, start time) while the block runs.

    A second training into the same work dir stops with a message naming the first one. A lock left by a
    process that no longer runs (killed, machine rebooted) is taken over with a note. The lock is removed
    when the block ends, also on errors.

    Args:
        work_dir (str): the Runner's work dir (created if missing).
        description (str): what holds the lock (e.g. the command line), shown to a second training.

    Yields:
        str: the lock file's path.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    mine = dict(pid=os.getpid(), host=socket.gethostname(), started=time.strftime('%Y-%m-%d %H:%M:%S'),
                command=description)
    for _ in range(3):  # create exclusively; retry after removing a stale lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            other = _read_lock(path)
            pid, host = other.get('pid'), other.get('host')
            same_host = host in (None, socket.gethostname())
            if isinstance(pid, int) and (not same_host or _pid_alive(pid)):
                where = '' if same_host else f' on host {host!r}'
                raise WorkDirBusyError(
                    f'work dir {work_dir!r} is in use by another training: process {pid}{where}, started '
                    f"{other.get('started', '?')} ({other.get('command') or 'command unknown'}). Two trainings "
                    'in one work dir overwrite each other\'s checkpoints: wait for it to finish, stop it, or '
                    f'give this one another --work-dir. (If that process is gone, delete {path!r}.)')
            print_log(f'work dir {work_dir!r}: taking over the lock left by process {pid} '
                      f"(started {other.get('started', '?')}), which no longer runs", logger='current')
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        with os.fdopen(fd, 'w') as f:
            json.dump(mine, f)
        break
    else:
        raise WorkDirBusyError(f'work dir {work_dir!r}: could not take the lock {path!r}')
    try:
        yield path
    finally:
        if _read_lock(path).get('pid') == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def last_written_checkpoint(work_dir):
    """The checkpoint mmengine last finished writing (its ``last_checkpoint`` record), or None.

    mmengine's message hub names a checkpoint (``last_ckpt``) before writing it; the record file is written
    after the checkpoint is complete.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        return f.read().strip() or None


_STEP = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


def checkpoint_problem(path):
    """Why ``path`` cannot be resumed from (unreadable, damaged, non-finite weights), or None if it can."""
    try:
        ckpt = read_checkpoint(path, 'resume')
    except (OSError, RuntimeError) as exc:
        return str(exc)
    if not isinstance(ckpt, dict) or 'meta' not in ckpt or 'state_dict' not in ckpt:
        return f'{path!r} is not a training checkpoint (no meta/state_dict)'
    bad = nonfinite_entries(ckpt['state_dict'])
    if bad:
        return f'{path!r} holds {len(bad)} NaN/Inf weights (e.g. {bad[0]})'
    return None


def latest_good_checkpoint(work_dir):
    """The checkpoint ``--resume`` should continue from: mmengine's ``last_checkpoint`` if it is sound, else
    the newest sound ``iter_N.pth`` / ``epoch_N.pth`` in ``work_dir``. Damaged ones are skipped with a note.

    Args:
        work_dir (str): the work dir of the interrupted training.

    Returns:
        str | None: a checkpoint path, or None when the work dir holds none (then the training starts from
        the beginning, as the caller tells the user).
    """
    candidates = []
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            last = f.read().strip()
        if last:
            candidates.append(last if osp.isabs(last) or osp.exists(last) else osp.join(work_dir, osp.basename(last)))
    numbered = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = _STEP.match(osp.basename(path))
        if m:
            numbered.append((int(m.group(2)), path))
    candidates += [p for _, p in sorted(numbered, reverse=True) if p not in candidates]
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        print_log(f'--resume: skipping {path!r}: {problem}', logger='current', level=logging.WARNING)
    return None
