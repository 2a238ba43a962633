"""A frozen teacher, possibly trained on another task, that only yields tapped features.

Deliberately *not* an ``nn.Module`` attribute of the distiller: it stays out of the distiller's
parameters (so out of the optimizer and of DDP's gradient sync), out of its state dict (training
checkpoints hold no teacher weights; the teacher is rebuilt from its config, checkpoint or seed),
and out of ``model.train()`` (it stays in eval mode, BatchNorm and Dropout/DropPath alike).
"""
import contextlib
import logging
import warnings

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger

from ..utils.checkpoint import load_teacher_checkpoint
from ..utils.config import build_model_from_spec, load_model_spec, strip_pretrained
from .taps import TapSet, images_only_forward

_AUTOCAST = {None: None, 'bf16': torch.bfloat16, 'bfloat16': torch.bfloat16,
             'fp16': torch.float16, 'float16': torch.float16}


def _normalization(preprocessor):
    """(mean, std, bgr_to_rgb) of an OpenMMLab image data preprocessor, or None values."""
    if preprocessor is None:
        return None, None, False
    enabled = getattr(preprocessor, '_enable_normalize', False)
    mean = getattr(preprocessor, 'mean', None) if enabled else None
    std = getattr(preprocessor, 'std', None) if enabled else None
    # The flag's name differs: mmengine `_channel_conversion`, mmseg `channel_conversion`,
    # mmpretrain `to_rgb`.
    swap = any(bool(getattr(preprocessor, attr, False))
               for attr in ('_channel_conversion', 'channel_conversion', 'to_rgb'))
    return mean, std, swap


@contextlib.contextmanager
def _quiet_logger():
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class FrozenTeacher:
    """Build, load and freeze one teacher; run it on the student's images.

    Args:
        name (str): the teacher's name (used in messages and distill entries).
        config (str | dict): the teacher's config path (``'mmpretrain::...'``) or model dict.
        checkpoint (str, optional): local checkpoint file. Without it the teacher is randomly
            initialised from ``seed`` (its ``pretrained``/``Pretrained`` init entries are removed).
        seed (int): seed of the random initialisation. Default 0.
        scope (str, optional): registry scope (default: from the config).
        input_size (tuple[int, int], optional): resize the images to this (H, W) for the teacher,
            for models that need a fixed input size. Default: the student's size.
        prefix (str, optional): key prefix to select in the checkpoint (e.g. ``'student.'``).
        allow_unsafe_checkpoint (bool): load the checkpoint with ``weights_only=False``. Default False.
        autocast (str, optional): ``'bf16'`` or ``'fp16'`` to run the teacher under autocast.
        channels_last (bool): convert the teacher (and its input) to channels-last. Default False.
    """

    def __init__(self, name, config, checkpoint=None, seed=0, scope=None, input_size=None, prefix=None,
                 allow_unsafe_checkpoint=False, autocast=None, channels_last=False):
        self.name = name
        if autocast not in _AUTOCAST:
            raise ValueError(f"teacher {name!r}: autocast must be None, 'bf16' or 'fp16', got {autocast!r}")
        self.autocast = _AUTOCAST[autocast]
        self.input_size = tuple(input_size) if input_size is not None else None
        self.channels_last = channels_last
        self.checkpoint = checkpoint
        model_cfg, scope = load_model_spec(config, scope)
        if checkpoint is None:
            removed = strip_pretrained(model_cfg)
            if removed:
                warnings.warn(f'teacher {name!r} is randomly initialised (seed {seed}); ignoring '
                              f'pretrained entries {removed}')
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, self.scope = build_model_from_spec(dict(model_cfg, _scope_=scope) if scope else model_cfg)
            if checkpoint is None and hasattr(model, 'init_weights'):
                with _quiet_logger():  # mmengine logs one line per parameter here
                    model.init_weights()
        if checkpoint is not None:
            load_teacher_checkpoint(model, checkpoint, name, prefix, allow_unsafe_checkpoint)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.taps = None
        self._scale = self._shift = None
        self._flip = False

    # -- set-up by the distiller ---------------------------------------------------------------
    def set_taps(self, specs):
        self.taps = TapSet(self.model, specs, owner=f'teacher {self.name!r}')

    def match_student_normalization(self, student_preprocessor):
        """Precompute ``x_teacher = x_student * scale + shift`` (and a channel flip) from the two
        preprocessors: undo the student's mean/std, apply the teacher's."""
        s_mean, s_std, s_bgr2rgb = _normalization(student_preprocessor)
        t_mean, t_std, t_bgr2rgb = _normalization(getattr(self.model, 'data_preprocessor', None))
        self._flip = s_bgr2rgb != t_bgr2rgb
        scale = s_std.view(1, -1, 1, 1).clone() if s_std is not None else None
        shift = s_mean.view(1, -1, 1, 1).clone() if s_mean is not None else None
        if self._flip:
            scale = scale.flip(1) if scale is not None else None
            shift = shift.flip(1) if shift is not None else None
        if t_std is not None:
            t_std, t_mean = t_std.view(1, -1, 1, 1), t_mean.view(1, -1, 1, 1)
            scale = (scale if scale is not None else torch.ones_like(t_std)) / t_std
            shift = ((shift if shift is not None else torch.zeros_like(t_mean)) - t_mean) / t_std
        self._scale, self._shift = scale, shift

    def apply(self, fn):
        """Apply a tensor function (device/dtype moves) to the teacher and its buffers."""
        self.model._apply(fn)
        if self._scale is not None:
            self._scale = fn(self._scale)
        if self._shift is not None:
            self._shift = fn(self._shift)

    # -- forward --------------------------------------------------------------------------------
    def prepare_inputs(self, inputs):
        """The student's preprocessed images, re-normalised and resized for this teacher."""
        x = inputs.flip(1) if self._flip else inputs
        if self._scale is not None:
            x = x * self._scale
        if self._shift is not None:
            x = x + self._shift
        if self.input_size is not None and tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode='bilinear', align_corners=False)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _call(self, x):
        # Images only: no data samples, no labels, no loss mode (the teacher's task may differ).
        return images_only_forward(self.model, x)

    @torch.no_grad()
    def features(self, inputs, truncate=True):
        """Tapped features for a batch of student inputs (list, in tap order).

        Args:
            inputs (Tensor): the student's preprocessed images (B, 3, H, W).
            truncate (bool): stop the forward after the last tapped module. Default True.

        Returns:
            list[Tensor]: features, detached (computed under ``torch.no_grad``).
        """
        if self.model.training:  # someone called .train() on it: put it back
            self.model.eval()
        x = self.prepare_inputs(inputs)
        ctx = (torch.autocast(x.device.type, dtype=self.autocast) if self.autocast is not None
               else contextlib.nullcontext())
        with ctx:
            _, feats = self.taps.record(self._call, x, truncate=truncate)
        if self.autocast is not None:
            feats = [f.float() for f in feats]
        return feats
