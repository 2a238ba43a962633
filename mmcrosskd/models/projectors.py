"""Projectors between student and teacher feature spaces, and the spatial alignment of the two.

Layouts: a feature ``map`` is (B, C, H, W); ``tokens`` are (B, N, C); a ``vector`` (B, C) is treated
as tokens with N = 1. A projector is a linear map on the channel dimension: a 1x1 convolution for
maps, a linear layer for tokens. Directions:

* ``'inverted'`` (the paper's): teacher -> student space, ``loss(student, P(teacher))``;
* ``'traditional'``: student -> teacher space, ``loss(P(student), teacher)``;
* ``'identity'``: no projector (channel counts must agree).
"""
import torch.nn as nn
import torch.nn.functional as F

DIRECTIONS = ('inverted', 'traditional', 'identity')


def feature_layout(x):
    """``'map'`` for (B, C, H, W), ``'tokens'`` for (B, N, C) or (B, C)."""
    if x.dim() == 4:
        return 'map'
    if x.dim() in (2, 3):
        return 'tokens'
    raise ValueError(f'unsupported feature shape {tuple(x.shape)}: expected (B, C, H, W), (B, N, C) or (B, C)')


def channels(x):
    return x.shape[1] if x.dim() == 4 else x.shape[-1]


class FeatureProjector(nn.Module):
    """A learned linear map on the channel dimension.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        layout (str): ``'map'`` (1x1 conv) or ``'tokens'`` (linear).
        bias (bool): add a bias. Default False, so that the projector is a pure linear map and the
            knowledge-transfer / spectral-regularisation decomposition of the L2 loss is exact.
        norm (str, optional): ``'bn'`` (BatchNorm after the map; maps only) or ``'ln'``
            (LayerNorm over channels). Default None.
        init (str): ``'default'`` (PyTorch's kaiming-uniform), ``'xavier'``, ``'orthogonal'``
            or ``'kaiming'`` (kaiming-normal, fan-in). Default ``'default'``.
        rank (int, optional): limit the map to rank ``rank``: ``W = B A`` with ``A`` (rank x in) and
            ``B`` (out x rank), two bias-free linear layers. With an inverted projector of rank below the
            student's channels the spectral-regularisation half of the L2 loss,
            ``||Z_s (I - V V^T)||^2``, is no longer identically zero. Default None (full rank).
    """

    def __init__(self, in_channels, out_channels, layout='map', bias=False, norm=None, init='default',
                 rank=None):
        super().__init__()
        if layout not in ('map', 'tokens'):
            raise ValueError(f"layout must be 'map' or 'tokens', got {layout!r}")
        self.layout = layout
        if rank is not None and not (isinstance(rank, int) and 0 < rank):
            raise ValueError(f'projector rank must be a positive integer, got {rank!r}')
        self.rank = rank
        layer = (lambda i, o, b: nn.Conv2d(i, o, 1, bias=b)) if layout == 'map' else nn.Linear
        # `reduce` (rank x in) then `proj` (out x rank): the product is the rank-limited map.
        self.reduce = None if rank is None else layer(in_channels, rank, False)
        self.proj = layer(in_channels if rank is None else rank, out_channels, bias)
        if norm is None:
            self.norm = None
        elif norm == 'bn':
            if layout != 'map':
                raise ValueError("norm='bn' is for feature maps; use norm='ln' for tokens")
            self.norm = nn.BatchNorm2d(out_channels)
        elif norm == 'ln':
            self.norm = nn.LayerNorm(out_channels)
        else:
            raise ValueError(f"norm must be None, 'bn' or 'ln', got {norm!r}")
        self._init(init)

    def _init(self, init):
        if init not in ('default', 'xavier', 'orthogonal', 'kaiming'):
            raise ValueError(f"init must be 'default', 'xavier', 'orthogonal' or 'kaiming', got {init!r}")
        if init == 'default':
            return
        for layer in (self.reduce, self.proj):
            if layer is None:
                continue
            w = layer.weight
            if init == 'xavier':
                nn.init.xavier_uniform_(w)
            elif init == 'orthogonal':
                nn.init.orthogonal_(w.view(w.shape[0], -1))
            else:
                nn.init.kaiming_normal_(w, mode='fan_in', nonlinearity='linear')
        if self.proj.bias is not None:
            nn.init.zeros_(self.proj.bias)

    @property
    def matrix(self):
        """The linear map as an (out_channels, in_channels) matrix: ``y = W x`` per position."""
        w = self.proj.weight.reshape(self.proj.weight.shape[0], -1)
        if self.reduce is not None:
            w = w @ self.reduce.weight.reshape(self.reduce.weight.shape[0], -1)
        return w

    def forward(self, x):
        if self.reduce is not None:
            x = self.reduce(x)
        x = self.proj(x)
        if self.norm is None:
            return x
        if isinstance(self.norm, nn.LayerNorm) and self.layout == 'map':
            return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.norm(x)


