"""The KT/SR decomposition and the teacher-free spectral regularisers, against independent references."""
import numpy as np
import pytest
import torch

from mmcrosskd.analysis import kd_decomposition, spectrum_stats
from mmcrosskd.losses import RandomSubspaceLoss, SpectralTailLoss, effective_rank, energy_rank
from mmcrosskd.registry import MODELS


@pytest.mark.parametrize('n,d_t,d_s,r', [(64, 12, 8, 3), (200, 32, 16, 16), (50, 6, 10, 6), (30, 20, 20, 1)])
def test_kt_plus_sr_is_the_total(n, d_t, d_s, r):
    g = torch.Generator().manual_seed(n + r)
    zs = torch.randn(n, d_s, generator=g, dtype=torch.float64)
    zt = torch.randn(n, d_t, generator=g, dtype=torch.float64)
    p = torch.randn(d_t, r, generator=g, dtype=torch.float64) @ torch.randn(r, d_s, generator=g, dtype=torch.float64)
    out = kd_decomposition(zs, zt, p)
    assert out['rank'] == min(r, d_t, d_s)
    assert out['kt'] + out['sr'] == pytest.approx(out['total'], rel=1e-6)
    # independent numpy check of each term
    u, s, vh = np.linalg.svd(p.numpy(), full_matrices=False)
    v = vh[:out['rank']].T
    zs_n, target = zs.numpy(), zt.numpy() @ p.numpy()
    assert out['total'] == pytest.approx(((target - zs_n) ** 2).sum(), rel=1e-9)
    assert out['sr'] == pytest.approx(((zs_n - zs_n @ v @ v.T) ** 2).sum(), rel=1e-9)


def test_decomposition_on_maps_and_mean_reduction():
    zs, zt = torch.randn(2, 8, 3, 3), torch.randn(2, 5, 3, 3)
    p = torch.randn(5, 8)
    a, b = kd_decomposition(zs, zt, p), kd_decomposition(zs, zt, p, reduction='mean')
    assert b['total'] == pytest.approx(a['total'] / zs.numel(), rel=1e-9)
    target = torch.einsum('bchw,cd->bdhw', zt.double(), p.double())
    assert b['total'] == pytest.approx(torch.nn.functional.mse_loss(target, zs.double()).item(), rel=1e-9)
    with pytest.raises(ValueError, match='shapes do not chain'):
        kd_decomposition(zs, zt, torch.randn(8, 5))


def _tail_reference(z, k=None, energy=None):
    """numpy SVD: sum of squared singular values after the top k, divided by n."""
    s = np.linalg.svd(z, compute_uv=False) ** 2
    if k is None:
        c = np.cumsum(s) / s.sum()
        k = int(np.searchsorted(c, energy - 1e-12)) + 1
    return s[k:].sum() / z.shape[0], s.sum() / z.shape[0]


@pytest.mark.parametrize('shape', [(4, 16, 5, 5), (3, 7, 12), (40, 9)])
def test_tail_loss_matches_numpy_svd(shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    z = x.permute(0, 2, 3, 1).reshape(-1, shape[1]).numpy() if len(shape) == 4 else x.reshape(-1, shape[-1]).numpy()
    for k in (0, 2, 5):
        ref, _ = _tail_reference(z, k=k)
        assert SpectralTailLoss(k=k)(x).item() == pytest.approx(ref, rel=1e-8)
    ref, total = _tail_reference(z, energy=0.8)
    assert SpectralTailLoss(energy=0.8)(x).item() == pytest.approx(ref, rel=1e-8)
    assert SpectralTailLoss(energy=0.8, normalized=True)(x).item() == pytest.approx(ref / total, rel=1e-8)
    assert SpectralTailLoss(k=3, loss_weight=0.5)(x).item() == pytest.approx(0.5 * _tail_reference(z, k=3)[0], rel=1e-8)


def test_tail_loss_is_zero_when_rank_at_most_k():
    g = torch.Generator().manual_seed(2)
    low = (torch.randn(100, 3, generator=g) @ torch.randn(3, 16, generator=g)).double()
    assert SpectralTailLoss(k=3)(low).item() == pytest.approx(0, abs=1e-9)
    assert SpectralTailLoss(k=5)(low).item() == pytest.approx(0, abs=1e-9)
    assert SpectralTailLoss(k=2)(low).item() > 1e-3
    assert SpectralTailLoss(energy=1.0)(low).item() == pytest.approx(0, abs=1e-9)


def test_gradcheck():
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: SpectralTailLoss(k=2)(z), (x, ))
    assert torch.autograd.gradcheck(lambda z: SpectralTailLoss(energy=0.6, normalized=True)(z), (x, ))
    assert torch.autograd.gradcheck(lambda z: RandomSubspaceLoss(k=2)(z), (x, ))
    assert torch.autograd.gradcheck(lambda z: RandomSubspaceLoss(k=2, normalized=True)(z), (x, ))


def test_random_subspace_by_hand_and_fixed():
    loss = RandomSubspaceLoss(k=3, seed=4)
    x = torch.randn(10, 8, dtype=torch.float64)
    value = loss(x).item()
    v = loss.basis.double().numpy()
    assert np.allclose(v.T @ v, np.eye(3), atol=1e-6)
    z = x.numpy()
    assert value == pytest.approx(((z - z @ v @ v.T) ** 2).sum() / 10, rel=1e-6)
    # the subspace is fixed by the seed and survives a state-dict round trip
    other = RandomSubspaceLoss(k=3, seed=4)
    other(x)
    assert torch.equal(other.basis, loss.basis)
    fresh = RandomSubspaceLoss(k=3, seed=99)
    fresh.load_state_dict(loss.state_dict())
    assert torch.equal(fresh.basis, loss.basis)
    assert RandomSubspaceLoss(k=8)(x).item() == pytest.approx(0, abs=1e-6)


