"""Teacher-free spectral regularisers on a student feature (no teacher is built or run).

With an inverted linear projector P (teacher -> student) and an L2 loss, the distillation loss splits
into a knowledge-transfer term and ``||Z_s (I - V V^T)||^2``, the student's feature energy outside the
subspace ``span(V)`` that P keeps (see ``mmcrosskd.analysis.decomposition``). That second term needs no
teacher values; these losses keep only it, with the subspace chosen without a teacher:

* :class:`SpectralTailLoss` - the student's own top-k subspace: the energy in the trailing
  eigenvalues of the feature Gram matrix ``G = Z^T Z`` (d x d);
* :class:`RandomSubspaceLoss` - a fixed random rank-k subspace (what a randomly initialised teacher
  with an inverted projector converges to).

``Z`` is the feature flattened to (positions, channels): (B*H*W, C) for maps, (B*N, C) for tokens.

Precision: the Gram matrix (the smaller of ``Z^T Z`` and ``Z Z^T``) is formed in float32 (float64 if the
input is float64), outside autocast, and eigen-decomposed in float32 by default (``eigh_dtype='float64'`` on request; float64 inputs always use
float64). Only the leading subspace and the cumulative energy are used, never small eigenvalues on their
own, and no gradient flows through the decomposition.
The gradient uses the top-k eigenvectors as constants: for the exact top-k subspace the derivative
through the eigenvectors vanishes (it is the optimum of ``max_V tr(V^T G V)``), so
``d/dZ [tr(G) - tr(V^T G V)] = 2 Z (I - V V^T)`` - no unstable eigenvector backward. The loss is then
evaluated as ``||Z||^2 - ||Z V_k||^2`` (or as the energy in the trailing directions, whichever set is
smaller), so the Gram matrix itself needs no gradient. A decomposition refreshed only every few steps was
tried twice and rejected: the top-k subspace is specific to the batch. With fewer positions than channels a
subspace kept from an earlier batch gave 4-6x the exact loss on the next ones (a ResNet-18 layer3, batch 8
of 4x4 maps: 128 positions, 256 channels); with many more (an FCN-R18 stage-4 map on real scenes, batch 4
at 256 x 256: 4096 positions, 512 channels, whose neighbouring positions are far from independent) it gave
1.38-1.67x, for half the loss's cost (docs/teacher_free_overhead.md).
"""
import torch
import torch.nn as nn

from ..registry import MODELS
from .weight import check_loss_weight


def flatten_features(x):
    """(B, C, H, W) -> (B*H*W, C); (B, N, C) -> (B*N, C); (B, C) stays."""
    if x.dim() == 4:
        return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
    if x.dim() == 3:
        return x.reshape(-1, x.shape[-1])
    if x.dim() == 2:
        return x
    raise ValueError(f'unsupported feature shape {tuple(x.shape)}')


def resolve_k(eigvals_desc, k=None, energy=None):
    """The number of leading eigenvalues to keep: ``k`` itself, or the smallest k whose eigenvalues
    hold at least the fraction ``energy`` of the total."""
    if k is not None:
        return min(int(k), eigvals_desc.numel())
    total = eigvals_desc.sum()
    if total <= 0:
        return eigvals_desc.numel()
    cum = torch.cumsum(eigvals_desc, 0) / total
    return int(torch.searchsorted(cum, torch.tensor(energy, dtype=cum.dtype, device=cum.device) - 1e-12)) + 1


