"""benchmarks/speed.py builds what it says it times: the demo's tap, the cache variant."""
import os.path as osp
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, ROOT)
from benchmarks import speed  # noqa: E402


def test_mnv2_suite_taps_where_the_demo_config_taps():
    from mmengine.config import Config
    demo = Config.fromfile(osp.join(ROOT, speed.DEMO_IMAGENET_CONFIG)).model.distill[0]['teacher']
    assert demo.startswith('cls:') and speed.teacher_tap(speed.SUITES['mnv2']) == demo[len('cls:'):]
    assert speed.teacher_tap(speed.SUITES['cls']) == 'backbone.layer3'  # a suite's own tap wins


def test_cache_variant_turns_the_teachers_cache_on_and_only_it():
    suite = speed.SUITES['mnv2']
    plain, _ = speed.build_variant('inverted', suite, 'cpu')
    cached, step = speed.build_variant('inverted+cache', suite, 'cpu')
    assert plain.teachers['t'].cache is None and cached.teachers['t'].cache.max_bytes == 1024 * 2**20
    assert plain.teachers['t'].input_size == cached.teachers['t'].input_size == (224, 224)
    cache = cached.teachers['t'].cache
    step(speed.make_batch(suite))
    misses, hits = cache.misses, cache.hits
    step(speed.make_batch(suite))  # the same batch again: all 8 images are hits
    assert (cache.misses, cache.hits) == (misses, hits + 8)
    with pytest.raises(KeyError):
        speed.build_variant('inverted+nothing', suite, 'cpu')


def test_channels_last_variants_are_the_demo_configs_teacher():
    """``+channels_last`` turns only the teacher's memory format on; with ``+cache`` it is the demo config's
    teacher (its input size, channels-last, cache), so the suite times what the demo runs."""
    import torch
    from mmengine.config import Config
    suite = speed.SUITES['mnv2']
    assert {'inverted+channels_last', 'inverted+channels_last+cache'} <= set(suite['variants'])
    plain, _ = speed.build_variant('inverted', suite, 'cpu')
    cl, step = speed.build_variant('inverted+channels_last', suite, 'cpu')
    assert not plain.teachers['t'].channels_last and cl.teachers['t'].channels_last and cl.teachers['t'].cache is None
    conv = cl.teachers['t'].model.backbone.conv1.conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    step(speed.make_batch(suite))  # it trains
    demo, _ = speed.build_variant('inverted+channels_last+cache', suite, 'cpu')
    want = Config.fromfile(osp.join(ROOT, speed.DEMO_IMAGENET_CONFIG)).model.teachers.cls
    t = demo.teachers['t']
    assert (t.channels_last, t.input_size, t.cache.max_bytes) == (
        want.channels_last, tuple(want.input_size), want.cache_mb * 2**20)
