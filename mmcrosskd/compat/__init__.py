"""Small, tested compatibility shims between the pinned stack and newer torch releases."""
from .checkpoint_globals import register_checkpoint_safe_globals
from .torchvision_guard import ensure_torchvision_ops

__all__ = ['register_checkpoint_safe_globals', 'ensure_torchvision_ops']
