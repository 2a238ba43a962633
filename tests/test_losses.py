"""Feature distances against hand-computed values."""
import pytest
import torch
import torch.nn.functional as F

from mmcrosskd.losses import (FeatureCosineLoss, FeatureL1Loss, FeatureL2Loss, FeatureSmoothL1Loss,
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
