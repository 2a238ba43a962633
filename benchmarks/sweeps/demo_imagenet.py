"""Tuning sweep for the demo's ImageNet teacher (issue #27): tap, teacher input size and loss weight, at the
demo's scale, on seeds that no table reports (10 and 11).

    nice -n 5 .venv/bin/python benchmarks/sweep.py benchmarks/sweeps/demo_imagenet.py \
        --out benchmarks/results/demo_imagenet --seeds 10 11 --report docs/tuning_demo_imagenet.md --prune

The student and schedule are ``tools/demo.py``'s: the FCN-ResNetV1c-18 of
``configs/quickstart/fcn_r18-d8_scenes-64px.py`` on the 2000 garment scenes, 500 iterations of batch 8. The
teacher is mmpretrain's MobileNetV2 with torchvision's ImageNet weights (``key_map='torchvision'``), through the
inverted projector. Every setting changes one thing from ``inv_conv2_224_w50`` (the config's first guess: the
teacher's last feature map ``backbone.conv2``, 1280 ch; the 64x64 scenes resized to 224x224; per-position
L2-normalised FeatureL2Loss at weight 50, the value the Fashion-MNIST teacher's tuning settled).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import demo_teacher  # noqa: E402
from mmcrosskd.runner_utils import data_root_options  # noqa: E402

ROOT = demo_teacher.ROOT
QS = 'configs/quickstart'
PLAIN = f'{QS}/fcn_r18-d8_scenes-64px.py'
KD = f'{QS}/fcn_r18-d8_scenes-64px_kd-inverted_cls-mnv2-in1k.py'
IMAGENET = demo_teacher.imagenet_checkpoint()  # resolved here, on the machine that runs the sweep
E = 'model.distill.0'
# Written out, so that these runs keep their meaning when the config's defaults follow this sweep.
CENTRE = [f'model.teachers.cls.checkpoint={IMAGENET}', f'{E}.teacher=cls:backbone.conv2',
          'model.teachers.cls.input_size=[224,224]', f'{E}.loss.loss_weight=50.0']


def kd(name, description, **changes):
    """A setting: the centre with some of its options replaced (keyed by the option's name)."""
    options = {o.split('=')[0]: o for o in CENTRE}
    options.update({k: f'{k}={v}' for k, v in changes.items()})
    return dict(name=name, config=KD, options=list(options.values()), description=description)


def prepare(settings):
    """The demo's data (Fashion-MNIST scenes, as ``tools/demo.py`` prepares them); no teacher to train."""
    from mmcrosskd.datasets.fashion_mnist import prepare_fashion_mnist
    prepare_fashion_mnist(osp.join(ROOT, 'data', 'fashion_mnist'))


title = "Tuning: the demo's ImageNet MobileNetV2 teacher -> FCN-R18 student (garment scenes, 500 iterations)"
metric = 'mIoU'
baseline = 'no_distillation'
common_options = data_root_options(osp.join(ROOT, 'data', 'fashion_mnist', 'scenes'))
settings = [
    dict(name='no_distillation', config=PLAIN, description="the student alone (the demo's first student)"),
    kd('inv_conv2_224_w50', 'inverted; teacher backbone.conv2 (1280 ch, 7x7), input 224x224, weight 50'),
    kd('inv_layer5_224_w50', 'inverted; teacher backbone.layer5 (96 ch, 14x14: the last stride-16 stage)',
       **{f'{E}.teacher': 'cls:backbone.layer5'}),
    kd('inv_conv2_128_w50', 'inverted; teacher input 128x128 (conv2 4x4)',
       **{'model.teachers.cls.input_size': '[128,128]'}),
    kd('inv_conv2_224_w200', 'inverted; weight 200', **{f'{E}.loss.loss_weight': '200.0'}),
]
