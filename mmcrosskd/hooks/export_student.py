"""Write the bare student next to each training checkpoint."""
import contextlib
import glob
import os
import os.path as osp
import re

from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from ..registry import HOOKS
from ..utils.checkpoint import atomic_link_or_copy, atomic_torch_save
from ..utils.distiller_state import bare_student_checkpoint


def export_student(checkpoint, path):
    """Save the student part of a distiller checkpoint as a plain model checkpoint.

    The file holds :func:`~mmcrosskd.utils.distiller_state.bare_student_checkpoint`: the student's weights
    without their prefix, so plain mmseg / mmpretrain ``tools/test.py`` loads it with the student's own config.

    Args:
        checkpoint (dict): a checkpoint dict with a ``state_dict`` (or a bare state dict).
        path (str): where to write.

    Returns:
        str: ``path``.
    """
    atomic_torch_save(bare_student_checkpoint(checkpoint), path)
    return path


@HOOKS.register_module()
class ExportStudentHook(Hook):
    """Each time the Runner saves a checkpoint, also write ``student_<iter|epoch>_N.pth``.

    Args:
        filename_tmpl (str): file name template, filled with the step number.
            Default ``'student_{}_{}.pth'`` (``student_iter_100.pth``, ``student_epoch_3.pth``).
        last_link (bool): also write ``student_last.pth`` (a hard link to the newest, or a copy where
            the file system has no links). Default True.

    The files get the same mode as mmengine's checkpoints, and as many are kept as ``CheckpointHook``'s
    ``max_keep_ckpts`` keeps checkpoints (the older ``student_*`` files are removed).
    """

    priority = 'VERY_LOW'

    def __init__(self, filename_tmpl='student_{}_{}.pth', last_link=True):
        self.filename_tmpl = filename_tmpl
        self.last_link = last_link

    def before_save_checkpoint(self, runner, checkpoint):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'student'):
            return
        by_epoch = isinstance(runner.train_loop, EpochBasedTrainLoop)
        unit, step = ('epoch', runner.epoch + 1) if by_epoch else ('iter', runner.iter + 1)
        path = osp.join(runner.work_dir, self.filename_tmpl.format(unit, step))
        export_student(checkpoint, path)
        if self.last_link:
            # the same file under a second name: no second serialisation of the weights
            atomic_link_or_copy(path, osp.join(runner.work_dir, 'student_last.pth'))
        runner.logger.info(f'bare student written to {path}')
        self._remove_old(runner, unit)

    def _remove_old(self, runner, unit):
        """Keep as many exports as ``CheckpointHook(max_keep_ckpts=...)`` keeps checkpoints."""
        keep = next((h.max_keep_ckpts for h in runner.hooks if isinstance(h, CheckpointHook)), -1)
        if keep is None or keep <= 0:
            return
        pattern = re.compile('^' + re.escape(self.filename_tmpl).replace(r'\{\}', '{}').format(
            re.escape(unit), r'(\d+)') + '$')
        steps = []
        for path in glob.glob(osp.join(runner.work_dir, '*')):
            m = pattern.match(osp.basename(path))
            if m:
                steps.append((int(m.group(1)), path))
        for _, path in sorted(steps)[:-keep]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
