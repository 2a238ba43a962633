"""Where mmcrosskd registers its modules.

We register into mmengine's root registries. mmseg's and mmpretrain's registries are children of
them, so our types are found from any default scope (``mmseg``, ``mmpretrain`` or none), without a
scope prefix in the config.
"""
from mmengine.registry import HOOKS, MODELS, OPTIM_WRAPPERS

__all__ = ['MODELS', 'HOOKS', 'OPTIM_WRAPPERS']
