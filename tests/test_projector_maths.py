"""A projector's direction, the side it maps, and its LayerNorm on maps, by hand."""
import pytest
import torch

from mmcrosskd.models.projectors import FeatureProjector, build_projector


@pytest.mark.parametrize('direction', ['inverted', 'traditional'])
def test_pair_maps_the_side_of_its_direction(direction):
    s, t = torch.randn(2, 6, 3, 5), torch.randn(2, 4, 3, 5)
    p = build_projector(direction, s, t)
    assert p.direction == direction and p.maps_teacher == (direction == 'inverted')
    w = p.matrix
    a, b = p.pair(s, t)
    if direction == 'inverted':   # (s, W t), W: 4 -> 6
        assert w.shape == (6, 4) and torch.equal(a, s)
        assert torch.allclose(b, torch.einsum('oc,bchw->bohw', w, t), atol=1e-6)
    else:                         # (W s, t), W: 6 -> 4
        assert w.shape == (4, 6) and torch.equal(b, t)
        assert torch.allclose(a, torch.einsum('oc,bchw->bohw', w, s), atol=1e-6)
    with pytest.raises(ValueError, match='direction must be one of'):
        FeatureProjector(4, 6, direction='identity')


def test_layernorm_on_maps_normalises_each_position_over_channels():
    p = FeatureProjector(4, 6, 'map', norm='ln')
    with torch.no_grad():
        p.norm.weight.copy_(torch.arange(1., 7.))
        p.norm.bias.copy_(torch.arange(6.) / 10)
    x = torch.randn(2, 4, 3, 5)
    y = torch.einsum('oc,bchw->bohw', p.matrix, x)
    mean = y.mean(1, keepdim=True)
    var = y.var(1, unbiased=False, keepdim=True)
    expected = (y - mean) / torch.sqrt(var + 1e-5) * torch.arange(1., 7.).view(1, 6, 1, 1) \
        + (torch.arange(6.) / 10).view(1, 6, 1, 1)
    out = p(x)
    assert out.shape == (2, 6, 3, 5)
    assert torch.allclose(out, expected, atol=1e-5)


def test_spectrum_panel_titles_fit_their_panel():
    """Long run names are wrapped: side-by-side panels' titles must not run into each other."""
    from mmcrosskd.analysis.plot import panel_title
    title = panel_title('inv_cls_logl4_w002 seed 2 (27.25 mIoU) with a longer setting name', 128, 1, 2000)
    lines = title.split('\n')
    assert len(lines) == 3 and all(len(line) <= 48 for line in lines)
    assert lines[-1] == '128 singular values, iters 1..2000'
