"""A frozen teacher, possibly trained on another task, that only yields tapped features.

Deliberately *not* an ``nn.Module`` attribute of the distiller: it stays out of the distiller's
parameters (so out of the optimizer and of DDP's gradient sync), out of its state dict (training
checkpoints hold no teacher weights; the teacher is rebuilt from its config, checkpoint or seed),
and out of ``model.train()`` (it stays in eval mode, BatchNorm and Dropout/DropPath alike).
"""
import contextlib
import difflib
import inspect
import logging
import warnings

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger

from ..utils.config import build_model_from_spec, load_model_spec, merge_model_overrides, strip_pretrained
from ..utils.teacher_weights import load_teacher_weights
from .channels import input_channels
from .feature_cache import FeatureCache
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


def _checked_size(name, size):
    """``input_size`` as an (H, W) tuple: an int means a square."""
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise ValueError(f'teacher {name!r}: input_size must be (H, W) in pixels or one int for a square, got '
                         f'{size!r}')
    return tuple(size)


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
        checkpoint (str, optional): a local file, an ``http(s)`` URL, a prefix of mmengine's
            ``CheckpointLoader`` (``torchvision://``, ``open-mmlab://``, ...), or ``'zoo'`` for the
            weights the config's package publishes (see :mod:`mmcrosskd.utils.teacher_weights`).
            Without it the teacher is randomly initialised from ``seed`` (its
            ``pretrained``/``Pretrained`` init entries are removed).
        seed (int): seed of the random initialisation. Default 0.
        scope (str, optional): registry scope (default: from the config).
        input_size (tuple[int, int] | int, optional): resize the images to this (H, W) (an int: a
            square) for the teacher, for models that need a fixed input size. Default: the student's size.
        prefix (str, optional): key prefix to select in the checkpoint (e.g. ``'student.'``).
        allow_unsafe_checkpoint (bool): load the checkpoint with ``weights_only=False``. Default False.
        autocast (str, optional): ``'bf16'`` or ``'fp16'`` to run the teacher under autocast.
        channels_last (bool): convert the teacher (and its input) to channels-last. Default False.
        model (dict, optional): overrides merged into the model config, as ``_base_`` inheritance
            merges (``_delete_=True`` replaces a sub-dict), e.g. ``dict(backbone=dict(out_type='featmap'))``.
        key_map (str | callable, optional): rename the checkpoint's keys first: ``'torchvision'`` or
            ``'timm'`` (ResNet, MobileNetV2, ViT classifiers into mmpretrain's), or a function.
        cache_mb (float, optional): keep the tapped features of every input already seen, keyed by the
            input's exact content, in up to this many MiB, so that later epochs skip the teacher's
            forward for them (see :mod:`mmcrosskd.models.feature_cache`). Default: no cache.
    """

    def __init__(self, name, config, checkpoint=None, seed=0, scope=None, input_size=None, prefix=None,
                 allow_unsafe_checkpoint=False, autocast=None, channels_last=False, model=None,
                 key_map=None, cache_mb=None):
        self.name = name
        self.cache = None if cache_mb is None else FeatureCache(cache_mb, owner=f'teacher {name!r}')
        if autocast not in _AUTOCAST:
            raise ValueError(f"teacher {name!r}: autocast must be None, 'bf16' or 'fp16', got {autocast!r}")
        self.autocast = _AUTOCAST[autocast]
        self.input_size = _checked_size(name, input_size)
        self.channels_last = channels_last
        self.checkpoint = checkpoint
        if key_map is not None and checkpoint is None:
            raise ValueError(f'teacher {name!r}: key_map={key_map!r} renames checkpoint keys, but there is no '
                             '`checkpoint`; give one, or drop key_map for a randomly initialised teacher')
        model_cfg, scope = load_model_spec(config, scope)
        if model is not None:
            model_cfg = merge_model_overrides(model_cfg, model, f'teacher {name!r}')
        if checkpoint is None:
            removed = strip_pretrained(model_cfg)
            if removed:
                warnings.warn(f'teacher {name!r} is randomly initialised (seed {seed}); ignoring '
                              f'pretrained entries {removed}')
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net, self.scope = build_model_from_spec(dict(model_cfg, _scope_=scope) if scope else model_cfg)
            if checkpoint is None and hasattr(net, 'init_weights'):
                with _quiet_logger():  # mmengine logs one line per parameter here
                    net.init_weights()
        if checkpoint is not None:
            load_teacher_weights(net, checkpoint, name, config=config, prefix=prefix,
                                 allow_unsafe=allow_unsafe_checkpoint, key_map=key_map)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.model = net
        self.taps = None
        self._scale = self._shift = None
        self._flip = self._to_gray = False
        self._channels = input_channels(net)

    @classmethod
    def options(cls):
        """The keys a teacher entry takes (the constructor's arguments but ``name``)."""
        return tuple(inspect.signature(cls.__init__).parameters)[2:]

    # -- set-up by the distiller ---------------------------------------------------------------
    def set_taps(self, specs):
        self.taps = TapSet(self.model, specs, owner=f'teacher {self.name!r}')

    def match_student_normalization(self, student_preprocessor, student_channels=None):
        """Precompute ``x_teacher = x_student * scale + shift`` (and a channel flip) from the two
        preprocessors: undo the student's mean/std, apply the teacher's. A grayscale student's single
        channel is repeated for a colour teacher; a colour student's channels are averaged for a
        grayscale teacher."""
        s_mean, s_std, s_bgr2rgb = _normalization(student_preprocessor)
        t_mean, t_std, t_bgr2rgb = _normalization(getattr(self.model, 'data_preprocessor', None))
        self._channels = input_channels(self.model)
        student_channels = student_channels or self._channels
        self._to_gray = student_channels > 1 and self._channels == 1
        if student_channels != self._channels and not (student_channels == 1 or self._to_gray):
            raise ValueError(f'teacher {self.name!r} takes {self._channels}-channel images but the student '
                             f'{student_channels}-channel ones: only 1 <-> N channels are converted (grey '
                             'repeated, or channels averaged); give the teacher a matching in_channels')
        self._flip = s_bgr2rgb != t_bgr2rgb and not self._to_gray
        scale = s_std.view(1, -1, 1, 1).clone() if s_std is not None else None
        shift = s_mean.view(1, -1, 1, 1).clone() if s_mean is not None else None
        if self._flip:
            scale = scale.flip(1) if scale is not None else None
            shift = shift.flip(1) if shift is not None else None
        if self._to_gray:  # raw grey = mean over the student's raw channels: sum(x * scale / C) + mean(shift)
            scale = (scale if scale is not None else torch.ones(1, student_channels, 1, 1)) / student_channels
            shift = shift.mean(1, keepdim=True) if shift is not None else None
        if t_std is not None:
            t_std, t_mean = t_std.view(1, -1, 1, 1), t_mean.view(1, -1, 1, 1)
            scale = (scale if scale is not None else torch.ones_like(t_std)) / t_std
            shift = ((shift if shift is not None else torch.zeros_like(t_mean)) - t_mean) / t_std
        self._scale, self._shift = scale, shift

    def apply(self, fn):
        """Apply a tensor function (device/dtype moves) to the teacher and its buffers."""
        self.model._apply(fn)
        if self.cache is not None:  # stored features stay where they were computed
            self.cache.clear()
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
        if self._to_gray:
            x = x.sum(1, keepdim=True) if self._scale is not None else x.mean(1, keepdim=True)
        if self._shift is not None:
            x = x + self._shift
        if x.shape[1] == 1 and self._channels > 1:  # a grayscale student, a colour teacher
            x = x.expand(-1, self._channels, -1, -1)
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
        if self.cache is not None:
            return self.cache.features(inputs, lambda subset: self._features(subset, truncate))
        return self._features(inputs, truncate)

    def _features(self, inputs, truncate):
        x = self.prepare_inputs(inputs)
        ctx = (torch.autocast(x.device.type, dtype=self.autocast) if self.autocast is not None
               else contextlib.nullcontext())
        with ctx:
            _, feats = self.taps.record(self._call, x, truncate=truncate)
        if self.autocast is not None:
            feats = [f.float() for f in feats]
        return feats


def check_teacher_options(name, opts):
    """Check a teacher entry before building it: a dict with ``config`` and only known keys.

    Args:
        name (str): the teacher's name.
        opts (dict): its options.
    """
    allowed = FrozenTeacher.options()
    if not isinstance(opts, dict) or 'config' not in opts:
        raise ValueError(f'teacher {name!r}: give a dict with at least `config`; the keys it takes: '
                         f'{", ".join(allowed)}')
    unknown = [k for k in opts if k not in allowed]
    if unknown:
        hints = [f'{k!r} (did you mean {close[0]!r}?)' if (close := difflib.get_close_matches(k, allowed, 1))
                 else repr(k) for k in unknown]
        raise ValueError(f'teacher {name!r}: unknown key(s) {", ".join(hints)}. A teacher takes: '
                         f'{", ".join(allowed)} (see docs/teachers.md)')
