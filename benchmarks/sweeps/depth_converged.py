"""Issue #14 sweep: the paper's claims on the depth quick-start task, where the paper reports its largest
random-teacher gains.

    .venv/bin/python benchmarks/sweep.py benchmarks/sweeps/depth_converged.py --out benchmarks/results/depth_converged \
        --report docs/sweep_depth_converged.md --jobs 2 --prune

The student is the narrow mmseg DepthEstimator of ``configs/quickstart/depth_r18w16-vpdhead_scenes-64px.py``
(ResNetV1c-18 at 16 base channels, a shrunk VPD depth head, 3000 iterations: its validation stops
improving after ~1500, docs/depth_quickstart.md) on the garment depth scenes. Teachers: a randomly
initialised ResNet-18, the Fashion-MNIST classifier, and the garment-scene segmentor (the paper's
seg -> depth direction), each through the inverted and the traditional projector (per-position
L2-normalised FeatureL2Loss, weight 10, teacher's last stage -> student stage 4). Metric: ``abs_rel``
(lower is better); every run also logs rmse and d1.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import demo_teacher  # noqa: E402
from mmcrosskd.runner_utils import data_root_options  # noqa: E402

ROOT = demo_teacher.ROOT
QS = 'configs/quickstart/depth_r18w16-vpdhead_scenes-64px'
DATA = osp.join(ROOT, 'data', 'fashion_mnist')
CLS, SEG = demo_teacher.teacher_checkpoint(), demo_teacher.seg_teacher_checkpoint()
TEACHERS = dict(random=('random-r18', [], 'randomly initialised ResNet-18 (seed 0), layer4'),
                cls=('cls-r18', [f'model.teachers.t.checkpoint={CLS}'], 'Fashion-MNIST classifier, layer4'),
                seg=('seg-fcn-r18', [f'model.teachers.t.checkpoint={SEG}'],
                     'garment-scene FCN-R18 segmentor, backbone[3] area-pooled'))


def prepare(settings):
    """The depth scenes, and the teachers the settings to be trained load (each trained once)."""
    from mmcrosskd.datasets.garment_depth import prepare_garment_depth
    prepare_garment_depth(osp.join(DATA, 'depth'))
    options = ' '.join(o for s in settings for o in s.get('options', []))
    if CLS in options:
        demo_teacher.ensure_teacher(DATA)
    if SEG in options:
        demo_teacher.ensure_seg_teacher(DATA)


title = 'Depth quick start: cross-task KD into a DepthEstimator student (garment depth scenes, 64x64)'
metric = 'abs_rel'
higher_is_better = False
digits = 4
baseline = 'no_distillation'
common_options = data_root_options(osp.join(DATA, 'depth')) + [
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False']
settings = [dict(name='no_distillation', config=f'{QS}.py', description='the student alone')]
for teacher in ('random', 'seg', 'cls'):  # the order a sweep trains them
    suffix, options, describe = TEACHERS[teacher]
    for short, projector in (('inv', 'inverted'), ('trad', 'traditional')):
        settings.append(dict(name=f'{short}_{teacher}', config=f'{QS}_kd-{projector}_{suffix}.py',
                             options=list(options), description=f'{projector} projector, teacher: {describe}'))
# At weight 10 the inverted term falls to ~0.4% of the task loss within the first 500 iterations (the
# projector, under AdamW, fits the student's features from the teacher's): 10x keeps it in play longer.
settings.append(dict(name='inv_random_w100', config=f'{QS}_kd-inverted_random-r18.py',
                     options=['model.distill.0.loss.loss_weight=100.0'],
                     description='inverted projector, random teacher, weight 100'))
# Hypothesis 5 on depth: the decoder's input (the head's aggregated stride-16 map that enters its deconv
# decoder: 128 ch, 4x4 on 64 px) instead of the encoder's last stage (128 ch, 2x2).
settings.append(dict(name='inv_random_decoder', config=f'{QS}_kd-inverted_random-r18.py',
                     options=['model.distill.0.student=decode_head.conv_aggregation'],
                     description="inverted projector, random teacher, student tap at the decoder's input "
                                 '(decode_head.conv_aggregation, 128 ch, 4x4)'))
# Issue #27: a real zoo teacher, mmpretrain's MobileNetV2 with torchvision's ImageNet weights (the file resolved
# here, at spec load), with the demo's tap and teacher input size (benchmarks/sweeps/demo_imagenet.py); the weight
# stays this sweep's 10. The same architecture randomly initialised separates its knowledge from its architecture.
# cache_mb: the frozen teacher's layer5 features of each (scene, flip) are computed once, not every epoch:
# the same numbers (tests/test_feature_cache.py), 2000 scenes x 2 flips x 75 KiB = 300 MiB.
MNV2_ARCH = ['model.teachers.t.config=mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
             'model.teachers.t.input_size=[224,224]',
             'model.teachers.t.cache_mb=1024', 'model.distill.0.teacher=t:backbone.layer5']
MNV2 = MNV2_ARCH + [f'model.teachers.t.checkpoint={demo_teacher.imagenet_checkpoint()}',
                    'model.teachers.t.key_map=torchvision']
for short, projector in (('inv', 'inverted'), ('trad', 'traditional')):
    settings.append(dict(name=f'{short}_in1k', config=f'{QS}_kd-{projector}_random-r18.py', options=MNV2,
                         description=f"{projector} projector, teacher: torchvision's ImageNet MobileNetV2, layer5 "
                                     '(96 ch, 14x14), input resized to 224x224'))
settings.append(dict(name='inv_random_mnv2', config=f'{QS}_kd-inverted_random-r18.py', options=MNV2_ARCH,
                     description='inverted projector, teacher: MobileNetV2 randomly initialised (seed 0), same tap '
                                 'and input'))
