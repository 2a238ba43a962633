"""Write the bare student of a CrossTaskDistiller checkpoint.

    python tools/export_student.py CHECKPOINT [OUT]

OUT (default: ``<CHECKPOINT>_student.pth``) loads with plain mmseg / mmpretrain ``tools/test.py``
and the student's own config.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

import mmcrosskd  # noqa: E402,F401  (checkpoint allow-list)
from mmcrosskd.hooks import export_student  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description='Export the bare student of a distillation checkpoint')
    p.add_argument('checkpoint')
    p.add_argument('out', nargs='?')
    a = p.parse_args(argv)
    if not osp.isfile(a.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {a.checkpoint!r}')
    out = a.out or osp.splitext(a.checkpoint)[0] + '_student.pth'
    ckpt = torch.load(a.checkpoint, map_location='cpu', weights_only=True)
    export_student(ckpt, out)
    print(f'bare student written to {out}')
    return out


if __name__ == '__main__':
    main()
