"""The small-scale reproduction: one student, data and schedule; six settings; three seeds each.

    .venv/bin/python benchmarks/reproduce.py [--seeds 0 1 2] [--iters 500]

Student: mmseg FCN-ResNetV1c-18 on the 64x64 garment scenes (real Fashion-MNIST garments).
Teacher of another task: the quick start's mmpretrain ResNet-18 Fashion-MNIST classifier (trained by
``tools/demo.py`` if missing), or the same network randomly initialised. Writes docs/results_quickstart_500.md and
docs/results_quickstart_500.png. About an hour on 2 CPU cores; interrupted runs resume. The tuning sweep
(``benchmarks/sweeps/seg_quickstart.py``) extends this grid and reuses its runs.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
sys.path.insert(0, ROOT)
QS = 'configs/quickstart'
KD_CONFIG = f'{QS}/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py'
DEFAULT_OUT = osp.join(ROOT, 'work_dirs', 'reproduce')
DEFAULT_DATA = osp.join(ROOT, 'data', 'fashion_mnist')


# The reproduction's setting, written out so that later changes of the shipped configs' defaults (from the
# tuning sweep, docs/tuning.md) do not change what these runs mean.
FIRST_SETTING = ['model.distill.0.teacher=cls:backbone.layer3', 'model.distill.0.loss.loss_weight=50.0']
TEACHER_FREE_SETTING = ['model.distill.0.loss.loss_weight=0.1']


def trained_teacher(teacher_ckpt):
    return [f'model.teachers.cls.checkpoint={teacher_ckpt}'] + FIRST_SETTING


RANDOM_TEACHER = ['model.teachers.cls.checkpoint=None', 'model.teachers.cls.seed=0'] + FIRST_SETTING


def settings(teacher_ckpt):
    trained = trained_teacher(teacher_ckpt)
    return [
        dict(name='no_distillation', config=f'{QS}/fcn_r18-d8_scenes-64px.py',
             description='the student alone'),
        dict(name='traditional_trained', config=KD_CONFIG,
             options=trained + ['model.distill.0.projector=traditional'],
             description='student -> teacher projector, trained classification teacher'),
        dict(name='inverted_trained', config=KD_CONFIG, options=trained,
             description='teacher -> student projector (the paper\'s), trained classification teacher'),
        dict(name='traditional_random', config=KD_CONFIG,
             options=RANDOM_TEACHER + ['model.distill.0.projector=traditional'],
             description='student -> teacher projector, randomly initialised teacher'),
        dict(name='inverted_random', config=KD_CONFIG, options=RANDOM_TEACHER,
             description='teacher -> student projector, randomly initialised teacher'),
        dict(name='teacher_free', config=f'{QS}/fcn_r18-d8_scenes-64px_teacher-free.py',
             options=TEACHER_FREE_SETTING,
             description='SpectralTailLoss(energy=0.9, normalized) on the last stage, weight 0.1, no teacher'),
    ]


def common_options(data=DEFAULT_DATA, iters=500):
    """The overrides every run of the reproduction shares: data location and a schedule of ``iters``."""
    seg_root = osp.join(data, 'scenes')
    from mmcrosskd.runner_utils import data_root_options
    return data_root_options(seg_root) + [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}', f'param_scheduler.0.end={iters}',
        f'default_hooks.checkpoint.interval={iters}', 'custom_hooks=[]']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--iters', type=int, default=500)
    p.add_argument('--out', default=DEFAULT_OUT)
    p.add_argument('--report', default=osp.join(ROOT, 'docs', 'results_quickstart_500.md'))
    p.add_argument('--data', default=DEFAULT_DATA)
    a = p.parse_args(argv)
    import demo_teacher
    teacher_ckpt = demo_teacher.ensure_teacher(a.data)
    it = a.iters
    spec = dict(settings=settings(teacher_ckpt), baseline='no_distillation', metric='mIoU',
                common_options=common_options(a.data, it),
                title=f'Cross-task distillation on garment scenes (FCN-R18 student, {it} iterations, batch 8)')
    from sweep import run_sweep
    cmd = 'python benchmarks/reproduce.py ' + ' '.join(sys.argv[1:])
    print(run_sweep(spec, a.out, a.seeds, a.report, cmd))


if __name__ == '__main__':
    main()
