"""mmcrosskd: cross-task knowledge distillation with an inverted projector for OpenMMLab.

Importing the package first checks that the installed torch / numpy / mmengine / mmcv are in the tested
ranges (``mmcrosskd.compat.stack_check``), then registers its models, losses and hooks into mmengine's registries, allow-lists
mmengine's checkpoint contents for ``torch.load(weights_only=True)``, and, when needed, lets PyPI's
torchvision import beside a CPU torch (see ``mmcrosskd.compat``).
"""
from .compat.stack_check import check_stack

check_stack()  # one clear error for an untested stack, before anything can fail deep inside it

from .compat import ensure_torchvision_ops, register_checkpoint_safe_globals  # noqa: E402

ensure_torchvision_ops()
register_checkpoint_safe_globals()

from .utils.config import register_config_scope  # noqa: E402

register_config_scope()  # `_base_ = 'mmcrosskd::quickstart/...'` in configs loaded after this import

from . import datasets, hooks, losses, models, optim  # noqa: E402,F401  (registers everything)
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'datasets', 'models', 'losses', 'hooks']
