"""Projectors: directions, layouts, inferred channels, alignment, error messages."""
import pytest
import torch

from mmcrosskd.models.projectors import FeatureProjector, align_to_student, build_projector, token_grid


def test_inverted_maps_teacher_to_student_channels():
    s, t = torch.randn(2, 8, 4, 4), torch.randn(2, 32, 4, 4)
    p = build_projector('inverted', s, t)
    assert isinstance(p.proj, torch.nn.Conv2d) and p.proj.in_channels == 32 and p.proj.out_channels == 8
    assert p(t).shape == s.shape
    q = build_projector('traditional', s, t)
    assert q.proj.in_channels == 8 and q.proj.out_channels == 32
    assert build_projector('identity', s, s) is None


def test_tokens_use_linear_and_matrix_is_the_map():
    s, t = torch.randn(2, 5, 6), torch.randn(2, 5, 10)
    p = build_projector('inverted', s, t, bias=False)
    assert isinstance(p.proj, torch.nn.Linear)
    assert torch.allclose(p(t), t @ p.matrix.T)
    conv = FeatureProjector(3, 2, 'map')
    x = torch.randn(1, 3, 2, 2)
    by_hand = torch.einsum('oc,bchw->bohw', conv.matrix, x)
    assert torch.allclose(conv(x), by_hand, atol=1e-6)


def test_options():
    p = FeatureProjector(4, 4, 'map', bias=True, norm='bn', init='orthogonal')
    w = p.matrix
    assert torch.allclose(w @ w.T, torch.eye(4), atol=1e-5)
    assert torch.count_nonzero(p.proj.bias) == 0
    with pytest.raises(ValueError, match="norm='bn' is for feature maps"):
        FeatureProjector(4, 4, 'tokens', norm='bn')
    with pytest.raises(ValueError, match='init must be'):
        FeatureProjector(4, 4, init='magic')


def test_layout_mismatch_names_both_shapes():
    # 15 tokens fit no square grid with 0-2 leading class tokens
    with pytest.raises(ValueError) as err:
        build_projector('inverted', torch.randn(2, 8, 4, 4), torch.randn(2, 15, 192),
                        names=('student tap backbone[3]', "teacher 'vit' tap backbone[0]"))
    msg = str(err.value)
    assert 'student tap backbone[3] (2, 8, 4, 4) (map)' in msg
    assert "teacher 'vit' tap backbone[0] (2, 15, 192) (tokens)" in msg and "out_type='featmap'" in msg
    with pytest.raises(ValueError, match='needs equal channels'):
        build_projector('identity', torch.randn(1, 3, 2, 2), torch.randn(1, 4, 2, 2))
    with pytest.raises(ValueError, match='direction must be one of'):
        build_projector('sideways', torch.randn(1, 3, 2, 2), torch.randn(1, 4, 2, 2))


@pytest.mark.parametrize('tokens,aspect,grid', [
    (196, (14, 14), (0, 14, 14)), (197, (7, 7), (1, 14, 14)), (198, (2, 2), (2, 14, 14)),
    (129, (8, 16), (1, 8, 16)), (129, (16, 8), (1, 16, 8)), (15, (4, 4), None), (50, (1, 2), (0, 5, 10))])
def test_token_grid(tokens, aspect, grid):
    assert token_grid(tokens, aspect) == grid


def test_map_teacher_laid_out_on_the_student_patch_grid():
    t = torch.randn(2, 3, 2, 4)                        # a 2x4 teacher map
    s = torch.randn(2, 1 + 8, 5)                       # class token + a 2x4 patch grid
    a_t, a_s = align_to_student(t, s)
    assert torch.equal(a_s, s[:, 1:])                  # the class token is left out
    for i in range(2):
        for j in range(4):                             # row-major, as ViTs lay out their patches
            assert torch.equal(a_t[:, i * 4 + j], t[:, :, i, j])
    up, _ = align_to_student(torch.randn(2, 3, 1, 2), s)   # resized to the grid first
    assert up.shape == (2, 8, 3)
    proj = build_projector('inverted', s, t)
    assert isinstance(proj.proj, torch.nn.Linear) and proj.matrix.shape == (5, 3)


