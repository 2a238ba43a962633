"""The teacher feature cache (``cache_mb``): same features, same training, fewer teacher forwards."""
import os.path as osp

import pytest
import torch

import mmcrosskd  # noqa: F401
from conftest import DATA, run_tool, seg_data_options
from mmcrosskd.models.feature_cache import FeatureCache, sample_key
from mmcrosskd.models.teacher import FrozenTeacher
from mmcrosskd.runner_utils import read_scalars


class Spy:
    """A stand-in teacher forward: two taps, (b, 2) and (b, 3, 2), that records each batch it sees."""

    def __init__(self):
        self.batches = []

    def __call__(self, x):
        self.batches.append(x.clone())
        flat = x.flatten(1)
        return [flat[:, :2] * 2, flat[:, :6].view(-1, 3, 2) + 1]


def test_sample_key_is_the_content():
    x = torch.arange(12.).view(3, 2, 2)
    assert sample_key(x) == sample_key(x.clone())
    y = x.clone()
    y[0, 0, 0] = torch.nextafter(y[0, 0, 0], torch.tensor(1.))  # one bit apart
    assert sample_key(y) != sample_key(x)
    assert sample_key(x.view(3, 4)) != sample_key(x)            # same bytes, other shape
    assert sample_key(x.double()) != sample_key(x)              # same values, other dtype


def test_only_unseen_samples_are_computed_and_the_rows_match():
    a, b, c = (torch.full((1, 2, 3), float(v)) for v in (1, 2, 3))
    spy, cache = Spy(), FeatureCache(1)
    first = cache.features(torch.stack([a, b, a]), spy)        # a twice: computed once
    assert [len(x) for x in spy.batches] == [2]
    assert torch.equal(first[0], spy(torch.stack([a, b, a]))[0]) and first[1].shape == (3, 3, 2)
    spy.batches.clear()
    second = cache.features(torch.stack([c, b, a]), spy)
    assert len(spy.batches) == 1 and torch.equal(spy.batches[0], c[None])  # only c ran
    assert torch.equal(second[0], spy(torch.stack([c, b, a]))[0])
    assert torch.equal(second[1], spy(torch.stack([c, b, a]))[1])
    assert (cache.hits, cache.misses, len(cache)) == (3, 3, 3)
    spy.batches.clear()
    cache.features(torch.stack([b, c]), spy)
    assert spy.batches == []


def test_a_full_cache_still_answers_and_warns_once():
    spy = Spy()
    cache = FeatureCache(40 / 2**20)  # 40 bytes: one sample's two features (2 + 6 floats = 32 bytes)
    xs = torch.arange(4.).view(4, 1, 1).expand(4, 2, 3)
    with pytest.warns(UserWarning, match='feature cache full .*1 samples'):
        out = cache.features(xs, spy)
    assert len(cache) == 1 and cache.nbytes == 32
    assert torch.equal(out[1], spy(xs)[1])
    spy.batches.clear()
    out = cache.features(xs, spy)                               # the three not stored run again
    assert len(spy.batches[0]) == 3 and torch.equal(out[0], spy(xs)[0])


def test_features_without_a_batch_dimension_are_refused():
    cache = FeatureCache(1, owner="teacher 'x'")
    with pytest.raises(ValueError, match=r"teacher 'x': cache_mb .* tap 0 gave \(5,\) for a batch of 2"):
        cache.features(torch.arange(6.).view(2, 3), lambda x: [torch.zeros(5)])
    with pytest.raises(ValueError, match='positive number of MiB'):
        FeatureCache(0)


def test_frozen_teacher_with_a_cache_skips_its_forward():
    kw = dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1)
    plain, cached = FrozenTeacher('t', **kw), FrozenTeacher('t', cache_mb=16, **kw)
    for t in (plain, cached):
        t.set_taps(['backbone.layer3'])
        t.match_student_normalization(None, 3)
    calls = []
    cached.model.backbone.layer1.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ref = plain.features(x)[0]
    assert torch.allclose(cached.features(x)[0], ref, atol=1e-6) and calls == [1]
    again = cached.features(x.flip(0))[0]                       # same images, other order: no forward
    assert calls == [1] and torch.equal(again, cached.features(x)[0].flip(0))
    cached.apply(lambda t: t)                                   # a device move forgets the stored features
    assert len(cached.cache) == 0


def test_training_with_the_cache_logs_the_same_losses(tiny_seg, tmp_path):
    """6 iterations of batch 2 over 4 images (random flips): later batches hit; the losses do not move."""
    runs = {}
    for name, extra in (('plain', []), ('cached', ['model.teachers.cls.cache_mb=8'])):
        work = str(tmp_path / name)
        run_tool('train', osp.join(DATA, 'seg_kd_one_tiny.py'), '--work-dir', work, '--cfg-options',
                 *seg_data_options(tiny_seg), 'train_cfg.max_iters=6', 'train_dataloader.batch_size=2',
                 'default_hooks.logger.interval=1', 'randomness.seed=3', *extra)
        runs[name] = [(x['step'], x['loss_kd_cls_c4'], x['loss']) for x in read_scalars(work) if 'loss' in x]
    assert [s for s, *_ in runs['cached']] == list(range(1, 7))
    for (s, kd, loss), (s2, kd2, loss2) in zip(runs['plain'], runs['cached']):
        assert s == s2 and kd == pytest.approx(kd2, rel=1e-4) and loss == pytest.approx(loss2, rel=1e-4)
