"""Refuse, at ``import mmcrosskd``, a stack we have not tested, with one error that says what to change.

The supported ranges are the ones CI runs (``docs/install.md``, "Supported stacks"): the OpenMMLab reference
stack (torch 2.1.2, numpy 1.26, mmcv 2.1.0) is the lower end, the main stack (torch 2.13, numpy 2) the upper.
Versions are read from the installed distributions' metadata, so nothing heavy is imported to check them,
and a broken combination (numpy 2 under a torch built against numpy 1) is refused before it can crash
somewhere deep inside a training run. Standard library only.

``MMCROSSKD_SKIP_STACK_CHECK=1`` turns the check off, for those who know their stack works.
"""
import glob
import importlib.metadata as metadata
import importlib.util
import os
import re

# (distribution, lowest supported version): the reference stack.
MINIMUM = (('torch', (2, 1)), ('numpy', (1, 26)), ('mmengine', (0, 10)), ('mmcv', (2, 1)))
# torch wheels are built against numpy 2 from torch 2.3 on; older ones crash on numpy 2 arrays.
NUMPY2_MIN_TORCH = (2, 3)
SUPPORTED = ('torch >= 2.1 (tested: 2.1.2 and 2.13.0), numpy >= 1.26 (numpy 2 only with torch >= 2.3), '
             'mmengine >= 0.10, mmcv >= 2.1 with its compiled ops (mmcv 2.1.0 for mmsegmentation 1.2.2)')


class UnsupportedStackError(ImportError):
    """The installed torch / numpy / mmengine / mmcv fall outside the tested ranges."""


def parse_version(text):
    """``'2.1.2+cu121'`` -> ``(2, 1, 2)``; ``'2.0.0rc4'`` -> ``(2, 0, 0)`` (the leading numeric release)."""
    m = re.match(r'\s*(\d+(?:\.\d+)*)', text or '')
    return tuple(int(p) for p in m.group(1).split('.')) if m else ()


def _installed(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def mmcv_has_ops():
    """Whether the importable ``mmcv`` package carries its compiled extension (``mmcv/_ext*.so``).

    Returns:
        bool | None: None when no ``mmcv`` is importable.
    """
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        return None
    return any(glob.glob(os.path.join(d, '_ext*')) for d in spec.submodule_search_locations)


def problems(versions, mmcv_ops):
    """What is wrong with a stack.

    Args:
        versions (dict): distribution name -> installed version string (None when not installed).
        mmcv_ops (bool | None): whether mmcv's compiled ops are present (None: no mmcv).

    Returns:
        list[str]: one sentence per problem (empty for a supported stack).
    """
    found = []
    for dist, low in MINIMUM:
        have = versions.get(dist)
        if have is not None and parse_version(have)[:len(low)] < low:
            found.append(f'{dist} {have} is older than {".".join(map(str, low))}')
    numpy, torch = versions.get('numpy'), versions.get('torch')
    if numpy and torch and parse_version(numpy)[:1] >= (2,) and parse_version(torch)[:2] < NUMPY2_MIN_TORCH:
        found.append(f'numpy {numpy} beside torch {torch}: torch before 2.3 is built against numpy 1 '
                     '(install numpy<2, e.g. numpy==1.26.4)')
    if mmcv_ops is False:
        lite = ' (mmcv-lite)' if versions.get('mmcv-lite') else ''
        found.append(f'mmcv {versions.get("mmcv") or versions.get("mmcv-lite")}{lite} has no compiled ops '
                     '(mmcv._ext), which mmsegmentation imports: install the full mmcv '
                     '(`MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0`)')
    return found


def check_stack(env=None):
    """Raise :class:`UnsupportedStackError` if the installed stack is outside the supported ranges.

    Args:
        env (dict, optional): the environment (default ``os.environ``); ``MMCROSSKD_SKIP_STACK_CHECK=1``
            skips the check.
    """
    env = os.environ if env is None else env
    if env.get('MMCROSSKD_SKIP_STACK_CHECK', '') not in ('', '0'):
        return
    versions = {d: _installed(d) for d in ('torch', 'numpy', 'mmengine', 'mmcv', 'mmcv-lite')}
    found = problems(versions, mmcv_has_ops())
    if found:
        installed = ', '.join(f'{d} {v}' for d, v in versions.items() if v)
        raise UnsupportedStackError(
            'mmcrosskd does not support this stack: ' + '; '.join(found) + f'.\nInstalled: {installed}.\n'
            f'Supported: {SUPPORTED}. See docs/install.md ("Supported stacks"); '
            'MMCROSSKD_SKIP_STACK_CHECK=1 skips this check at your own risk.')
