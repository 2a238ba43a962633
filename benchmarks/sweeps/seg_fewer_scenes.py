"""Issue #14 sweep: does the over-fitting regime's win grow when the student over-fits more?

    .venv/bin/python benchmarks/sweep.py benchmarks/sweeps/seg_fewer_scenes.py --out benchmarks/results/seg_fewer_scenes \
        --report docs/sweep_seg_fewer_scenes.md --jobs 2 --prune

``seg_small_data.py`` (the first 50 training scenes) with the first 20: the same student, teachers, losses and
2000 iterations of batch 16, now 1600 epochs of its training set. On 50 scenes the inverted projector lost less
than the traditional one (10 of 10 seed pairs) but did not beat the student alone; a regulariser should have
more to fix here.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import seg_converged as converged  # noqa: E402
import seg_small_data as small  # noqa: E402

TRAIN_SCENES = 20

prepare = converged.prepare
title = (f'Strongly over-fitting segmentation student (FCN-R18 w16, the first {TRAIN_SCENES} garment scenes): '
         "the paper's claims")
metric = 'mIoU'
baseline = 'no_distillation'
common_options = converged.common_options + [f'train_dataloader.dataset.indices={TRAIN_SCENES}']
settings = small.settings
