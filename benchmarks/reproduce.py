"""The small-scale reproduction: one student, data and schedule; seven settings; three seeds each.

    .venv/bin/python benchmarks/reproduce.py [--seeds 0 1 2] [--iters 500]

Student: mmseg FCN-ResNetV1c-18 on the 64x64 garment scenes (real Fashion-MNIST garments).
Teacher of another task: the quick start's mmpretrain ResNet-18 Fashion-MNIST classifier (trained by
``tools/demo.py`` if missing), or the same network randomly initialised. Writes docs/results.md and
docs/results.png. About an hour on 2 CPU cores; interrupted runs resume.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
sys.path.insert(0, ROOT)
QS = 'configs/quickstart'


def settings(teacher_ckpt):
    kd = f'{QS}/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py'
    trained = [f'model.teachers.cls.checkpoint={teacher_ckpt}']
    random = ['model.teachers.cls.checkpoint=None', 'model.teachers.cls.seed=0']
    return [
        dict(name='no_distillation', config=f'{QS}/fcn_r18-d8_scenes-64px.py',
             description='the student alone'),
        dict(name='traditional_trained', config=kd, options=trained + ['model.distill.0.projector=traditional'],
             description='student -> teacher projector, trained classification teacher'),
        dict(name='inverted_trained', config=kd, options=trained,
             description='teacher -> student projector (the paper\'s), trained classification teacher'),
        dict(name='traditional_random', config=kd, options=random + ['model.distill.0.projector=traditional'],
             description='student -> teacher projector, randomly initialised teacher'),
        dict(name='inverted_random', config=kd, options=random,
             description='teacher -> student projector, randomly initialised teacher'),
        dict(name='teacher_free', config=f'{QS}/fcn_r18-d8_scenes-64px_teacher-free.py',
             description='SpectralTailLoss(energy=0.9, normalized) on the last stage, weight 0.1, no teacher'),
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--iters', type=int, default=500)
    p.add_argument('--out', default=osp.join(ROOT, 'work_dirs', 'reproduce'))
    p.add_argument('--report', default=osp.join(ROOT, 'docs', 'results.md'))
    p.add_argument('--data', default=osp.join(ROOT, 'data', 'fashion_mnist'))
    a = p.parse_args(argv)
    import demo_teacher
    teacher_ckpt = demo_teacher.ensure_teacher(a.data)
    seg_root = osp.join(a.data, 'scenes')
    it = a.iters
    common = [f'{k}_dataloader.dataset.data_root={seg_root}' for k in ('train', 'val', 'test')] + [
        f'train_cfg.max_iters={it}', f'train_cfg.val_interval={it}', f'param_scheduler.0.end={it}',
        f'default_hooks.checkpoint.interval={it}', 'custom_hooks=[]']
    spec = dict(settings=settings(teacher_ckpt), baseline='no_distillation', metric='mIoU', common_options=common,
                title=f'Cross-task distillation on garment scenes (FCN-R18 student, {it} iterations, batch 8)')
    from sweep import run_sweep
    cmd = 'python benchmarks/reproduce.py ' + ' '.join(sys.argv[1:])
    print(run_sweep(spec, a.out, a.seeds, a.report, cmd))


if __name__ == '__main__':
    main()
