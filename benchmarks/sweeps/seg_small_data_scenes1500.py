"""Issue #29: the over-fitting sweep (``seg_small_data.py``) on another 50 training scenes, 1500-1549.

    .venv/bin/python benchmarks/sweep.py benchmarks/sweeps/seg_small_data_scenes1500.py \
        --out benchmarks/results/seg_small_data_scenes1500 --seeds 0 1 2 3 4 --prune

The settings whose verdicts rest on the over-fitting regime: the student alone, the random teacher through
either projector, the teacher-free loss, then the ImageNet teacher through either projector. Same configs,
options and seeds as the first 50 scenes; ``benchmarks/claims.py`` pairs them by (subset, seed).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import seg_small_data as first50  # noqa: E402

prepare, metric, baseline = first50.prepare, first50.metric, first50.baseline
_spec = first50.subset_spec(1500, ['no_distillation', 'inv_random', 'trad_random', 'teacher_free', 'inv_in1k',
                                   'trad_in1k'])
title, common_options, settings = _spec['title'], _spec['common_options'], _spec['settings']
