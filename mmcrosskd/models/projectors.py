"""Projectors between student and teacher feature spaces, and the spatial alignment of the two.

Layouts: a feature ``map`` is (B, C, H, W); ``tokens`` are (B, N, C); a ``vector`` (B, C) is treated
as tokens with N = 1 (channel-first tokens (B, C, N) are made tokens when tapped, see
:mod:`mmcrosskd.models.layouts`). A projector is a linear map on the channel dimension: a 1x1
convolution for maps, a linear layer for tokens and vectors; it works in the layout the two sides are
compared in. A teacher of the other layout is brought to the student's first (:func:`align_to_student`):
a map is laid out as tokens on the student's patch grid, or patch tokens as a map, so a ViT and a CNN
pair either way; a vector (a pooled classifier's output) against a map or tokens is repeated over the
other side's positions (``vector='broadcast'``, the default) or compared with the other side's mean over
positions (``vector='pool'``). Directions:

* ``'inverted'`` (the paper's): teacher -> student space, ``loss(student, P(teacher))``;
* ``'traditional'``: student -> teacher space, ``loss(P(student), teacher)``;
* ``'identity'``: no projector (channel counts must agree).
"""
import torch.nn as nn
import torch.nn.functional as F

DIRECTIONS = ('inverted', 'traditional', 'identity')
# which feature a projector of each direction maps; 'identity' has no projector
_MAPPED_SIDE = {'inverted': 'teacher', 'traditional': 'student'}
# How a vector (B, C) meets a map or tokens: the other side pooled to a vector, or the vector repeated over
# the other side's positions. 'broadcast' trained a little better on the quick start (one seed, within the
# seed-to-seed spread: docs/teachers.md), so it is the default.
VECTOR_MODES = ('pool', 'broadcast')
DEFAULT_VECTOR = 'broadcast'


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
        direction (str): which side it maps: ``'inverted'`` (teacher -> student, the default) or
            ``'traditional'`` (student -> teacher); see :meth:`pair`.
    """

    def __init__(self, in_channels, out_channels, layout='map', bias=False, norm=None, init='default',
                 rank=None, direction='inverted'):
        super().__init__()
        if direction not in _MAPPED_SIDE:
            raise ValueError(f'a projector maps one side: direction must be one of {tuple(_MAPPED_SIDE)}, '
                             f'got {direction!r}')
        self.direction = direction
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

    @property
    def maps_teacher(self):
        """True for an inverted projector (teacher -> student space), False for a traditional one."""
        return _MAPPED_SIDE[self.direction] == 'teacher'

    def pair(self, student_feat, teacher_feat):
        """The two sides the loss compares: ``(student, P(teacher))`` for an inverted projector,
        ``(P(student), teacher)`` for a traditional one.

        Returns:
            tuple[Tensor, Tensor]: (student side, teacher side).
        """
        if self.maps_teacher:
            return student_feat, self(teacher_feat)
        return self(student_feat), teacher_feat

    def exact_l2_split(self, loss):
        """Whether ``loss(student, P(teacher))`` splits exactly into knowledge transfer + spectral
        regularisation (:func:`mmcrosskd.analysis.decomposition.kd_decomposition`): an inverted, purely linear
        projector (no bias, no norm) and a loss that declares the split (``FeatureL2Loss`` on raw or
        per-position L2-normalised features: ``loss.splits_kt_sr``).

        Args:
            loss (nn.Module): the entry's loss.

        Returns:
            bool
        """
        linear = self.proj.bias is None and self.norm is None
        return self.maps_teacher and linear and bool(getattr(loss, 'splits_kt_sr', False))

    def forward(self, x):
        if self.reduce is not None:
            x = self.reduce(x)
        x = self.proj(x)
        if self.norm is None:
            return x
        if isinstance(self.norm, nn.LayerNorm) and self.layout == 'map':
            return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.norm(x)


def token_grid(num_tokens, aspect):
    """Lay ``num_tokens`` out as leading class tokens plus a patch grid with the aspect of a map.

    ViTs put 0, 1 (class) or 2 (class, distillation) tokens before the patch tokens, row-major on an
    h x w grid. The grid is the one whose h : w equals ``aspect`` (the other side's map: the image's
    aspect), with the fewest leading tokens.

    Args:
        num_tokens (int): N of a (B, N, C) feature.
        aspect (tuple[int, int]): (H, W) of the map on the other side.

    Returns:
        tuple[int, int, int] | None: (leading tokens, h, w), or None when no grid fits.
    """
    height, width = aspect
    for extra in (0, 1, 2):
        n = num_tokens - extra
        if n <= 0:
            break
        w = round((n * width / height) ** 0.5)
        if w > 0 and n % w == 0 and (n // w) * width == w * height:
            return extra, n // w, w
    return None


def _grid_or_raise(tokens, aspect, side):
    grid = token_grid(tokens.shape[1], aspect)
    if grid is None:
        raise ValueError(f'cannot lay the {side} tokens {tuple(tokens.shape)} out on a patch grid with the '
                         f'aspect {aspect[0]}:{aspect[1]} of the other side\'s map (tried 0-2 leading class '
                         'tokens); tap a map on both sides, or tokens on both sides (if the tensor is '
                         "channel-first, (B, C, N), say so on its tap: dict(tap=..., layout='bcn'))")
    return grid


def _resize_map(x, size, mode):
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == 'pool' and x.shape[-2] % size[0] == 0 and x.shape[-1] % size[1] == 0:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


def _broadcast(vector, like):
    """A (B, C) vector repeated over the positions of ``like`` (a map or tokens)."""
    if like.dim() == 4:
        return vector[:, :, None, None].expand(-1, -1, *like.shape[-2:])
    return vector[:, None, :].expand(-1, like.shape[1], -1)


def align_to_student(teacher_feat, student_feat, mode='interpolate', vector=DEFAULT_VECTOR):
    """Bring the teacher's feature to the student's layout, spatial size and token count.

    Maps: resized with bilinear interpolation (``mode='interpolate'``, the default: it keeps the
    teacher's spatial detail and works both ways), or area-pooled (``mode='pool'``, only when the
    teacher's map is an integer multiple larger; falls back to interpolation otherwise).
    Tokens: counts must agree; ``mode='pool'`` averages both sides' tokens instead.
    A map against tokens: the tokens' patch grid is found with :func:`token_grid`; a teacher map is
    resized to it and flattened row-major (the student's class tokens are left out of the comparison),
    teacher patch tokens are folded into a map and resized to the student's.
    A vector (B, C) against a map or tokens, either side: ``vector='broadcast'`` (default) repeats it over
    the other side's positions (both become that side's layout; the loss then averages over positions);
    ``vector='pool'`` compares it with the other side's mean over positions (both become vectors).
    A 1x1 projector commutes with each of these, so aligning before projecting is exact.

    Returns:
        tuple[Tensor, Tensor]: (teacher, student) features of matching layout and size.
    """
    t_dim, s_dim = teacher_feat.dim(), student_feat.dim()
    if t_dim == 4 and s_dim == 4:
        return _resize_map(teacher_feat, student_feat.shape[-2:], mode), student_feat
    if t_dim == 4 and s_dim == 3:
        extra, h, w = _grid_or_raise(student_feat, teacher_feat.shape[-2:], 'student')
        teacher_feat = _resize_map(teacher_feat, (h, w), mode).flatten(2).transpose(1, 2)
        return teacher_feat, student_feat[:, extra:]
    if t_dim == 3 and s_dim == 4:
        extra, h, w = _grid_or_raise(teacher_feat, student_feat.shape[-2:], 'teacher')
        b, _, c = teacher_feat.shape
        teacher_feat = teacher_feat[:, extra:].transpose(1, 2).reshape(b, c, h, w)
        return _resize_map(teacher_feat, student_feat.shape[-2:], mode), student_feat
    if t_dim == 3 and s_dim == 3 and teacher_feat.shape[1] != student_feat.shape[1]:
        if mode == 'pool':
            return teacher_feat.mean(1, keepdim=True), student_feat.mean(1, keepdim=True)
        n_t, n_s = teacher_feat.shape[1], student_feat.shape[1]
        raise ValueError(f'token counts differ (teacher {n_t}, student {n_s}); '
                         "set align='pool' to compare mean tokens")
    if vector not in VECTOR_MODES:
        raise ValueError(f'vector must be one of {VECTOR_MODES}, got {vector!r}')
    # (B, C) against a map or tokens
    if t_dim == 2 and s_dim > 2:
        if vector == 'broadcast':
            return _broadcast(teacher_feat, student_feat), student_feat
        student_feat = student_feat.flatten(2).mean(2) if s_dim == 4 else student_feat.mean(1)
    elif s_dim == 2 and t_dim > 2:
        if vector == 'broadcast':
            return teacher_feat, _broadcast(student_feat, teacher_feat)
        teacher_feat = teacher_feat.flatten(2).mean(2) if t_dim == 4 else teacher_feat.mean(1)
    return teacher_feat, student_feat


def build_projector(direction, student_feat, teacher_feat, names=('student', 'teacher'), vector=DEFAULT_VECTOR,
                    **kwargs):
    """Build the projector for one distillation entry from example features (the dry run).

    Args:
        direction (str): ``'inverted'``, ``'traditional'`` or ``'identity'``.
        student_feat (Tensor): an example student feature.
        teacher_feat (Tensor): an example teacher feature.
        names (tuple[str, str]): the two taps, for messages.
        vector (str): how a vector meets a map or tokens (see :func:`align_to_student`). Default 'broadcast'.
        **kwargs: options of :class:`FeatureProjector` (bias, norm, init, rank).

    Returns:
        nn.Module | None: the projector (None for identity).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f'projector direction must be one of {DIRECTIONS}, got {direction!r}')
    s_layout, t_layout = feature_layout(student_feat), feature_layout(teacher_feat)
    s_desc = f'{names[0]} {tuple(student_feat.shape)} ({s_layout})'
    t_desc = f'{names[1]} {tuple(teacher_feat.shape)} ({t_layout})'
    if s_layout != t_layout and student_feat.dim() > 2 and teacher_feat.dim() > 2:
        try:  # a map against tokens: the alignment lays the teacher out as the student, if a grid fits
            align_to_student(teacher_feat, student_feat)
        except ValueError as exc:
            raise ValueError(
                f'cannot pair a feature map with tokens: {s_desc} vs {t_desc}: {exc} (for mmpretrain ViTs, '
                "model=dict(backbone=dict(out_type='featmap')) gives maps)") from exc
    c_s, c_t = channels(student_feat), channels(teacher_feat)
    if (student_feat.dim() == 2) != (teacher_feat.dim() == 2):
        # a vector against a map or tokens: the projector acts in the layout they are compared in
        s_layout = feature_layout(align_to_student(teacher_feat, student_feat, vector=vector)[1])
    if direction == 'identity':
        if c_s != c_t:
            raise ValueError(f"projector='identity' needs equal channels: {s_desc} vs {t_desc}; "
                             "use 'inverted' or 'traditional'")
        return None
    c_in, c_out = (c_t, c_s) if _MAPPED_SIDE[direction] == 'teacher' else (c_s, c_t)
    return FeatureProjector(c_in, c_out, layout=s_layout, direction=direction, **kwargs)

