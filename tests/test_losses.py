"""Feature distances against hand-computed values."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmcrosskd.losses import (FeatureCosineLoss, FeatureL1Loss, FeatureL2Loss, FeatureLogLpLoss, FeatureSmoothL1Loss,
                              normalize_features)
from mmcrosskd.registry import MODELS

S = torch.tensor([[1., 2.], [3., 4.]])
T = torch.tensor([[0., 0.], [0., 1.]])


def test_l2_l1_smoothl1_by_hand():
    # differences 1, 2, 3, 3
    assert FeatureL2Loss(loss_weight=0.5)(S, T).item() == pytest.approx(0.5 * (1 + 4 + 9 + 9) / 4)
    assert FeatureL1Loss()(S, T).item() == pytest.approx((1 + 2 + 3 + 3) / 4)
    # beta=1: |d| >= 1 everywhere -> |d| - 0.5
    assert FeatureSmoothL1Loss(beta=1.0)(S, T).item() == pytest.approx((0.5 + 1.5 + 2.5 + 2.5) / 4)
    # beta=4: all quadratic, 0.5 d^2 / beta
    assert FeatureSmoothL1Loss(beta=4.0)(S, T).item() == pytest.approx(
        sum(0.5 * d * d / 4 for d in (1, 2, 3, 3)) / 4)


def test_cosine_over_channels_of_a_map():
    s = torch.zeros(1, 2, 1, 2)
    t = torch.zeros(1, 2, 1, 2)
    s[0, :, 0, 0] = torch.tensor([1., 0.])
    t[0, :, 0, 0] = torch.tensor([1., 1.])    # cos = 1/sqrt(2)
    s[0, :, 0, 1] = torch.tensor([0., 2.])
    t[0, :, 0, 1] = torch.tensor([0., -3.])   # cos = -1
    expected = ((1 - 2 ** -0.5) + 2) / 2
    assert FeatureCosineLoss()(s, t).item() == pytest.approx(expected, rel=1e-6)


def test_l2_normalisation_per_position():
    x = torch.tensor([[[[3.]], [[4.]]]])  # (1, 2, 1, 1): channel vector (3, 4)
    y = normalize_features(x, 'l2')
    assert torch.allclose(y.flatten(), torch.tensor([0.6, 0.8]))
    tokens = torch.tensor([[[3., 4.], [0., 2.]]])  # (1, 2 tokens, 2 channels)
    assert torch.allclose(normalize_features(tokens, 'l2'), torch.tensor([[[0.6, 0.8], [0., 1.]]]))
    # with normalize='l2', L2 loss of parallel vectors is 0
    assert FeatureL2Loss(normalize='l2')(x, 10 * x).item() == pytest.approx(0, abs=1e-12)


def test_bn_normalisation_is_batchnorm_without_affine():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5) * 3 + 1
    ref = F.batch_norm(x, None, None, training=True, eps=1e-6)
    assert torch.allclose(normalize_features(x, 'bn'), ref, atol=1e-5)
    tokens = torch.randn(2, 7, 3)
    ref_t = F.batch_norm(tokens.reshape(-1, 3), None, None, training=True, eps=1e-6).reshape(2, 7, 3)
    assert torch.allclose(normalize_features(tokens, 'bn'), ref_t, atol=1e-5)


def test_losses_are_registered_and_validate():
    for name in ('FeatureL2Loss', 'FeatureL1Loss', 'FeatureSmoothL1Loss', 'FeatureCosineLoss'):
        assert MODELS.build(dict(type=name, loss_weight=2.0)).loss_weight == 2.0
    with pytest.raises(ValueError, match='normalize must be one of'):
        FeatureL2Loss(normalize='layer')
    with pytest.raises(ValueError, match=r'student \(2, 3\) vs target \(2, 4\)'):
        FeatureL2Loss()(torch.zeros(2, 3), torch.zeros(2, 4))


def test_log_lp_by_hand():
    # raw features: differences 1, 2, 3, 3
    raw = FeatureLogLpLoss(normalize=None, reduction='sum', eps=0.0)
    assert raw(S, T).item() == pytest.approx(math.log(1 + 16 + 81 + 81))
    mean = FeatureLogLpLoss(normalize=None, eps=0.0, loss_weight=2.0)
    assert mean(S, T).item() == pytest.approx(2.0 * math.log((1 + 16 + 81 + 81) / 4))
    cube = FeatureLogLpLoss(p=3, normalize=None, reduction='sum', eps=0.0)
    assert cube(S, T).item() == pytest.approx(math.log(1 + 8 + 27 + 27))


def test_log_lp_default_standardises_both_sides_with_eps_1e4():
    # (B=2, C=2) vectors; per channel over the batch: S -> (+-1)/sqrt(1 + 1e-4) in both channels;
    # T channel 0 is constant (0, 0) -> 0; channel 1 (0, 1) -> (-0.5, 0.5)/sqrt(0.25 + 1e-4).
    a, b = 1 / math.sqrt(1 + 1e-4), 0.5 / math.sqrt(0.25 + 1e-4)
    diffs = [-a - 0, -a + b, a - 0, a - b]
    expected = math.log(sum(d ** 4 for d in diffs) / 4 + 1e-12)
    assert FeatureLogLpLoss()(S, T).item() == pytest.approx(expected, rel=1e-6)


def test_log_lp_gradient_does_not_depend_on_scale():
    s = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    t = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    loss = FeatureLogLpLoss(normalize=None, eps=0.0)
    grads = []
    for scale in (1.0, 1000.0):
        x = s.clone().requires_grad_(True)
        value = loss(scale * x, scale * t)  # value shifts by 4 log(scale), a constant
        value.backward()
        grads.append(x.grad)
        if scale != 1.0:
            assert value.item() == pytest.approx(loss(s, t).item() + 4 * math.log(scale), rel=1e-5)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-8)
    # and the gradient is p d^(p-1) / sum d^p (mean reduction: the 1/n cancels)
    d = s - t
    assert torch.allclose(grads[0], 4 * d ** 3 / (d ** 4).sum(), rtol=1e-4, atol=1e-8)


def test_log_lp_pull_grows_as_the_difference_shrinks():
    """Target fixed, difference a times smaller: the log-Lp gradient is 1/a times larger, L2's a times smaller."""
    t = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    d = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    log_lp = FeatureLogLpLoss(normalize=None, eps=0.0)
    l2 = FeatureL2Loss(normalize=None)
    norms = {}
    for a in (1.0, 0.01):
        for name, loss in (('log_lp', log_lp), ('l2', l2)):
            s = (t + a * d).requires_grad_(True)
            loss(s, t).backward()
            norms[name, a] = s.grad.norm().item()
    assert norms['log_lp', 0.01] == pytest.approx(100 * norms['log_lp', 1.0], rel=1e-3)
    assert norms['l2', 0.01] == pytest.approx(norms['l2', 1.0] / 100, rel=1e-3)


