"""The quick start's classification teacher, trained once and reused by the demo and the benchmarks."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEACHER_ITERS = 600


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
