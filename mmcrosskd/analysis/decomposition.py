"""The knowledge-transfer / spectral-regularisation decomposition of the inverted-projector L2 loss.

Features flattened to rows: ``Z_s`` (n x d_s), ``Z_t`` (n x d_t); a linear inverted projector
``P`` (d_t x d_s) with thin SVD ``P = U S V^T``. Every row of ``Z_t P`` lies in span(V), so

    ||Z_t P - Z_s||^2 = ||Z_t P - Z_s V V^T||^2 + ||Z_s (I - V V^T)||^2
                        knowledge transfer (KT)     spectral regularisation (SR)

The identity holds for any target whose rows lie in span(V): raw features, and also per-position
L2-normalised ones (``normalize='l2'`` rescales rows). It does not hold exactly with a projector bias
or per-channel (BatchNorm) normalisation.
"""
import torch

from ..losses.spectral import effective_rank, energy_rank, flatten_features

SOFT_ENERGIES = (0.90, 0.99)


def projector_rank(singular_values, rtol=1e-6):
    """Numerical rank: the number of singular values above ``rtol * max`` (1e-6: float32 weights)."""
    s = singular_values
    if s.numel() == 0:
        return 0
    return int((s > rtol * s.max()).sum())


def spectrum_stats(matrix):
    """Singular values and ranks of a projector matrix.

    Args:
        matrix (Tensor): (out, in) or (in, out); the spectrum is the same.

    Returns:
        dict: ``singular_values`` (descending, float64), ``rank``, ``effective_rank`` (entropy),
        ``rank90`` / ``rank99`` (fewest singular values holding 90% / 99% of the energy),
        ``sv_max``, ``sv_min`` (the smallest of the ``rank`` non-zero ones, so that a rank-limited
        projector's structural zeros do not count) and ``spread`` (``sv_max / sv_min``).
    """
    s = torch.linalg.svdvals(matrix.detach().double())
    rank = projector_rank(s)
    sv_max, sv_min = float(s[0]), float(s[max(rank, 1) - 1])
    return dict(singular_values=s, rank=rank, effective_rank=effective_rank(s),
                rank90=energy_rank(s, 0.90), rank99=energy_rank(s, 0.99), sv_max=sv_max, sv_min=sv_min,
                spread=sv_max / sv_min if sv_min > 0 else float('inf'))


def student_energy_outside(student, projector_matrix, energies=SOFT_ENERGIES, normalize=None):
    """The soft spectral-regularisation term: the fraction of the student's feature energy outside the
    top singular directions of an inverted projector that hold ``energy`` of its spectrum.

    ``||Z_s (I - V_r V_r^T)||^2 / ||Z_s||^2`` with ``V_r`` the student-side singular vectors of P for
    its ``r`` largest singular values, ``r`` the fewest holding the fraction ``energy`` of
    ``sum(s_i^2)``. At ``energy=1`` and full rank this is 0 (the exact SR term of a full-rank P); it
    grows as P concentrates its spectrum on fewer directions, which is what the SR term would then
    penalise.

    Args:
        student (Tensor): student feature (any layout; flattened to (n, d_s)).
        projector_matrix (Tensor): the inverted projector as (d_t, d_s) (``FeatureProjector.matrix.T``).
        energies (Sequence[float]): spectrum fractions. Default (0.9, 0.99).
        normalize (str, optional): ``'l2'`` to normalise each student row first (as the loss does).

    Returns:
        dict: ``{energy: (r, fraction outside)}``.
    """
    zs = flatten_features(student).double()
    if normalize == 'l2':
        zs = torch.nn.functional.normalize(zs, dim=1, eps=1e-6)
    p = projector_matrix.detach().double()
    if zs.shape[1] != p.shape[1]:
        raise ValueError(f'student {tuple(zs.shape)} does not match P {tuple(p.shape)}')
    _, s, vh = torch.linalg.svd(p, full_matrices=False)
    total = float((zs ** 2).sum())
    out = {}
    for energy in energies:
        r = energy_rank(s, energy)
        inside = float(((zs @ vh[:r].T) ** 2).sum())
        out[energy] = (r, max(total - inside, 0.0) / total if total > 0 else 0.0)
    return out


def kd_decomposition(student, teacher, projector_matrix, reduction='sum', rank=None, normalize=None):
    """Total inverted-projector L2 loss and its KT and SR terms.

    Args:
        student (Tensor): student feature (any layout; flattened to (n, d_s)).
        teacher (Tensor): teacher feature, same positions (flattened to (n, d_t)).
        projector_matrix (Tensor): ``P`` as (d_t, d_s) - i.e. ``FeatureProjector.matrix.T``.
        reduction (str): ``'sum'`` (the norms above) or ``'mean'`` (divided by n * d_s, the scale of
            ``FeatureL2Loss``).
        rank (int, optional): use only the top ``rank`` right singular vectors for V (default: the
            numerical rank of P).
        normalize (str, optional): ``'l2'`` to normalise each row of the student and of the projected
            teacher, as ``FeatureL2Loss(normalize='l2')`` does (the identity still holds).

    Returns:
        dict: ``total``, ``kt``, ``sr`` (floats, float64 arithmetic) and ``rank`` used.
    """
    zs = flatten_features(student).double()
    zt = flatten_features(teacher).double()
    p = projector_matrix.detach().double()
    if zt.shape[1] != p.shape[0] or zs.shape[1] != p.shape[1]:
        raise ValueError(f'shapes do not chain: teacher {tuple(zt.shape)} @ P {tuple(p.shape)} vs student '
                         f'{tuple(zs.shape)}')
    _, s, vh = torch.linalg.svd(p, full_matrices=False)
    r = projector_rank(s) if rank is None else rank
    v = vh[:r].T  # d_s x r
    target = zt @ p
    if normalize == 'l2':
        zs = torch.nn.functional.normalize(zs, dim=1, eps=1e-6)
        target = torch.nn.functional.normalize(target, dim=1, eps=1e-6)
    elif normalize is not None:
        raise ValueError(f"the decomposition is exact for normalize=None or 'l2', not {normalize!r}")
    proj_s = (zs @ v) @ v.T
    total = ((target - zs) ** 2).sum()
    kt = ((target - proj_s) ** 2).sum()
    sr = ((zs - proj_s) ** 2).sum()
    scale = 1.0 / zs.numel() if reduction == 'mean' else 1.0
    return dict(total=float(total) * scale, kt=float(kt) * scale, sr=float(sr) * scale, rank=r)