def test_log_lp_is_registered_and_validates():
    assert isinstance(MODELS.build(dict(type='FeatureLogLpLoss', p=2)), FeatureLogLpLoss)
    with pytest.raises(ValueError, match='p must be > 0'):
        FeatureLogLpLoss(p=0)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        FeatureLogLpLoss(reduction='none')


@pytest.mark.parametrize('cls,args', [
    ('FeatureL2Loss', {}), ('FeatureL1Loss', {}), ('FeatureSmoothL1Loss', {}), ('FeatureCosineLoss', {}),
    ('FeatureLogLpLoss', {}), ('AttentionTransferLoss', {}), ('SimilarityPreservingLoss', {}),
    ('ChannelWiseDistillLoss', {}), ('RelationalKDLoss', {}), ('PKTLoss', {}), ('LogitKLLoss', {}), ('DISTLoss', {}),
    ('SpectralTailLoss', dict(k=2)), ('RandomSubspaceLoss', dict(k=2))])
def test_every_loss_refuses_a_bad_weight_however_built(cls, args):
    import mmcrosskd.losses as losses
    loss_cls = getattr(losses, cls)
    for weight, error in ((-1, ValueError), (float('nan'), ValueError), (float('inf'), ValueError), ('1', TypeError),
                          (True, TypeError)):
        with pytest.raises(error, match=f'{cls}: loss_weight must be a'):
            loss_cls(loss_weight=weight, **args)
    assert loss_cls(loss_weight=0.5, **args).loss_weight == 0.5 and loss_cls(loss_weight=0, **args).loss_weight == 0
