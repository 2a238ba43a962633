"""Write the bare student of a CrossTaskDistiller checkpoint.

    python tools/export_student.py CHECKPOINT [OUT] [--force]

OUT (default: ``<CHECKPOINT>_student.pth``) loads with plain mmseg / mmpretrain ``tools/test.py``
and the student's own config. The tool never writes over CHECKPOINT, and writes over an existing OUT only
when OUT is itself an exported student (or with ``--force``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcrosskd  # noqa: E402,F401  (checkpoint allow-list)
from mmcrosskd.hooks import export_student  # noqa: E402
from mmcrosskd.utils.checkpoint import read_checkpoint  # noqa: E402


def _same_file(a, b):
    if osp.exists(a) and osp.exists(b):
        return osp.samefile(a, b)
    return osp.realpath(a) == osp.realpath(b)


def check_output(checkpoint, out, force=False):
    """Refuse an output path that would destroy the input or another file that is not an exported student.

    Args:
        checkpoint (str): the input checkpoint.
        out (str): the output path.
        force (bool): allow replacing an existing file other than the input.
    """
    if _same_file(checkpoint, out):
        raise ValueError(f'export_student: the output {out!r} is the input checkpoint itself: writing the bare '
                         'student there would destroy the training checkpoint. Give another output path (or '
                         'none: the default is <CHECKPOINT>_student.pth)')
    if osp.isdir(out):
        raise IsADirectoryError(f'export_student: the output {out!r} is a directory: give a file name')
    if osp.exists(out) and not force:
        try:
            meta = read_checkpoint(out, 'export_student').get('meta', {})
        except Exception:  # unreadable: certainly not an earlier export of ours
            meta = {}
        if meta.get('exported_by') != 'mmcrosskd':
            raise FileExistsError(f'export_student: {out!r} exists and is not a bare student exported by '
                                  'mmcrosskd: refusing to overwrite it. Give another output path, or --force')


def main(argv=None):
    p = argparse.ArgumentParser(description='Export the bare student of a distillation checkpoint')
    p.add_argument('checkpoint')
    p.add_argument('out', nargs='?')
    p.add_argument('--force', action='store_true', help='replace an existing OUT that is not an export')
    a = p.parse_args(argv)
    out = a.out or osp.splitext(a.checkpoint)[0] + '_student.pth'
    check_output(a.checkpoint, out, a.force)
    ckpt = read_checkpoint(a.checkpoint, 'export_student')
    export_student(ckpt, out)
    print(f'bare student written to {out}')
    return out


if __name__ == '__main__':
    main()
