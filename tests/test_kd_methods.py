"""KD method losses against references written from their formulas in numpy (float64)."""
import numpy as np
import pytest
import torch

from mmcrosskd.losses import (AttentionTransferLoss, ChannelWiseDistillLoss, DISTLoss, LogitKLLoss, PKTLoss,
                              RelationalKDLoss, SimilarityPreservingLoss)

RNG = np.random.default_rng(0)
S_MAP = RNG.normal(size=(3, 4, 5, 6))
T_MAP = RNG.normal(size=(3, 4, 5, 6))


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_attention_transfer():
    def at(f):
        a = (np.abs(f) ** 2).mean(1).reshape(f.shape[0], -1)
        return a / np.linalg.norm(a, axis=1, keepdims=True)
    ref = ((at(S_MAP) - at(T_MAP)) ** 2).mean()
    assert AttentionTransferLoss()(t(S_MAP), t(T_MAP)).item() == pytest.approx(ref, rel=1e-10)
    # channel counts may differ
    assert AttentionTransferLoss()(t(S_MAP), t(T_MAP[:, :2])).item() > 0


def test_similarity_preserving():
    def g(f):
        q = f.reshape(f.shape[0], -1)
        m = q @ q.T
        return m / np.linalg.norm(m, axis=1, keepdims=True)
    ref = ((g(S_MAP) - g(T_MAP)) ** 2).sum() / 9
    assert SimilarityPreservingLoss()(t(S_MAP), t(T_MAP)).item() == pytest.approx(ref, rel=1e-10)


def test_channel_wise():
    tau = 2.0
    b, c = S_MAP.shape[:2]
    ps = softmax(S_MAP.reshape(b, c, -1) / tau, 2)
    pt = softmax(T_MAP.reshape(b, c, -1) / tau, 2)
    ref = (pt * (np.log(pt) - np.log(ps))).sum() * tau ** 2 / (b * c)
    assert ChannelWiseDistillLoss(tau=tau)(t(S_MAP), t(T_MAP)).item() == pytest.approx(ref, rel=1e-10)


def test_relational():
    es, et = S_MAP.mean((2, 3)), T_MAP.mean((2, 3))

    def dist(e):
        d = np.sqrt(((e[:, None] - e[None]) ** 2).sum(-1))
        return d / d[~np.eye(len(e), dtype=bool)].mean()

    def angle(e):
        n = len(e)
        out = np.zeros((n, n, n))
        for j in range(n):
            for i in range(n):
                for k in range(n):
                    a, b = e[i] - e[j], e[k] - e[j]
                    na, nb = np.linalg.norm(a), np.linalg.norm(b)
                    a = a / na if na > 1e-12 else a
                    b = b / nb if nb > 1e-12 else b
                    out[j, i, k] = a @ b
        return out.reshape(-1)

    def smooth_l1(x, y):
        d = np.abs(x - y)
        return np.where(d < 1, 0.5 * d ** 2, d - 0.5).mean()

    ref = 1.0 * smooth_l1(dist(es), dist(et)) + 2.0 * smooth_l1(angle(es), angle(et))
    assert RelationalKDLoss()(t(S_MAP), t(T_MAP)).item() == pytest.approx(ref, rel=1e-8)


def test_pkt():
    def cond(e):
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        k = (e @ e.T + 1) / 2
        return k / k.sum(1, keepdims=True)
    ps, pt = cond(S_MAP.mean((2, 3))), cond(T_MAP.mean((2, 3)))
    ref = (pt * np.log((pt + 1e-7) / (ps + 1e-7))).sum(1).mean()
    assert PKTLoss()(t(S_MAP), t(T_MAP)).item() == pytest.approx(ref, rel=1e-8)


def test_logit_kl_dense_and_vector():
    tau = 3.0
    zs, zt = RNG.normal(size=(4, 7)), RNG.normal(size=(4, 7))
    ps, pt = softmax(zs / tau, 1), softmax(zt / tau, 1)
    ref = (pt * np.log(pt / ps)).sum(1).mean() * tau ** 2
    assert LogitKLLoss(tau=tau)(t(zs), t(zt)).item() == pytest.approx(ref, rel=1e-10)
    dense_s, dense_t = S_MAP, T_MAP  # (B, K, H, W): each position is a sample over K classes
    ps = softmax(np.moveaxis(dense_s, 1, -1).reshape(-1, 4) / tau, 1)
    pt = softmax(np.moveaxis(dense_t, 1, -1).reshape(-1, 4) / tau, 1)
    ref = (pt * np.log(pt / ps)).sum(1).mean() * tau ** 2
    assert LogitKLLoss(tau=tau)(t(dense_s), t(dense_t)).item() == pytest.approx(ref, rel=1e-10)


def test_dist():
    zs, zt = RNG.normal(size=(6, 5)), RNG.normal(size=(6, 5))
    ps, pt = softmax(zs, 1), softmax(zt, 1)

    def pearson_dist(a, b):
        a, b = a - a.mean(), b - b.mean()
        return 1 - (a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))
    inter = np.mean([pearson_dist(ps[i], pt[i]) for i in range(6)])
    intra = np.mean([pearson_dist(ps[:, k], pt[:, k]) for k in range(5)])
    ref = 2.0 * inter + 0.5 * intra
    assert DISTLoss(beta=2.0, gamma=0.5)(t(zs), t(zt)).item() == pytest.approx(ref, rel=1e-8)


def test_zero_when_equal():
    x = t(S_MAP)
    for loss in (AttentionTransferLoss(), SimilarityPreservingLoss(), ChannelWiseDistillLoss(), RelationalKDLoss(),
                 PKTLoss(), LogitKLLoss(), DISTLoss()):
        assert loss(x, x.clone()).item() == pytest.approx(0, abs=1e-9), type(loss).__name__


# -- in the distiller ---------------------------------------------------------------------------
METHODS = [dict(type='AttentionTransferLoss'), dict(type='SimilarityPreservingLoss'),
           dict(type='ChannelWiseDistillLoss', tau=4.0), dict(type='RelationalKDLoss'), dict(type='PKTLoss')]


@pytest.mark.parametrize('loss', METHODS, ids=[m['type'] for m in METHODS])
@pytest.mark.parametrize('direction', ['inverted', 'traditional'])
def test_method_gradients_reach_student_and_projector_only(loss, direction):
    from test_distiller import build, seg_batch
    d = build(distill=[dict(name='m', student='backbone[3]', teacher='cls:backbone.layer3', projector=direction,
                            loss=loss)])
    d.train()
    x, samples = seg_batch(n=4)  # relations need more than two samples (RKD is constant on two)
    value = d(x, samples, mode='loss')['loss_kd_m']
    value.backward()
    assert d.entries['m'].projector.proj.weight.grad.abs().sum() > 0
    assert d.student.backbone.layer4[0].conv1.weight.grad.abs().sum() > 0
    assert d.student.decode_head.conv_seg.weight.grad is None  # the head is not on this loss' path
    assert all(p.grad is None for p in d.teachers['cls'].model.parameters())


def test_logit_losses_refuse_cross_task_use():
    from test_distiller import build
    entry = dict(name='kl', student='decode_head.conv_seg', teacher='cls:head.fc', projector='identity',
                 loss=dict(type='LogitKLLoss'))
    with pytest.raises(ValueError, match=r"LogitKLLoss compares predictions.*set same_task=True"):
        build(distill=[entry])
    with pytest.raises(ValueError, match="takes logits: use projector='identity'"):
        build(distill=[dict(entry, same_task=True, projector='inverted')])