def align_to_student(teacher_feat, student_feat, mode='interpolate'):
    """Bring the teacher's feature to the student's spatial size / token count.

    Maps: resized with bilinear interpolation (``mode='interpolate'``, the default: it keeps the
    teacher's spatial detail and works both ways), or area-pooled (``mode='pool'``, only when the
    teacher's map is an integer multiple larger; falls back to interpolation otherwise).
    Tokens: counts must agree; ``mode='pool'`` averages both sides' tokens instead.
    A 1x1 projector commutes with either resize, so resizing before projecting is exact.

    Returns:
        tuple[Tensor, Tensor]: (teacher, student) features of matching layout and size.
    """
    if teacher_feat.dim() == 4:
        size = student_feat.shape[-2:]
        if teacher_feat.shape[-2:] == size:
            return teacher_feat, student_feat
        th, tw = teacher_feat.shape[-2:]
        if mode == 'pool' and th % size[0] == 0 and tw % size[1] == 0:
            return F.adaptive_avg_pool2d(teacher_feat, size), student_feat
        return F.interpolate(teacher_feat, size=size, mode='bilinear', align_corners=False), student_feat
    if teacher_feat.dim() == 3 and student_feat.dim() == 3 and teacher_feat.shape[1] != student_feat.shape[1]:
        if mode == 'pool':
            return teacher_feat.mean(1, keepdim=True), student_feat.mean(1, keepdim=True)
        n_t, n_s = teacher_feat.shape[1], student_feat.shape[1]
        raise ValueError(f'token counts differ (teacher {n_t}, student {n_s}); '
                         "set align='pool' to compare mean tokens")
    if teacher_feat.dim() != student_feat.dim():
        # (B, C) against (B, N, C): compare with the mean token.
        if teacher_feat.dim() == 3:
            teacher_feat = teacher_feat.mean(1)
        else:
            student_feat = student_feat.mean(1)
    return teacher_feat, student_feat


def build_projector(direction, student_feat, teacher_feat, names=('student', 'teacher'), **kwargs):
    """Build the projector for one distillation entry from example features (the dry run).

    Args:
        direction (str): ``'inverted'``, ``'traditional'`` or ``'identity'``.
        student_feat (Tensor): an example student feature.
        teacher_feat (Tensor): an example teacher feature.
        names (tuple[str, str]): the two taps, for messages.
        **kwargs: options of :class:`FeatureProjector` (bias, norm, init, rank).

    Returns:
        nn.Module | None: the projector (None for identity).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f'projector direction must be one of {DIRECTIONS}, got {direction!r}')
    s_layout, t_layout = feature_layout(student_feat), feature_layout(teacher_feat)
    s_desc = f'{names[0]} {tuple(student_feat.shape)} ({s_layout})'
    t_desc = f'{names[1]} {tuple(teacher_feat.shape)} ({t_layout})'
    if s_layout != t_layout:
        raise ValueError(
            f'cannot project between a feature map and tokens: {s_desc} vs {t_desc}. Tap a layer with '
            "the same layout on both sides (for mmpretrain ViTs, out_type='featmap' gives maps).")
    c_s, c_t = channels(student_feat), channels(teacher_feat)
    if direction == 'identity':
        if c_s != c_t:
            raise ValueError(f"projector='identity' needs equal channels: {s_desc} vs {t_desc}; "
                             "use 'inverted' or 'traditional'")
        return None
    if direction == 'inverted':
        return FeatureProjector(c_t, c_s, layout=s_layout, **kwargs)
    return FeatureProjector(c_s, c_t, layout=s_layout, **kwargs)

