"""The quick start: cross-task distillation from a classifier into a segmentation student, on real
Fashion-MNIST images, in minutes on a CPU.

    python tools/demo.py [--work-dir work_dirs/quickstart] [--student-iters 500] [--teacher-iters 600]

1. prepares the data (tools/prepare_data.py);
2. trains the classification teacher (mmpretrain ResNet-18 on Fashion-MNIST), or reuses it;
3. trains the mmseg FCN student on the garment scenes twice: plain, and with an inverted-projector
   distillation from the classifier;
4. prints both students' mIoU, where the checkpoints are, and how to run the full reproduction.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
QS = osp.join(ROOT, 'configs', 'quickstart')
TEACHER_CFG = osp.join(QS, 'resnet18_fashionmnist-32px_cls.py')
PLAIN_CFG = osp.join(QS, 'fcn_r18-d8_scenes-64px.py')
KD_CFG = osp.join(QS, 'fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py')


def train(config, work_dir, options, label):
    """Run tools/train.py, showing its progress lines; return the last validation metrics."""
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir]
    if options:
        cmd += ['--cfg-options', *options]
    print(f'\n[demo] {label}: {" ".join(osp.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd[1:])}',
          flush=True)
    t0 = time.time()
    log = []
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=dict(os.environ, PYTHONUNBUFFERED='1')) as proc:
        for line in proc.stdout:
            log.append(line)
            if 'Iter(train)' in line or 'Iter(val)' in line and 'mIoU' in line or 'accuracy' in line:
                print('   ', line.split(' - mmengine - INFO - ')[-1].rstrip()[:150], flush=True)
    if proc.returncode != 0:
        sys.stdout.write(''.join(log[-60:]))
        raise SystemExit(f'[demo] {label} failed (exit {proc.returncode})')
    print(f'[demo] {label} done in {time.time() - t0:.0f} s', flush=True)
    return last_metrics(work_dir)


def last_metrics(work_dir):
    """The last validation entry of the newest run's scalars.json in ``work_dir``."""
    from mmcrosskd.runner_utils import read_scalars
    found = [e for e in read_scalars(work_dir, newest_run_only=True) if 'mIoU' in e or 'accuracy/top1' in e]
    return found[-1] if found else {}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'quickstart'))
    p.add_argument('--teacher-iters', type=int, default=600)
    p.add_argument('--student-iters', type=int, default=500)
    p.add_argument('--data', default=osp.join(ROOT, 'data', 'fashion_mnist'))
    p.add_argument('--source', default=None, help='folder of the Fashion-MNIST idx files')
    p.add_argument('--retrain-teacher', action='store_true')
    p.add_argument('--cls-images', type=int, nargs=2, default=None, metavar=('TRAIN', 'VAL'),
                   help='use a subset of the classification images (default: all 60000/10000)')
    p.add_argument('--scenes', type=int, nargs=2, default=(2000, 500), metavar=('TRAIN', 'VAL'))
    a = p.parse_args(argv)
    t0 = time.time()

    sys.path.insert(0, ROOT)
    from mmcrosskd.datasets.fashion_mnist import DEFAULT_SOURCE, prepare_fashion_mnist
    from mmcrosskd.runner_utils import data_root_options
    info = prepare_fashion_mnist(a.data, a.source or DEFAULT_SOURCE, cls_per_split=a.cls_images,
                                 scenes=tuple(a.scenes))
    print(f"[demo] data: {a.data} (classification {info['cls']}, scenes {info['scenes']}; scenes are "
          'composed from real Fashion-MNIST garments)', flush=True)
    cls_root, seg_root = osp.join(a.data, 'cls'), osp.join(a.data, 'scenes')
    cls_data, seg_data = data_root_options(cls_root), data_root_options(seg_root)

    teacher_dir = osp.join(a.work_dir, 'teacher')
    teacher_ckpt = osp.join(teacher_dir, f'iter_{a.teacher_iters}.pth')
    if osp.isfile(teacher_ckpt) and not a.retrain_teacher:
        print(f'[demo] reusing the teacher {teacher_ckpt}', flush=True)
        teacher_metrics = last_metrics(teacher_dir)
    else:
        it = a.teacher_iters
        teacher_metrics = train(TEACHER_CFG, teacher_dir, cls_data + [
            f'train_cfg.max_iters={it}', f'train_cfg.val_interval={it}', f'param_scheduler.T_max={it}',
            f'default_hooks.checkpoint.interval={it}', f'default_hooks.logger.interval={min(50, it)}'], 'teacher: ResNet-18 classifier on Fashion-MNIST')

    it = a.student_iters
    sched = [f'train_cfg.max_iters={it}', f'train_cfg.val_interval={it}', f'param_scheduler.0.end={it}',
             f'default_hooks.checkpoint.interval={it}', f'default_hooks.logger.interval={min(50, it)}']
    plain = train(PLAIN_CFG, osp.join(a.work_dir, 'student_plain'), seg_data + sched,
                  'student without distillation: FCN-R18 on garment scenes')
    kd = train(KD_CFG, osp.join(a.work_dir, 'student_kd'), seg_data + sched + [
        f'model.teachers.cls.checkpoint={teacher_ckpt}'],
        'student with inverted-projector distillation from the classifier')

    rel = lambda x: osp.relpath(x, ROOT)
    print('\n[demo] results (validation scenes, composed from the Fashion-MNIST test split)')
    print(f"| model | task | metric |\n|---|---|---|\n"
          f"| teacher ResNet-18 | classification | top-1 {teacher_metrics.get('accuracy/top1', float('nan')):.2f} |\n"
          f"| student FCN-R18, no distillation | segmentation | mIoU {plain.get('mIoU', float('nan')):.2f} |\n"
          f"| student FCN-R18, inverted projector from the classifier | segmentation | "
          f"mIoU {kd.get('mIoU', float('nan')):.2f} |")
    print(f'\n[demo] teacher checkpoint: {rel(teacher_ckpt)}')
    print(f"[demo] students: {rel(osp.join(a.work_dir, 'student_plain', f'iter_{it}.pth'))}, "
          f"{rel(osp.join(a.work_dir, 'student_kd', 'student_last.pth'))} (bare student, loads in plain mmseg)")
    print('[demo] one run per setting is not a comparison: the full reproduction (3 seeds per setting) is\n'
          '       .venv/bin/python benchmarks/reproduce.py   (about an hour on 2 cores; see docs/results_quickstart_500.md; the claim table is docs/results.md)')
    print(f'[demo] total {time.time() - t0:.0f} s')
    return dict(teacher=teacher_metrics, plain=plain, kd=kd)


if __name__ == '__main__':
    main()