@MODELS.register_module()
class SpectralTailLoss(nn.Module):
    """Energy of a student feature outside its own top-k principal subspace.

    ``loss = loss_weight * sum_{i > k} lambda_i / n`` with ``lambda_1 >= lambda_2 >= ...`` the
    eigenvalues of ``G = Z^T Z`` and n the number of rows of Z (positions). Equivalently
    ``||Z (I - V_k V_k^T)||^2 / n``. With ``normalized=True`` it is divided by ``tr(G) / n``
    instead: the *fraction* of energy outside the top-k subspace, which shrinking the features
    cannot reduce.

    Args:
        k (int, optional): the number of kept directions.
        energy (float, optional): instead of ``k``, keep the fewest directions holding this fraction
            of the energy (e.g. 0.9), recomputed at each step.
        normalized (bool): divide by the total energy. Default False.
        center (bool): subtract the per-channel mean over positions first. Default False.
        loss_weight (float): multiplier. Default 1.0.
        eigh_dtype (str): precision of the eigen-decomposition of float32 features: ``'float32'``
            (default: LAPACK's symmetric solver is backward stable, so eigenvalues are accurate to
            ~1e-7 of the largest, far finer than the energy split that picks k; about 2x faster than
            float64 for d = 512 on CPU) or ``'float64'`` (for spectra whose kept and dropped
            eigenvalues are nearly equal). Float64 features always use float64.
    """

    def __init__(self, k=None, energy=None, normalized=False, center=False, loss_weight=1.0,
                 eigh_dtype='float32'):
        super().__init__()
        if eigh_dtype not in ('float64', 'float32'):
            raise ValueError(f"SpectralTailLoss: eigh_dtype must be 'float64' or 'float32', got {eigh_dtype!r}")
        self.eigh_dtype = getattr(torch, eigh_dtype)
        if (k is None) == (energy is None):
            raise ValueError('SpectralTailLoss: give exactly one of `k` (int) or `energy` (fraction in (0, 1])')
        if energy is not None and not 0 < energy <= 1:
            raise ValueError(f'SpectralTailLoss: energy must be in (0, 1], got {energy}')
        if k is not None and k < 0:
            raise ValueError(f'SpectralTailLoss: k must be >= 0, got {k}')
        self.k, self.energy = k, energy
        self.normalized, self.center = normalized, center
        self.loss_weight = check_loss_weight(loss_weight, type(self).__name__)

    def forward(self, student):
        """Args:
            student (Tensor): a student feature (B, C, H, W), (B, N, C) or (B, C).

        Returns:
            Tensor: the weighted scalar loss.
        """
        z = flatten_features(student)
        if self.center:
            z = z - z.mean(0, keepdim=True)
        with torch.autocast(z.device.type, enabled=False):
            z = z.double() if z.dtype == torch.float64 else z.float()
            basis, left, is_tail = self._subspace(z)
            # ||Z||^2 - ||Z V_k||^2, or ||Z V_tail||^2 when the tail is the smaller side (the same split):
            # n*d*min(k, r-k) work with a gradient, and no differentiable Gram matrix
            total = (z * z).sum()
            projected = (basis.T @ z if left else z @ basis).pow(2).sum()
            tail = projected if is_tail else (total - projected).clamp_min(0)
            loss = tail / (total.clamp_min(1e-12) if self.normalized else z.shape[0])
        return self.loss_weight * loss.to(student.dtype)

    @torch.no_grad()
    def _subspace(self, z):
        """The split of Z's energy at k, from the smaller Gram matrix.

        ``Z^T Z`` (d x d) and ``Z Z^T`` (n x n) have the same non-zero eigenvalues, and the top-k right
        singular subspace of Z carries the same energy as the top-k left one (``Z V_k V_k^T =
        U_k U_k^T Z``), so with fewer positions than channels the n x n matrix is decomposed (a batch of
        8 ResNet-18 7x7 maps: 392 instead of 512). Of the top-k directions and the trailing ones, the
        fewer are returned.

        Returns:
            tuple: (basis with orthonormal columns, left (bool: apply as ``basis.T @ z``; else
            ``z @ basis``), is_tail (bool: the trailing directions)). Constants for the gradient.
        """
        left = z.shape[0] < z.shape[1]
        gram = z @ z.T if left else z.T @ z
        evals, evecs = torch.linalg.eigh(gram.to(torch.promote_types(gram.dtype, self.eigh_dtype)))
        evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
        k = resolve_k(evals, self.k, self.energy)
        is_tail = k > gram.shape[0] - k
        basis = evecs[:, k:] if is_tail else evecs[:, :k]
        return basis.to(z.dtype), left, is_tail


@MODELS.register_module()
class RandomSubspaceLoss(nn.Module):
    """Energy of a student feature outside a fixed random rank-k subspace.

    ``loss = loss_weight * ||Z (I - V V^T)||^2 / n`` with V a (C x k) matrix with orthonormal columns,
    drawn once from ``seed`` (a buffer: saved with checkpoints).

    Args:
        k (int): rank of the kept subspace.
        seed (int): seed of the subspace. Default 0.
        normalized (bool): divide by ``||Z||^2`` instead of n. Default False.
        loss_weight (float): multiplier. Default 1.0.
    """

    def __init__(self, k, seed=0, normalized=False, loss_weight=1.0):
        super().__init__()
        self.k, self.seed, self.normalized = k, seed, normalized
        self.loss_weight = check_loss_weight(loss_weight, type(self).__name__)
        self.register_buffer('basis', torch.empty(0), persistent=True)

    def _basis(self, channels, device):
        if self.basis.shape != (channels, min(self.k, channels)):
            g = torch.Generator().manual_seed(self.seed)
            q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=g, dtype=torch.float64))
            self.basis = q[:, :min(self.k, channels)].float().to(device)
        return self.basis

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + 'basis'
        if key in state_dict:  # resize to the saved basis, on this module's device (a GPU model loads CPU files)
            self.basis = self.basis.new_empty(state_dict[key].shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, student):
        z = flatten_features(student)
        with torch.autocast(z.device.type, enabled=False):
            z = z.float() if z.dtype != torch.float64 else z
            v = self._basis(z.shape[1], z.device).to(device=z.device, dtype=z.dtype)
            total = (z * z).sum()
            kept = ((z @ v) ** 2).sum()
            tail = (total - kept).clamp_min(0)
            loss = tail / (total.clamp_min(1e-12) if self.normalized else z.shape[0])
        return self.loss_weight * loss.to(student.dtype)


def effective_rank(values):
    """exp(entropy) of the normalised singular values (Roy & Vetterli, 2007)."""
    values = values.double().clamp_min(0)
    p = values / values.sum().clamp_min(1e-300)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def energy_rank(values, fraction):
    """The fewest singular values whose squares hold ``fraction`` of the total energy."""
    energy = torch.sort(values.double(), descending=True).values ** 2
    return resolve_k(energy, energy=fraction)