def test_spectrum_stats_and_ranks():
    m = torch.diag(torch.tensor([4., 2., 1., 1e-9]))
    st = spectrum_stats(m)
    assert st['rank'] == 3
    assert list(st['singular_values'][:3]) == [4., 2., 1.]
    # energy 16 + 4 + 1 = 21: 90% needs 2 values (20/21 = 95%), 99% needs 3
    assert st['rank90'] == 2 and st['rank99'] == 3
    assert effective_rank(torch.ones(5)) == pytest.approx(5.0)
    assert effective_rank(torch.tensor([1., 0., 0.])) == pytest.approx(1.0)
    assert energy_rank(torch.tensor([3., 4.]), 0.5) == 1


def test_registered_and_validated():
    assert isinstance(MODELS.build(dict(type='SpectralTailLoss', k=4)), SpectralTailLoss)
    assert isinstance(MODELS.build(dict(type='RandomSubspaceLoss', k=4)), RandomSubspaceLoss)
    with pytest.raises(ValueError, match='exactly one of'):
        SpectralTailLoss(k=3, energy=0.9)
    with pytest.raises(ValueError, match='energy must be in'):
        SpectralTailLoss(energy=1.5)


def test_float32_eigh_agrees_with_float64():
    x = torch.randn(4, 32, 6, 6, generator=torch.Generator().manual_seed(5))
    a = SpectralTailLoss(energy=0.9, normalized=True, eigh_dtype='float64')(x)
    b = SpectralTailLoss(energy=0.9, normalized=True)(x)
    assert b.item() == pytest.approx(a.item(), rel=1e-4)
    with pytest.raises(ValueError, match='eigh_dtype'):
        SpectralTailLoss(k=2, eigh_dtype='half')


def test_soft_sr_by_hand():
    from mmcrosskd.analysis.decomposition import student_energy_outside
    # P = diag(3, 1, 0.5): squared spectrum 9, 1, 0.25 (cumulative 0.878, 0.976, 1) -> r90 = 2, r99 = 3
    p = torch.diag(torch.tensor([3., 1., 0.5]))
    zs = torch.tensor([[1., 2., 3.], [0., 0., 4.]])  # energy 30, of which 25 along e3
    out = student_energy_outside(zs, p)
    assert out[0.9] == (2, pytest.approx(25 / 30)) and out[0.99] == (3, pytest.approx(0.0, abs=1e-12))
    # per-row L2 normalisation first: rows (1,2,3)/sqrt(14) and (0,0,1): outside e1,e2 = 9/14 + 1 of 2
    out = student_energy_outside(zs, p, energies=(0.9,), normalize='l2')
    assert out[0.9][1] == pytest.approx((9 / 14 + 1) / 2)


def test_rank_limited_inverted_projector_has_a_non_zero_sr_term():
    from mmcrosskd.models.projectors import FeatureProjector
    torch.manual_seed(0)
    zs, zt = torch.randn(64, 8), torch.randn(64, 16)
    full = FeatureProjector(16, 8, 'tokens')
    low = FeatureProjector(16, 8, 'tokens', rank=3)
    assert kd_decomposition(zs, zt, full.matrix.T)['sr'] == pytest.approx(0.0, abs=1e-9)
    dec = kd_decomposition(zs, zt, low.matrix.T)
    assert dec['rank'] == 3 and dec['sr'] > 0.1 * dec['total']
    assert dec['kt'] + dec['sr'] == pytest.approx(dec['total'], rel=1e-9)


@pytest.mark.parametrize('shape', [(2, 40, 3, 3), (30, 9), (5, 64)])  # fewer positions than channels, and not
def test_tail_loss_from_the_smaller_gram_matrix(shape):
    """18 positions x 40 channels and 5 x 64 use the n x n Gram matrix; the value (every k, both the top-k
    and the trailing-directions side) and the gradient match the d x d reference."""
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    z = x.permute(0, 2, 3, 1).reshape(-1, shape[1]).numpy() if len(shape) == 4 else x.numpy()
    rank = min(z.shape)
    for k in (0, 1, rank // 3, rank - 2, rank, rank + 3):
        ref, _ = _tail_reference(z, k=k)
        assert SpectralTailLoss(k=k)(x).item() == pytest.approx(ref, rel=1e-8, abs=1e-10), k
    ref, total = _tail_reference(z, energy=0.7)
    assert SpectralTailLoss(energy=0.7, normalized=True)(x).item() == pytest.approx(ref / total, rel=1e-8)
    # gradient: 2 Z (I - V_k V_k^T) / n, by hand with numpy's right singular vectors
    xg = x.clone().requires_grad_()
    k = max(1, rank // 3)
    SpectralTailLoss(k=k)(xg).backward()
    v = np.linalg.svd(z, full_matrices=False)[2][:k].T
    expected = 2 * (z - z @ v @ v.T) / z.shape[0]
    got = xg.grad.permute(0, 2, 3, 1).reshape(-1, shape[1]).numpy() if len(shape) == 4 else xg.grad.numpy()
    assert np.allclose(got, expected, rtol=1e-7, atol=1e-10)


def test_spread_ignores_structural_zeros():
    st = spectrum_stats(torch.diag(torch.tensor([4., 2., 0.])))
    assert st['rank'] == 2 and st['sv_min'] == pytest.approx(2.0) and st['spread'] == pytest.approx(2.0)
    st = spectrum_stats(torch.diag(torch.tensor([4., 2., 1.])))
    assert st['sv_min'] == pytest.approx(1.0) and st['spread'] == pytest.approx(4.0)