def test_token_teacher_folded_into_the_student_map():
    t = torch.randn(2, 1 + 4, 3)                       # class token + 2x2 patches
    a_t, _ = align_to_student(t, torch.randn(2, 6, 2, 2))
    for i in range(2):
        for j in range(2):
            assert torch.equal(a_t[:, :, i, j], t[:, 1 + i * 2 + j])
    big, _ = align_to_student(t, torch.randn(2, 6, 4, 4))
    assert torch.allclose(big, torch.nn.functional.interpolate(a_t, size=(4, 4), mode='bilinear'))
    assert isinstance(build_projector('traditional', torch.randn(2, 6, 2, 2), t).proj, torch.nn.Conv2d)


def test_vector_against_a_map_uses_the_mean_position():
    t, s = torch.randn(2, 3, 4, 4), torch.randn(2, 5)
    a_t, a_s = align_to_student(t, s, vector='pool')
    assert torch.allclose(a_t, t.mean((2, 3))) and a_s is s
    a_t, a_s = align_to_student(s, t, vector='pool')
    assert torch.allclose(a_s, t.mean((2, 3))) and a_t is s


def test_alignment_resizes_teacher_to_student():
    t, s = torch.randn(1, 3, 8, 8), torch.randn(1, 5, 4, 4)
    out, _ = align_to_student(t, s)
    assert out.shape == (1, 3, 4, 4)
    pooled, _ = align_to_student(t, s, mode='pool')
    assert torch.allclose(pooled, torch.nn.functional.avg_pool2d(t, 2))
    up, _ = align_to_student(torch.randn(1, 3, 2, 2), s)
    assert up.shape[-2:] == (4, 4)
    with pytest.raises(ValueError, match="token counts differ.*align='pool'"):
        align_to_student(torch.randn(1, 4, 3), torch.randn(1, 5, 3))
    a, b = align_to_student(torch.randn(1, 4, 3), torch.randn(1, 5, 3), mode='pool')
    assert a.shape == b.shape == (1, 1, 3)


@pytest.mark.parametrize('layout,shape', [('map', (2, 16, 3, 3)), ('tokens', (2, 5, 16))])
def test_rank_limited_projector_is_a_product_of_rank_r(layout, shape):
    p = FeatureProjector(16, 12, layout, rank=4, init='orthogonal')
    assert p.reduce is not None and p.matrix.shape == (12, 16)
    assert torch.linalg.matrix_rank(p.matrix.detach()).item() == 4
    x = torch.randn(*shape)
    y = p(x)
    by_hand = (torch.einsum('oc,bchw->bohw', p.matrix, x) if layout == 'map' else x @ p.matrix.T)
    assert torch.allclose(y, by_hand, atol=1e-5)
    # both factors learn
    y.square().sum().backward()
    assert p.reduce.weight.grad.abs().sum() > 0 and p.proj.weight.grad.abs().sum() > 0
    # through the distiller's builder, as a projector option
    s, t = torch.randn(2, 8, 4, 4), torch.randn(2, 32, 4, 4)
    q = build_projector('inverted', s, t, rank=3)
    assert q.matrix.shape == (8, 32) and torch.linalg.matrix_rank(q.matrix.detach()).item() == 3
    with pytest.raises(ValueError, match='rank must be a positive integer'):
        FeatureProjector(4, 4, rank=0)


# -- every layout against every other, through both projectors (issue 26) ---------------------------------------
# Student and teacher examples per layout (channel-first tokens are made tokens when tapped: tests/test_taps.py).
_LAYOUTS = dict(map=lambda c: torch.randn(2, c, 4, 4), tokens=lambda c: torch.randn(2, 1 + 16, c),
                vector=lambda c: torch.randn(2, c))


