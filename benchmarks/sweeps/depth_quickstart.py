"""Sweep on the depth quick-start task: cross-task distillation into the narrow DepthEstimator student
(ResNetV1c-18 at 16 base channels + VPD depth head) on the garment depth scenes (2000 training scenes,
64x64), from a randomly initialised ResNet-18, the Fashion-MNIST classifier and the garment-scene
segmentor (the paper's seg -> depth direction), each through the inverted and the traditional projector.

    .venv/bin/python benchmarks/sweep.py benchmarks/sweeps/depth_quickstart.py --out work_dirs/sweeps/depth \
        --report docs/tuning_depth.md [--jobs 2]

Loading this spec prepares the depth scenes and trains the two trained teachers if they are missing
(benchmarks/demo_teacher.py). Metric: mmseg DepthMetric's ``abs_rel`` on the garments' pixels (lower is
better); every run's scalars.json also holds ``rmse``, ``d1`` and the other NYU metrics.
"""
import os.path as osp

import demo_teacher
from mmcrosskd.datasets.garment_depth import prepare_garment_depth
from mmcrosskd.runner_utils import data_root_options

ROOT = demo_teacher.ROOT
QS = 'configs/quickstart/depth_r18w16-vpdhead_scenes-64px'
DATA = osp.join(ROOT, 'data', 'fashion_mnist')
prepare_garment_depth(osp.join(DATA, 'depth'))
TEACHERS = dict(  # name in the settings -> (KD config suffix, checkpoint options)
    random=('random-r18', []),
    cls=('cls-r18', [f'model.teachers.t.checkpoint={demo_teacher.ensure_teacher(DATA)}']),
    seg=('seg-fcn-r18', [f'model.teachers.t.checkpoint={demo_teacher.ensure_seg_teacher(DATA)}']),
)
DESCRIBE = dict(random='randomly initialised ResNet-18 (seed 0), layer4',
                cls='Fashion-MNIST ResNet-18 classifier, layer4',
                seg='garment-scene FCN-R18 segmentor, backbone[3] area-pooled')

title = 'Depth quick start: cross-task KD into a DepthEstimator student (garment depth scenes, 64x64)'
metric = 'abs_rel'
higher_is_better = False
digits = 4
baseline = 'no_distillation'
common_options = data_root_options(osp.join(DATA, 'depth')) + ['custom_hooks=[]']
settings = [dict(name='no_distillation', config=f'{QS}.py', description='the student alone')]
for teacher, (suffix, options) in TEACHERS.items():
    for projector in ('inverted', 'traditional'):
        settings.append(dict(name=f'{projector}_{teacher}', config=f'{QS}_kd-{projector}_{suffix}.py',
                             options=list(options),
                             description=f'{projector} projector, teacher: {DESCRIBE[teacher]}'))
