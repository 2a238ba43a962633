"""How many image channels a model takes (for the build-time dry run and the teacher's input)."""
import torch.nn as nn


def input_channels(model, default=3):
    """The number of image channels ``model`` expects.

    Read from its data preprocessor's ``mean`` (one value per channel) when it normalises, else from its
    backbone's ``in_channels``, else from its first convolution.

    Args:
        model (nn.Module): an OpenMMLab model.
        default (int): when nothing tells. Default 3.

    Returns:
        int: the channel count.
    """
    pre = getattr(model, 'data_preprocessor', None)
    mean = getattr(pre, 'mean', None) if getattr(pre, '_enable_normalize', False) else None
    if mean is not None and mean.numel() > 0:
        return int(mean.numel())
    backbone = getattr(model, 'backbone', None)
    if isinstance(getattr(backbone, 'in_channels', None), int):
        return backbone.in_channels
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return first_conv.in_channels if first_conv is not None else default