@pytest.mark.parametrize('vector', ['pool', 'broadcast'])
@pytest.mark.parametrize('direction', ['inverted', 'traditional'])
@pytest.mark.parametrize('teacher', sorted(_LAYOUTS))
@pytest.mark.parametrize('student', sorted(_LAYOUTS))
def test_every_layout_pair_through_both_projectors(student, teacher, direction, vector):
    from mmcrosskd.losses import FeatureL2Loss
    from mmcrosskd.models.distiller import DistillEntry
    s, t = _LAYOUTS[student](6), _LAYOUTS[teacher](10)
    s.requires_grad_(True)
    proj = build_projector(direction, s, t, vector=vector)
    entry = DistillEntry('kd', FeatureL2Loss(), direction, proj, vector=vector)
    loss = entry(s, t)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert s.grad.abs().sum() > 0 and proj.proj.weight.grad.abs().sum() > 0
    a_t, a_s = align_to_student(t, s, vector=vector)
    # the projector acts in the layout the two sides are compared in
    compared = a_s if direction == 'traditional' else a_t
    assert (compared.dim() == 4) == isinstance(proj.proj, torch.nn.Conv2d)
    out, other = (proj(a_t), a_s) if direction == 'inverted' else (proj(a_s), a_t)
    assert out.shape == other.shape


def test_vector_against_a_map_exact_values():
    """A pooled classifier's (B, C) vector against a map, by hand: pooled, the map's mean over positions
    is compared with the vector; broadcast, the vector is compared with every position."""
    from mmcrosskd.losses import FeatureL2Loss
    from mmcrosskd.models.distiller import DistillEntry
    s = torch.tensor([[[[1., 2.], [3., 4.]], [[0., 0.], [0., 4.]]]])   # (1, 2, 2, 2); means 2.5 and 1.0
    t = torch.tensor([[1., 3.]])                                        # (1, 2)
    a_t, a_s = align_to_student(t, s, vector='pool')
    assert a_s.tolist() == [[2.5, 1.0]] and a_t.tolist() == [[1., 3.]]
    b_t, b_s = align_to_student(t, s)  # broadcast, the default
    assert torch.equal(b_t, align_to_student(t, s, vector='broadcast')[0])
    assert b_s is s and b_t.tolist() == [[[[1., 1.], [1., 1.]], [[3., 3.], [3., 3.]]]]
    # the student is the vector: the same two readings, the other way round
    c_t, c_s = align_to_student(s, t, vector='broadcast')
    assert c_t is s and c_s.tolist() == b_t.tolist()
    mse = FeatureL2Loss()  # mean over all elements
    # pooled: ((2.5 - 1)^2 + (1 - 3)^2) / 2 = (2.25 + 4) / 2
    assert DistillEntry('kd', mse, 'identity', vector='pool').forward(s, t).item() == pytest.approx(3.125)
    # broadcast (the default): channel 0 (0 + 1 + 4 + 9), channel 1 (9 + 9 + 9 + 1), over 8 elements
    assert DistillEntry('kd', mse, 'identity').forward(s, t).item() == pytest.approx(42 / 8)
    # broadcast = pooled + the map's mean spatial variance: (var(1, 2, 3, 4) + var(0, 0, 0, 4)) / 2 = (1.25 + 3) / 2
    assert 42 / 8 == pytest.approx(3.125 + (1.25 + 3) / 2)
    # an inverted projector on the vector, then the comparison: W t against the pooled map
    proj = build_projector('inverted', s, t, vector='pool')
    assert isinstance(proj.proj, torch.nn.Linear)
    with torch.no_grad():
        proj.proj.weight.copy_(torch.tensor([[1., 0.], [0., 0.5]]))  # W t = (1, 1.5)
    # ((2.5 - 1)^2 + (1 - 1.5)^2) / 2
    entry = DistillEntry('kd', mse, 'inverted', proj, vector='pool')
    assert entry.forward(s, t).item() == pytest.approx((2.25 + 0.25) / 2)
    # broadcast: a 1x1 convolution W, the projected vector repeated at every position
    conv = build_projector('inverted', s, t)
    assert isinstance(conv.proj, torch.nn.Conv2d)
    with torch.no_grad():
        conv.proj.weight.copy_(torch.tensor([[1., 0.], [0., 0.5]])[:, :, None, None])
    # channel 1 against 1.5: (2.25 + 2.25 + 2.25 + 6.25); channel 0 against 1: 14
    assert DistillEntry('kd', mse, 'inverted', conv).forward(s, t).item() == pytest.approx((14 + 13) / 8)
    with pytest.raises(ValueError, match="vector must be one of"):
        align_to_student(t, s, vector='repeat')
