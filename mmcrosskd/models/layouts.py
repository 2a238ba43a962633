"""Which axis of a tapped tensor holds the channels: the layout of a feature.

The distiller works on three layouts: a ``map`` (B, C, H, W), ``tokens`` (B, N, C) and a ``vector``
(B, C). A fourth arrives from some models and is converted to tokens as soon as it is tapped:
channel-first tokens ``bcn`` (B, C, N), e.g. the last output of mmpretrain's MLP-Mixer and
EfficientFormer.

A 4-D or 2-D tensor has one reading. A 3-D one has two, (B, N, C) and (B, C, N), and the shape does not
always tell them apart; it is decided, in this order, by

1. the tap's ``layout``: ``dict(tap='backbone[-1]', layout='bcn')``;
2. the model: the tapped module's ``feature_layout`` attribute (set it on your own modules), a known
   channel-first backbone (:data:`CHANNEL_FIRST`), a module that acts on the last axis (``nn.Linear``,
   ``nn.LayerNorm``), or a module inside a ViT (:data:`TOKEN_FIRST`);
3. the shape, only where it leaves one reading: tokens (B, N, C) whose N lays out on a patch grid of the
   image (with 0-2 class tokens) while C does not; or neither does (no spatial reading either way: tokens).
   Where C would lay out as positions (B, C, N), an error asks for ``layout``.
"""
import torch.nn as nn

from .projectors import token_grid

# The names a tap's `layout` takes, and their aliases.
LAYOUTS = dict(map='map', bchw='map', tokens='tokens', bnc='tokens', bcn='bcn', vector='vector', bc='vector')
_RANK = dict(map=4, tokens=3, bcn=3, vector=2)
# mmpretrain backbones whose 3-D outputs are channel-first: MLP-Mixer transposes its tokens to (B, C, N),
# EfficientFormer's last (attention) stage returns (B, C, N).
CHANNEL_FIRST = ('MlpMixer', 'EfficientFormer')
# Classes (or their bases) whose 3-D outputs, and those of every module inside them, are (B, N, C).
TOKEN_FIRST = ('VisionTransformer', 'TransformerEncoderLayer')


def checked_layout(layout, where='tap'):
    """The canonical name of a tap's ``layout`` (None stays None), or a ``ValueError`` listing the names."""
    if layout is None:
        return None
    if layout not in LAYOUTS:
        raise ValueError(f'{where}: unknown layout {layout!r}; use one of {sorted(LAYOUTS)} '
                         "(map = (B, C, H, W), tokens/bnc = (B, N, C), bcn = (B, C, N), vector = (B, C))")
    return LAYOUTS[layout]


def _class_names(module):
    return {c.__name__ for c in type(module).__mro__}


def declared_layout(module):
    """The layout of ``module``'s 3-D outputs as the module itself declares it (its ``feature_layout``
    attribute) or its class is known to give (:data:`CHANNEL_FIRST`), else None."""
    declared = getattr(module, 'feature_layout', None)
    if declared is not None:
        return checked_layout(declared, f'{type(module).__name__}.feature_layout')
    return 'bcn' if _class_names(module) & set(CHANNEL_FIRST) else None


def model_layout(model, path):
    """The layout of a 3-D output of ``model``'s module at ``path`` as the model declares it, or None.

    Args:
        model (nn.Module): the tapped model.
        path (str): the module path (``named_modules``).

    Returns:
        str | None: ``'bcn'``, ``'tokens'`` or None (the model does not say).
    """
    modules = dict(model.named_modules())
    module = modules.get(path)
    if module is None:
        return None
    declared = declared_layout(module)
    if declared is not None:
        return declared
    names = _class_names(module)
    if isinstance(module, (nn.Linear, nn.LayerNorm)) or names & set(TOKEN_FIRST):
        return 'tokens'
    # a module inside a ViT (a block, an MLP): its 3-D tensors are tokens
    parts = path.split('.')
    for i in range(len(parts) - 1, 0, -1):
        parent = modules.get('.'.join(parts[:i]))
        if parent is not None and _class_names(parent) & set(TOKEN_FIRST):
            return 'tokens'
    return None


def resolve_layout(feat, declared, model_says, image_size, what):
    """The layout of one tapped tensor, decided once at build time.

    Args:
        feat (Tensor): the tapped tensor.
        declared (str | None): the tap's ``layout`` (canonical name).
        model_says (str | None): :func:`model_layout`'s answer.
        image_size (tuple[int, int] | None): (H, W) of the images of the forward, for the shape rule.
        what (str): the tap, for messages.

    Returns:
        str: ``'map'``, ``'tokens'``, ``'bcn'`` or ``'vector'``.
    """
    rank = feat.dim()
    shape = tuple(feat.shape)
    if declared is not None:
        if _RANK[declared] != rank:
            raise ValueError(f'{what}: layout={declared!r} is for {_RANK[declared]}-d tensors, but the tap gives '
                             f'{shape} ({rank}-d)')
        return declared
    if rank == 4:
        return 'map'
    if rank == 2:
        return 'vector'
    if rank != 3:
        return f'{rank}-d'  # not a feature layout; a loss that takes it says so
    if model_says is not None:
        return model_says
    aspect = image_size if image_size is not None else (1, 1)
    rows_fit = _fits(token_grid(shape[1], aspect), image_size)
    cols_fit = _fits(token_grid(shape[2], aspect), image_size, class_tokens=False)
    if rows_fit is not None and cols_fit is None:
        return 'tokens'
    if rows_fit is None and cols_fit is None:
        return 'tokens'  # no patch grid either way: compared as tokens with tokens (or pooled)
    raise ValueError(
        f'{what} gives {shape}: 3-d, and its shape fits both readings, tokens (B, N={shape[1]}, C={shape[2]}) '
        f'and channel-first tokens (B, C={shape[1]}, N={shape[2]}), on images of {aspect[0]}x{aspect[1]}. '
        f"Say which on the tap: dict(tap=..., layout='tokens') or dict(tap=..., layout='bcn')")


def _fits(grid, image_size, class_tokens=True):
    """``grid`` (from :func:`token_grid`) if it is a patch grid of images of ``image_size``: no larger than the
    image, and (channel-first tokens) without class tokens; else None."""
    if grid is None or (not class_tokens and grid[0]):
        return None
    if image_size is not None and (grid[1] > image_size[0] or grid[2] > image_size[1]):
        return None
    return grid


def to_canonical(feat, layout):
    """``feat`` in the distiller's layouts: channel-first tokens (B, C, N) become tokens (B, N, C)."""
    return feat.transpose(1, 2) if layout == 'bcn' else feat
