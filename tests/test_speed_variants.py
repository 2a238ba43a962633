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
