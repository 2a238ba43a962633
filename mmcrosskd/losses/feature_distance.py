"""Feature distances for distillation: L2, L1, smooth L1, cosine and the log-Lp distance.

Each loss takes ``(student, target)`` of the same shape, where ``target`` is the projected teacher
feature (inverted projector) or the teacher feature (traditional projector / identity), and returns
``loss_weight * distance``. Features may be maps (B, C, H, W) or tokens (B, N, C) / (B, C); the
channel dimension is 1 for maps and the last one otherwise.

Optional feature normalisation, applied to both sides before the distance:

* ``None``: raw features;
* ``'l2'``: each position's channel vector scaled to unit L2 norm;
* ``'bn'``: each channel standardised over batch and positions (BatchNorm without affine and
  without running statistics).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import MODELS
from .weight import check_loss_weight

NORMALIZATIONS = (None, 'l2', 'bn')


def channel_dim(x):
    return 1 if x.dim() == 4 else x.dim() - 1


def normalize_features(x, mode, eps=1e-6):
    """Normalise a feature as described in the module docstring."""
    if mode is None:
        return x
    dim = channel_dim(x)
    if mode == 'l2':
        return F.normalize(x, p=2, dim=dim, eps=eps)
    if mode == 'bn':
        reduce = [d for d in range(x.dim()) if d != dim]
        if x.numel() // x.shape[dim] < 2:
            raise ValueError(f"normalize='bn' standardises each channel over the batch and the positions, but "
                             f'this feature {tuple(x.shape)} has one value per channel (batch 1, one position), '
                             "so it would be a constant 0 and the loss would teach nothing: use normalize='l2', "
                             'or a batch size > 1')
        var, mean = torch.var_mean(x, dim=reduce, keepdim=True, unbiased=False)
        return (x - mean) * torch.rsqrt(var + eps)
    raise ValueError(f'normalize must be one of {NORMALIZATIONS}, got {mode!r}')


class FeatureDistance(nn.Module):
    """Base class: normalise, then ``loss_weight * distance(student, target)``.

    Args:
        loss_weight (float): multiplier of the loss. Default 1.0.
        normalize (str, optional): None, ``'l2'`` or ``'bn'`` (see module docstring). Default None.
        norm_eps (float): the epsilon of the normalisation. Default 1e-6.
    """

    def __init__(self, loss_weight=1.0, normalize=None, norm_eps=1e-6):
        super().__init__()
        if normalize not in NORMALIZATIONS:
            raise ValueError(f'normalize must be one of {NORMALIZATIONS}, got {normalize!r}')
        self.loss_weight = check_loss_weight(loss_weight, type(self).__name__)
        self.normalize = normalize
        self.norm_eps = norm_eps

    def distance(self, student, target):
        raise NotImplementedError

    def forward(self, student, target):
        """Args:
            student (Tensor): the student-side feature.
            target (Tensor): the teacher-side feature, same shape.

        Returns:
            Tensor: the weighted scalar loss.
        """
        if student.shape != target.shape:
            raise ValueError(f'{type(self).__name__}: shapes differ: student {tuple(student.shape)} '
                             f'vs target {tuple(target.shape)}')
        student = normalize_features(student, self.normalize, self.norm_eps)
        target = normalize_features(target, self.normalize, self.norm_eps)
        return self.loss_weight * self.distance(student, target)


@MODELS.register_module()
class FeatureL2Loss(FeatureDistance):
    """Mean squared error over all elements: ``mean((s - t)^2)`` (FitNets-style regression)."""

    @property
    def splits_kt_sr(self):
        """Through a linear inverted projector this loss is exactly knowledge transfer + spectral
        regularisation, on raw or per-position L2-normalised features (not ``'bn'``: per-channel
        statistics move the target out of the projector's row space)."""
        return self.normalize in (None, 'l2')

    def distance(self, student, target):
        return F.mse_loss(student, target)


@MODELS.register_module()
class FeatureL1Loss(FeatureDistance):
    """Mean absolute error over all elements: ``mean(|s - t|)``."""

    def distance(self, student, target):
        return F.l1_loss(student, target)


@MODELS.register_module()
class FeatureSmoothL1Loss(FeatureDistance):
    """Smooth L1 (Huber with threshold ``beta``) over all elements.

    Args:
        beta (float): the threshold between the quadratic and the linear regime. Default 1.0.
        **kwargs: see :class:`FeatureDistance`.
    """

    def __init__(self, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.beta = beta

    def distance(self, student, target):
        return F.smooth_l1_loss(student, target, beta=self.beta)


@MODELS.register_module()
class FeatureCosineLoss(FeatureDistance):
    """``mean(1 - cos(s, t))`` with the cosine taken over channels at each position."""

    def distance(self, student, target):
        return (1 - F.cosine_similarity(student, target, dim=channel_dim(student), eps=1e-8)).mean()


@MODELS.register_module()
class FeatureLogLpLoss(FeatureDistance):
    """``log(sum |s - t|^p)``: the distance of the authors' projector study (Miles et al., 2024,
    ``OurDistillationLoss``), by default on BatchNorm-standardised features (no affine, eps 1e-4).

    Its gradient ``p |s - t|^(p-1) sign(s - t) / sum |s - t|^p`` is homogeneous of degree -1 in the
    difference. Two consequences: scaling *both* features by ``a`` leaves the gradient with respect to the
    unscaled features unchanged (the features' scale does not matter), and with the target fixed, a
    difference ``a`` times smaller pulls ``1/a`` times *harder* (an L2 pull fades in proportion): the better
    a projector fits, the stronger the term pushes the student. The large exponent concentrates the pull
    on the worst-matched elements.

    Args:
        p (float): the exponent. Default 4.
        reduction (str): ``'mean'`` (default) takes ``log(mean |s - t|^p)``; ``'sum'`` is the authors'
            exact ``log(sum |s - t|^p)``. They differ by ``log(numel)``, a constant: same gradient.
        eps (float): added inside the log, so identical inputs give a finite value. Default 1e-12.
        loss_weight (float): multiplier of the loss. Default 1.0.
        normalize (str, optional): see :class:`FeatureDistance`. Default ``'bn'``.
        norm_eps (float): the normalisation's epsilon. Default 1e-4 (the authors' BatchNorm eps).
    """

    def __init__(self, p=4.0, reduction='mean', eps=1e-12, loss_weight=1.0, normalize='bn', norm_eps=1e-4):
        super().__init__(loss_weight=loss_weight, normalize=normalize, norm_eps=norm_eps)
        if not p > 0:
            raise ValueError(f'FeatureLogLpLoss: p must be > 0, got {p!r}')
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"FeatureLogLpLoss: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.p, self.reduction, self.eps = float(p), reduction, eps

    def distance(self, student, target):
        powered = (student - target).abs().pow(self.p)
        total = powered.mean() if self.reduction == 'mean' else powered.sum()
        return torch.log(total + self.eps)
