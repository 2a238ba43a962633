"""Every shipped sweep spec (benchmarks/sweeps/*.py) is runnable: loading it trains nothing, its settings
load with their options and no two train the same thing, each distinct model (with its own optimiser
wrapper) builds and takes one training step on a random batch, and every claim of benchmarks/claims.py
names settings that its sweep defines."""
import argparse
import functools
import glob
import os.path as osp
import runpy
import sys

import pytest
from mmengine.optim import build_optim_wrapper

import mmcrosskd  # noqa: F401
from conftest import ROOT
from mmcrosskd.runner_utils import DictAction, load_config
from test_configs import build_and_step

SPECS = sorted(glob.glob(osp.join(ROOT, 'benchmarks', 'sweeps', '*.py')))
SPEC_IDS = [osp.splitext(osp.basename(p))[0] for p in SPECS]


def _options(strings):
    """``--cfg-options`` strings parsed exactly as tools/train.py parses them."""
    p = argparse.ArgumentParser()
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return p.parse_args(['--cfg-options', *strings] if strings else []).cfg_options


def _config(setting, common):
    """The config a sweep trains for ``setting`` (seed 0)."""
    options = list(common) + list(setting.get('options', [])) + ['randomness.seed=0']
    return load_config(setting['config'], _options(options))


@functools.lru_cache(maxsize=None)
def _spec(path):
    """The spec's namespace, run once per test session (the tests only read it)."""
    return runpy.run_path(path)


def test_there_are_specs_and_loading_one_trains_nothing(monkeypatch):
    """A spec is loaded by ``--report-only`` and by these tests: only its ``prepare`` may train teachers."""
    assert {'seg_converged', 'seg_small_data', 'depth_converged', 'cls_teacher_free'} <= set(SPEC_IDS)
    monkeypatch.syspath_prepend(osp.join(ROOT, 'benchmarks'))
    import demo_teacher  # the module every spec imports

    def no_training(*a, **k):
        raise AssertionError('loading a sweep spec trained a teacher')
    for name in ('ensure_teacher', 'ensure_seg_teacher'):
        monkeypatch.setattr(demo_teacher, name, no_training)
    for path in SPECS:
        assert runpy.run_path(path)['settings']


@pytest.mark.parametrize('path', SPECS, ids=SPEC_IDS)
def test_spec_settings_load_and_differ(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # spec configs are relative to the repository root, as sweep.py runs them
    spec = _spec(path)
    names = [s['name'] for s in spec['settings']]
    assert len(names) == len(set(names)), f'{path}: repeated setting names'
    for base in [spec.get('baseline')] + [s.get('baseline') for s in spec['settings']]:
        assert base is None or base in names, f'{path}: baseline {base!r} is not a setting'
    seen = {}
    for s in spec['settings']:
        assert osp.isfile(osp.join(ROOT, s['config'])), f"{s['name']}: no config {s['config']}"
        assert s.get('description'), f"{s['name']}: no description (the report's table shows it)"
        # Two settings that train the same thing: an option that does nothing (or a copy-paste) would make a
        # setting a second copy of another under a new name.
        key = repr(_config(s, spec.get('common_options', [])).to_dict())
        assert key not in seen, f"{osp.basename(path)}: {s['name']!r} trains exactly what {seen.get(key)!r} trains"
        seen[key] = s['name']


def _distinct_settings():
    """(id, config) of each setting whose model or optimiser no earlier setting of the specs has."""
    out, keys = [], set()
    for path, spec_id in zip(SPECS, SPEC_IDS):
        spec = _spec(path)
        for s in spec['settings']:
            cfg = _config(s, spec.get('common_options', []))
            key = repr(cfg.model.to_dict()) + repr(cfg.optim_wrapper.to_dict())
            if key not in keys:
                keys.add(key)
                out.append((f"{spec_id}/{s['name']}", cfg))
    return out


def test_every_distinct_model_of_the_specs_builds_and_steps(monkeypatch):
    """With the spec's own optimiser wrapper (its paramwise options on the projector included)."""
    monkeypatch.chdir(ROOT)
    distinct = _distinct_settings()
    assert len(distinct) >= 25
    for name, cfg in distinct:
        build_and_step(cfg, name, make_optim=lambda model, c: build_optim_wrapper(model, c.optim_wrapper))


def test_every_claim_names_settings_of_its_sweep():
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    try:
        import claims
    finally:
        sys.path.remove(osp.join(ROOT, 'benchmarks'))
    for claim, _, rows in claims.CLAIMS:
        for task, a, b in rows:
            folder = claims.subsets_of(claims.SWEEPS[task][0])[0]  # a regime's first subset runs every setting
            names = {s['name'] for s in _spec(osp.join(ROOT, 'benchmarks', 'sweeps', f'{folder}.py'))['settings']}
            missing = {a, b} - names
            assert not missing, f'{claim!r}: {sorted(missing)} not in benchmarks/sweeps/{folder}.py'
    # the other subsets run exactly the settings claims.py expects of them
    for folder in claims.SMALL_SUBSETS[1:]:
        names = [s['name'] for s in _spec(osp.join(ROOT, 'benchmarks', 'sweeps', f'{folder}.py'))['settings']]
        assert tuple(names) == claims.SUBSET_SETTINGS, folder


def test_over_fitting_subsets_are_the_fixed_disjoint_ranges(tmp_path):
    """Issue #29: scenes 0-49, 500-549 and 1500-1549, written in the specs (not picked from results), reach
    the training dataset as exactly those scenes."""
    from mmcrosskd.datasets.garment_scenes import GarmentScenesDataset
    from conftest import make_tiny_seg
    chosen = {}
    for folder in ('seg_small_data', 'seg_small_data_scenes500', 'seg_small_data_scenes1500'):
        spec = _spec(osp.join(ROOT, 'benchmarks', 'sweeps', f'{folder}.py'))
        indices = _options(spec['common_options'])['train_dataloader.dataset.indices']
        chosen[folder] = list(range(indices)) if isinstance(indices, int) else indices
    assert chosen == {'seg_small_data': list(range(50)), 'seg_small_data_scenes500': list(range(500, 550)),
                      'seg_small_data_scenes1500': list(range(1500, 1550))}
    # mmengine's `indices` (a list) keeps those scenes of the sorted training folder, in order
    root = make_tiny_seg(str(tmp_path), n_train=12, n_val=1)
    ds = GarmentScenesDataset(data_root=root, indices=[3, 4, 5], pipeline=[])
    assert [osp.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds))] == \
        [sorted(f'{i}.png' for i in range(12))[j] for j in (3, 4, 5)]
