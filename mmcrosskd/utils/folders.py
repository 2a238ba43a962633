"""Replace a folder whole: build the new content beside it, then swap, so no run mixes with another."""
import contextlib
import glob
import os
import os.path as osp
import re
import shutil
import tempfile

from .checkpoint import _pid_alive, _plain_file_mode

_TMP_DIR = re.compile(r'^\.(tmp|old)-(?P<pid>\d+)-')


def remove_stale_folders(parent):
    """Remove ``.tmp-<pid>-*`` / ``.old-<pid>-*`` folders that a killed process left in ``parent``."""
    for path in glob.glob(osp.join(parent, '.tmp-*')) + glob.glob(osp.join(parent, '.old-*')):
        m = _TMP_DIR.match(osp.basename(path))
        if m and osp.isdir(path) and int(m.group('pid')) != os.getpid() and not _pid_alive(int(m.group('pid'))):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def folder_replaced_whole(path):
    """Yield an empty temporary folder beside ``path``; when the block succeeds it becomes ``path`` and any
    earlier ``path`` is removed entirely; when it fails it is removed and ``path`` stays as it was.

    Files of an earlier, larger run can thus never mix with a new one.

    Args:
        path (str): the folder to (re)create.

    Yields:
        str: the temporary folder to write into.
    """
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    remove_stale_folders(parent)
    name = osp.basename(osp.abspath(path))
    tmp = tempfile.mkdtemp(prefix=f'.tmp-{os.getpid()}-{name}-', dir=parent)
    os.chmod(tmp, _plain_file_mode() | 0o111)  # mkdtemp makes 0700 folders
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if osp.lexists(path):
        old = tempfile.mkdtemp(prefix=f'.old-{os.getpid()}-{name}-', dir=parent)
        os.rmdir(old)
        os.rename(path, old)
    os.rename(tmp, path)
    if old is None:
        return
    if osp.isdir(old) and not osp.islink(old):
        shutil.rmtree(old)
    else:  # a link or a file stood there: remove the name only
        os.remove(old)
