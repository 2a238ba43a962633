"""Issue #14 sweep: the paper's claims where a regulariser has something to fix, a student that over-fits.

    .venv/bin/python benchmarks/sweep.py benchmarks/sweeps/seg_small_data.py --out benchmarks/results/seg_small_data \
        --report docs/sweep_seg_small_data.md --jobs 2 --prune

Same student, teachers, losses and schedule as ``seg_converged.py`` (every setting here is the one of the same
name there), but trained on the first 50 of the 2000 training scenes: 2000 iterations of batch 16 are then 640
epochs, and the student memorises its training set (on the first 200 scenes, seed 0, it still reached 24.5 mIoU
against 25.1 on all 2000: too little over-fitting to leave a regulariser room). If the inverted projector's
spectral half (or the teacher-free loss) works as a regulariser, this is where it should show.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import seg_converged as converged  # noqa: E402

TRAIN_SCENES = 50
# Issue #29: the over-fitting verdicts over three disjoint subsets of 50 training scenes, fixed by a rule
# written before any of them ran (not chosen from results): the first 50 (this spec, run since issue #14),
# and scenes 500-549 and 1500-1549 (the sibling specs seg_small_data_scenes500.py / _scenes1500.py). The
# scenes are composed independently from random garments, so every subset is an equally likely draw.
# benchmarks/claims.py pairs every comparison by (subset, seed).
SUBSETS = {'seg_small_data': 0, 'seg_small_data_scenes500': 500, 'seg_small_data_scenes1500': 1500}
# The regulariser claims: a random teacher through either projector, the teacher-free loss; then the
# classifier teacher through either projector (does the inverted-over-traditional win of the random
# teacher, 5 of 5 seeds, carry over to a teacher of another task?).
# Then the random teacher at 4x the weight, through either projector.
# Issue #27: then the ImageNet MobileNetV2 teacher through either projector, and its architecture randomly
# initialised.
NAMES = ['no_distillation', 'inv_random', 'trad_random', 'teacher_free', 'inv_cls', 'trad_cls', 'inv_random_w200',
         'trad_random_w200', 'inv_in1k', 'trad_in1k', 'inv_random_mnv2']

prepare = converged.prepare
title = f'Over-fitting segmentation student (FCN-R18 w16, the first {TRAIN_SCENES} garment scenes): the paper\'s claims'
metric = 'mIoU'
baseline = 'no_distillation'
common_options = converged.common_options + [f'train_dataloader.dataset.indices={TRAIN_SCENES}']
settings = [s for name in NAMES for s in converged.settings if s['name'] == name]


def subset_spec(first, names):
    """A sibling spec's namespace: this sweep on the scenes ``first .. first + TRAIN_SCENES - 1``.

    Args:
        first (int): index of the subset's first training scene (a key's value in ``SUBSETS``).
        names (list[str]): the settings it runs (those of this spec that issue #29 asks for).

    Returns:
        dict: ``title``, ``common_options`` and ``settings`` (``prepare``, ``metric`` and ``baseline`` are
        this spec's).
    """
    indices = ','.join(str(i) for i in range(first, first + TRAIN_SCENES))
    common = [o for o in common_options if not o.startswith('train_dataloader.dataset.indices=')]
    return dict(
        title=title.replace(f'the first {TRAIN_SCENES} garment scenes',
                            f'garment scenes {first}-{first + TRAIN_SCENES - 1}'),
        common_options=common + [f'train_dataloader.dataset.indices=[{indices}]'],
        settings=[s for name in names for s in settings if s['name'] == name])
