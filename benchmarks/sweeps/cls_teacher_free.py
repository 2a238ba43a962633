"""Tuning sweep of the teacher-free spectral loss on a Fashion-MNIST classification student (mmpretrain
ResNet-18, 32x32), in two regimes: all 60000 training images for 600 iterations (batch 64), and the first 500
images for 1000 iterations (batch 32, 64 epochs), where the student over-fits and a regulariser should matter.

    .venv/bin/python benchmarks/sweep.py benchmarks/sweeps/cls_teacher_free.py --out work_dirs/tuning/cls \
        --report docs/tuning_cls.md

Each regime has its own baseline (the student alone in that regime).
"""
import os.path as osp

from mmcrosskd.runner_utils import data_root_options

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PLAIN = 'configs/quickstart/resnet18_fashionmnist-32px_cls.py'
TF = 'configs/quickstart/resnet18_fashionmnist-32px_cls_teacher-free.py'
LOSS = 'model.distill.0.loss'
CLS_ROOT = osp.join(ROOT, 'data', 'fashion_mnist', 'cls')

title = 'Tuning sweep: teacher-free loss on a Fashion-MNIST classifier (ResNet-18, 32x32)'
metric = 'accuracy/top1'
common_options = data_root_options(CLS_ROOT) + [
    'custom_hooks=[]']


def few_samples(n=500, iters=1000, batch=32):
    return [f'train_dataloader.dataset.max_samples={n}', f'train_dataloader.batch_size={batch}',
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}', f'param_scheduler.T_max={iters}',
            f'default_hooks.checkpoint.interval={iters}']


VARIANTS = [  # (suffix, description, options of the teacher-free config)
    ('tf_energy0.9', 'SpectralTailLoss(energy=0.9, normalized) on layer4, weight 0.1', []),
    ('tf_energy0.9_w1', 'SpectralTailLoss(energy=0.9, normalized) on layer4, weight 1.0',
     [f'{LOSS}.loss_weight=1.0']),
    ('tf_k8', 'SpectralTailLoss(k=8, normalized) on layer4, weight 0.1', [f'{LOSS}.energy=None', f'{LOSS}.k=8']),
]

settings = []
for regime, regime_opts, what in [('full', [], 'all 60000 images, 600 iterations, batch 64'),
                                  ('few', few_samples(), '500 images, 1000 iterations, batch 32')]:
    base = f'{regime}_no_distillation'
    settings.append(dict(name=base, config=PLAIN, options=regime_opts, baseline=base,
                         description=f'the student alone; {what}'))
    settings += [dict(name=f'{regime}_{suffix}', config=TF, options=regime_opts + opts, baseline=base,
                      description=f'{desc}; {what}') for suffix, desc, opts in VARIANTS]
baseline = 'full_no_distillation'
