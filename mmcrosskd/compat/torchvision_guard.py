"""Let PyPI's torchvision import beside a CPU-only torch build.

PyPI's torchvision wheels are linked against the CUDA build of torch. Beside the CPU build its
C++ library (``torchvision/_C.so``) cannot load, so the ``torchvision::nms`` and ``torchvision::qnms``
operators are never defined, and ``import torchvision`` then fails while registering fake kernels
for them ("operator torchvision::nms does not exist").

:func:`ensure_torchvision_ops` defines just those two operator schemas *only when* the library cannot
load. torchvision's Python side (transforms, datasets, ``box_iou``...) then imports and works;
its compiled ops stay unavailable (mmcv's compiled ops cover nms/roi_align for OpenMMLab).
When the library loads (a matched torch/torchvision pair), nothing is changed.

It must run before anything imports torchvision. ``import mmcrosskd`` runs it, and
``tools/install.sh`` adds a one-line ``.pth`` file to the project's virtual environment that calls
:func:`install_import_hook`, so that plain entry points (``python -c 'import mmpretrain'``, mim,
pytest) work too. The hook costs nothing at start-up: it imports torch only when torchvision is
first imported. This file must import only the standard library at module level.
"""
import importlib.util
import os
import sys

# Schemas as torchvision declares them (torchvision/csrc/ops/nms.cpp, quantized/cpu/qnms_kernel.cpp).
_SCHEMAS = {
    'nms': 'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
    'qnms': 'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
}
_LIBRARY = None  # keeps the torch.library.Library alive: dropping it would undefine the ops


def _torchvision_dir():
    spec = importlib.util.find_spec('torchvision')
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def ensure_torchvision_ops():
    """Define ``torchvision::nms``/``qnms`` if torchvision's C++ library cannot provide them.

    Returns:
        list[str]: the operator names that were defined here (empty when nothing was needed).
    """
    global _LIBRARY
    if 'torchvision' in sys.modules or _LIBRARY is not None:
        return []
    tv_dir = _torchvision_dir()
    if tv_dir is None:
        return []
    import torch
    lib_path = os.path.join(tv_dir, '_C.so')
    if os.path.exists(lib_path):
        try:
            torch.ops.load_library(lib_path)
            return []  # the real ops are there
        except OSError:
            pass
    missing = [name for name in _SCHEMAS if not _op_exists(torch, name)]
    if not missing:
        return []
    _LIBRARY = torch.library.Library('torchvision', 'DEF')
    for name in missing:
        _LIBRARY.define(_SCHEMAS[name])
    return missing


def _op_exists(torch, name):
    try:
        torch._C._get_schema(f'torchvision::{name}', '')
        return True
    except RuntimeError:
        return False


class _ImportHook:
    """Meta-path finder that runs :func:`ensure_torchvision_ops` once, just before torchvision loads."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == 'torchvision':
            uninstall_import_hook()
            try:
                ensure_torchvision_ops()
            except Exception as exc:  # never break an unrelated import
                print(f'[mmcrosskd] torchvision guard skipped: {exc}', file=sys.stderr)
        return None  # let the normal finders load it


def install_import_hook():
    """Arrange for :func:`ensure_torchvision_ops` to run right before torchvision is imported."""
    if 'torchvision' in sys.modules:
        return
    if not any(isinstance(f, _ImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportHook())


def uninstall_import_hook():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ImportHook)]


PTH_NAME = 'mmcrosskd-torchvision-guard.pth'
MODULE_NAME = '_mmcrosskd_torchvision_guard'


def pth_line():
    """The single line of the ``.pth`` file.

    It loads this file by path (so the package itself is not imported at start-up) under a fixed
    module name kept in ``sys.modules``: the ``torch.library.Library`` it may create must stay
    referenced, and a site folder listed twice (``lib`` and ``lib64``) must not load it twice.
    """
    here = os.path.abspath(__file__)
    return (f"import sys, importlib.util as _u; _n = {MODULE_NAME!r}; "
            f"_s = _u.spec_from_file_location(_n, {here!r}); "
            "_m = sys.modules.get(_n) or _u.module_from_spec(_s); sys.modules[_n] = _m; "
            "_m.__dict__.get('install_import_hook') or _s.loader.exec_module(_m); "
            "_m.install_import_hook()\n")


def write_pth(site_packages):
    """Write the ``.pth`` file into ``site_packages`` (used by ``tools/install.sh``).

    Args:
        site_packages (str): the site-packages folder of the target environment.

    Returns:
        str: path of the written file.
    """
    path = os.path.join(site_packages, PTH_NAME)
    with open(path, 'w') as f:
        f.write(pth_line())
    return path
