"""``CrossTaskDistiller``: any OpenMMLab model as student, any as teacher, inverted projectors.

Example (inside an mmseg config)::

    model = dict(
        type='CrossTaskDistiller',
        student={{_base_.model}},
        teachers=dict(
            cls=dict(config='mmpretrain::resnet/resnet50_8xb32_in1k.py', checkpoint='cls.pth')),
        distill=[
            dict(name='c4', student='backbone[3]', teacher='cls:backbone[3]', projector='inverted',
                 loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
        ])

``loss`` returns the student's own losses unchanged plus ``loss_kd_<name>`` per entry;
``predict`` and ``tensor`` go to the student, so mmseg/mmpretrain evaluators work unchanged.
"""
import warnings
from collections import OrderedDict

import torch
import torch.nn as nn
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel

from ..losses.weight import build_loss
from ..registry import MODELS
from ..utils.config import build_model_from_spec, load_model_spec
from ..utils.distiller_state import move_bare_student_in_place
from .channels import input_channels
from .projectors import DEFAULT_VECTOR, DIRECTIONS, VECTOR_MODES, align_to_student, build_projector
from .students import check_student
from .taps import TapSet
from .teacher import FrozenTeacher, check_teacher_options

_ENTRY_KEYS = {'name', 'student', 'teacher', 'projector', 'loss', 'align', 'vector', 'same_task'}
_ALIGN_MODES = ('interpolate', 'pool')


def _checked_containers(teachers, distill):
    """``(teachers dict, list of entry dicts)``, or a message that shows the expected form."""
    if teachers is None:
        teachers = {}
    if not isinstance(teachers, dict):
        raise TypeError(f'CrossTaskDistiller: `teachers` must be a dict {{name: dict(config=...)}}, got a '
                        f'{type(teachers).__name__}; e.g. teachers=dict(cls=dict(config=..., checkpoint=...))')
    if isinstance(distill, dict):
        raise TypeError('CrossTaskDistiller: `distill` must be a list of entries, got a dict; write '
                        'distill=[dict(name=..., student=..., teacher=..., loss=...)] (a list even for one entry)')
    if not isinstance(distill, (list, tuple)):
        raise TypeError(f'CrossTaskDistiller: `distill` must be a list of entry dicts, got a {type(distill).__name__}')
    for i, entry in enumerate(distill):
        if not isinstance(entry, dict):
            raise TypeError(f'distill entry {i}: must be a dict (name=..., student=..., loss=...), got '
                            f'{type(entry).__name__} {entry!r}')
    return dict(teachers), [dict(e) for e in distill]


def _projector_cfg(spec):
    """``'inverted'`` or ``dict(direction='inverted', bias=..., norm=..., init=...)``."""
    if spec is None:
        spec = 'identity'
    if isinstance(spec, str):
        spec = dict(direction=spec)
    spec = dict(spec)
    direction = spec.pop('direction', spec.pop('type', None))
    if direction not in DIRECTIONS:
        raise ValueError(f'projector direction must be one of {DIRECTIONS}, got {direction!r}')
    return direction, spec


def full_precision(x):
    """``x`` in float32 if it is a half-precision tensor (fp16 / bf16), else unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class DistillEntry(nn.Module):
    """One pairing of a student tap with a teacher tap (or none), a projector and a loss.

    Args:
        name (str): the entry's name; its loss is logged as ``loss_kd_<name>``.
        loss (nn.Module): called as ``loss(student_side, teacher_side)`` (or ``loss(student)``
            for teacher-free entries).
        direction (str): ``'inverted'``, ``'traditional'`` or ``'identity'``.
        projector (nn.Module, optional): the projector (None for identity / teacher-free).
        align (str): how the teacher's feature is brought to the student's size
            (see :func:`align_to_student`).
        vector (str): how a vector (B, C) meets a map or tokens: ``'broadcast'`` (default) or ``'pool'``
            (see :func:`align_to_student`).
    """

    def __init__(self, name, loss, direction='identity', projector=None, align='interpolate',
                 vector=DEFAULT_VECTOR):
        super().__init__()
        # a projector knows its own direction; `direction` names the projector-free kinds
        self.name, self.align, self.vector = name, align, vector
        self.direction = projector.direction if projector is not None else direction
        self.loss = loss
        self.projector = projector

    @property
    def teacher_free(self):
        return self.direction is None

    def forward(self, student_feat, teacher_feat=None, keep=None):
        """The weighted loss, in float32 (see :func:`full_precision`). If ``keep`` is a dict, the
        detached (student, aligned teacher) pair is stored in it under this entry's name (for the
        spectrum analysis)."""
        # Under AMP the features arrive in fp16/bf16. The projector and the distance run in float32 with
        # autocast off: a squared distance overflows fp16 at 65504, and the gradient still reaches the
        # student through the cast.
        with torch.autocast(student_feat.device.type, enabled=False):
            student_feat = full_precision(student_feat)
            if teacher_feat is None:
                return self.loss(student_feat)
            teacher_feat, student_feat = align_to_student(full_precision(teacher_feat), student_feat, self.align,
                                                          self.vector)
            if keep is not None:
                keep[self.name] = (student_feat.detach(), teacher_feat.detach())
            if self.projector is not None:
                student_feat, teacher_feat = self.projector.pair(student_feat, teacher_feat)
            return self.loss(student_feat, teacher_feat)


@MODELS.register_module()
class CrossTaskDistiller(BaseModel):
    """Distil one or more frozen teachers into an OpenMMLab student.

    Args:
        student (str | dict): the student's model config dict or a config path
            (``'mmseg::...py'``: its ``model`` is used).
        teachers (dict, optional): ``{name: teacher options}``; see :class:`FrozenTeacher` for the
            options (``config``, ``checkpoint`` or ``seed``, ``input_size``, ``autocast``...).
        distill (list[dict]): the entries. Each has ``name``; ``student`` (a tap, see
            :mod:`mmcrosskd.models.taps`); ``teacher`` (``'<teacher>:<tap>'``, or just ``'<tap>'``
            when there is one teacher; omit it for a teacher-free loss); ``projector``
            (``'inverted'`` (default with a teacher), ``'traditional'``, ``'identity'``, or a dict with
            ``direction`` and :class:`FeatureProjector` options); ``loss`` (a registered loss config);
            ``align`` (``'interpolate'`` (default) or ``'pool'``); ``vector`` (``'broadcast'`` (default) or
            ``'pool'``: how a pooled classifier's (B, C) vector meets a map or tokens).
        projector (str | dict): the projector of entries that do not set their own. Default
            ``'inverted'``; ``model.projector='traditional'`` switches a whole config.
        dry_run_size (tuple[int, int]): image size of the build-time dry run that infers channel
            counts and the teacher's truncation point. Default (64, 64).
        nonfinite (str): what to do when a distillation term is NaN/Inf: ``'raise'`` (default: stop,
            naming the entry and iteration) or ``'skip'`` (drop the term for that step, with a warning).
        truncate_teachers (bool): stop each teacher's forward after its last tapped module.
            Default True.
        max_kd_ratio (float, optional): at the first training step, log each distillation term as a
            fraction of the student's task loss and warn when one exceeds this. Default 0.5: on the
            quick-start task a term starting at 0.75 of the task loss cost 3 mIoU, while 0.008 and 0.075
            did alike (docs/tuning.md). None turns the check off.
        init_cfg (dict, optional): passed to ``BaseModel``.
        data_preprocessor (dict, optional): used as the student's preprocessor when the student
            config has none (the Runner passes a config's top-level ``data_preprocessor`` here, as
            mmpretrain configs do). The distiller always runs the student's preprocessor.
    """

    def __init__(self, student, teachers=None, distill=(), projector='inverted', dry_run_size=(64, 64),
                 nonfinite='raise', truncate_teachers=True, max_kd_ratio=0.5, init_cfg=None,
                 data_preprocessor=None):
        super().__init__(init_cfg=init_cfg)
        if max_kd_ratio is not None and (isinstance(max_kd_ratio, bool) or not isinstance(max_kd_ratio, (int, float))
                                         or max_kd_ratio < 0):
            raise ValueError(f'max_kd_ratio must be a number >= 0 or None (no check), got {max_kd_ratio!r}')
        self.max_kd_ratio = max_kd_ratio
        self._scale_checked = max_kd_ratio is None
        if nonfinite not in ('raise', 'skip'):
            raise ValueError(f"nonfinite must be 'raise' or 'skip', got {nonfinite!r}")
        self.nonfinite = nonfinite
        self.truncate_teachers = truncate_teachers
        student_cfg, scope = load_model_spec(student)
        if data_preprocessor is not None:
            # mmpretrain configs keep `data_preprocessor` at top level and the Runner hands it to the
            # outer model (this wrapper): it belongs to the student.
            # A student config's own preprocessor wins (mmseg configs also define a top-level one).
            if student_cfg.get('data_preprocessor') is None:
                student_cfg['data_preprocessor'] = data_preprocessor
        if scope is not None:
            student_cfg['_scope_'] = scope
        self.student, self.student_scope = build_model_from_spec(student_cfg)
        check_student(self.student)
        self.data_preprocessor = self.student.data_preprocessor
        teachers, distill = _checked_containers(teachers, distill)
        if not distill:
            raise ValueError('CrossTaskDistiller: `distill` is empty: add at least one entry (a teacher '
                             'entry, or a teacher-free loss such as SpectralTailLoss on a student tap)')
        self._parse_entries(distill, teachers, projector)
        # Teachers are kept in a plain dict on purpose (see teacher.py): not submodules.
        self.teachers = {}
        for name, opts in teachers.items():
            check_teacher_options(name, opts)
            if name in self._teacher_specs:
                self.teachers[name] = FrozenTeacher(name, **opts)
            else:
                warnings.warn(f'teacher {name!r} is not used by any distill entry; it is not built')
        self.student_taps = TapSet(self.student, [e['student'] for e in self._entries], owner='student')
        for name, teacher in self.teachers.items():
            teacher.set_taps(self._teacher_specs[name])
            teacher.match_student_normalization(self.data_preprocessor, input_channels(self.student))
        self.entries = nn.ModuleDict()
        self._build_entries(dry_run_size)
        self._keep_features = False
        self.kept_features = {}
        self._register_load_state_dict_pre_hook(self._bare_student_into_distiller)

    def _bare_student_into_distiller(self, state_dict, prefix, *args):
        """A bare student's state dict (an export, or any checkpoint of the student model) given to the
        distiller - ``load_from`` in a distillation config - loads into ``student.``, by any tool."""
        move_bare_student_in_place(state_dict, prefix, self.student.state_dict().keys())

    # -- build ----------------------------------------------------------------------------------
    def _parse_entries(self, distill, teachers, default_projector):
        self._entries, self._teacher_specs = [], {}
        seen = set()
        for i, e in enumerate(distill):
            unknown = set(e) - _ENTRY_KEYS
            if unknown:
                raise KeyError(f'distill entry {i}: unknown keys {sorted(unknown)}; allowed: {sorted(_ENTRY_KEYS)}')
            name = e.get('name', f'entry{i}')
            if not isinstance(name, str) or name in seen or not name.isidentifier():
                raise ValueError(f'distill entry {i}: name {name!r} must be a unique identifier')
            seen.add(name)
            if 'student' not in e or 'loss' not in e:
                raise KeyError(f'distill entry {name!r} needs `student` (a tap) and `loss`')
            loss = build_loss(e['loss'], f'distill entry {name!r}')  # validated where it is built
            if e.get('align', 'interpolate') not in _ALIGN_MODES:
                raise ValueError(f"distill entry {name!r}: align must be one of {_ALIGN_MODES}, got {e['align']!r}")
            if e.get('vector', DEFAULT_VECTOR) not in VECTOR_MODES:
                raise ValueError(f"distill entry {name!r}: vector must be one of {VECTOR_MODES}, got {e['vector']!r}")
            teacher_name = teacher_tap = None
            if e.get('teacher') is not None:
                teacher_name, teacher_tap = self._split_teacher_tap(name, e['teacher'], teachers)
                self._teacher_specs.setdefault(teacher_name, []).append(teacher_tap)
                t_index = len(self._teacher_specs[teacher_name]) - 1
            else:
                t_index = None
                if e.get('projector') not in (None, 'identity'):
                    raise ValueError(f'distill entry {name!r} has a projector but no teacher')
            self._entries.append(dict(name=name, student=e['student'], teacher=teacher_name,
                                      t_index=t_index, projector=e.get('projector', default_projector),
                                      loss=loss, align=e.get('align', 'interpolate'),
                                      vector=e.get('vector', DEFAULT_VECTOR),
                                      same_task=bool(e.get('same_task', False))))

    @staticmethod
    def _split_teacher_tap(entry, spec, teachers):
        if isinstance(spec, dict):
            spec = dict(spec)
            tname = spec.pop('name', None)
            tap = spec
        elif ':' in spec:
            tname, tap = spec.split(':', 1)
        else:
            tname, tap = None, spec
        if tname is None:
            if len(teachers) != 1:
                raise ValueError(f'distill entry {entry!r}: name the teacher as "<teacher>:<tap>" '
                                 f'(teachers: {sorted(teachers)})')
            tname = next(iter(teachers))
        if tname not in teachers:
            raise KeyError(f'distill entry {entry!r}: unknown teacher {tname!r}; teachers: {sorted(teachers)}')
        return tname, tap

    def _example_inputs(self, size):
        """Two random images with the student's channel count (1 for a grayscale student)."""
        gen = torch.Generator().manual_seed(0)
        return torch.randn(2, input_channels(self.student), *size, generator=gen)

    @torch.no_grad()
    def _build_entries(self, size):
        x = self._example_inputs(size)
        was_training = self.student.training
        # In training mode, as the taps are read during training (DDRNet's backbone returns one map in eval
        # mode, a tuple with its auxiliary branch in training); BatchNorm statistics and the random stream
        # are put back, so building the distiller changes neither.
        buffers = [(b, b.clone()) for b in self.student.buffers()]
        self.student.train()
        try:
            with torch.random.fork_rng(devices=[]):
                # truncated: only the taps' shapes are needed, and heads after them may need data samples
                # even in tensor mode (MaskFormer, Mask2Former), which a student gets in training
                _, s_feats = self.student_taps.record(self.student, x, mode='tensor', truncate=True)
        finally:
            self.student.train(was_training)
            for b, saved in buffers:
                b.copy_(saved)
        t_feats = {}
        for name, teacher in self.teachers.items():
            t_feats[name] = teacher.features(x, truncate=self.truncate_teachers)
        for i, e in enumerate(self._entries):
            loss = e['loss']
            if e['teacher'] is None:
                self.entries[e['name']] = DistillEntry(e['name'], loss, direction=None)
                continue
            direction, proj_opts = _projector_cfg(e['projector'])
            s_feat, t_feat = s_feats[i], t_feats[e['teacher']][e['t_index']]
            if getattr(loss, 'same_task_only', False):
                self._check_same_task(e, type(loss).__name__, direction, s_feat, t_feat)
            names = (f"student tap {self.student_taps.specs[i]!r}",
                     f"teacher {e['teacher']!r} tap {self.teachers[e['teacher']].taps.specs[e['t_index']]!r}")
            projector = build_projector(direction, s_feat, t_feat, names=names, vector=e['vector'], **proj_opts)
            entry = DistillEntry(e['name'], loss, direction, projector, e['align'], e['vector'])
            try:  # validate the pairing now, not at the first training step
                entry(s_feat, t_feat)
            except Exception as exc:
                raise ValueError(f'distill entry {e["name"]!r}: {names[0]} {tuple(s_feat.shape)} and '
                                 f'{names[1]} {tuple(t_feat.shape)} cannot be compared: {exc}') from exc
            self.entries[e['name']] = entry
        for name, teacher in self.teachers.items():
            print_log(f'teacher {name!r}: forward stops after {teacher.taps.stop_path!r}'
                      if teacher.taps.stop_path else f'teacher {name!r}: full forward', logger='current')

    @staticmethod
    def _check_same_task(e, loss_name, direction, s_feat, t_feat):
        """Logit losses compare predictions over the same labels: refuse them across tasks."""
        if not e['same_task']:
            raise ValueError(
                f"distill entry {e['name']!r}: {loss_name} compares predictions, so it only makes sense when "
                f"teacher {e['teacher']!r} predicts the same labels as the student (same task). If it does, set "
                "same_task=True on the entry; for a teacher of another task use a feature loss "
                "(FeatureL2Loss, AttentionTransferLoss, ...) with projector='inverted'.")
        if direction != 'identity':
            raise ValueError(f"distill entry {e['name']!r}: {loss_name} takes logits: use projector='identity'")
        if s_feat.shape[1:] != t_feat.shape[1:] and s_feat.shape[1] != t_feat.shape[1]:
            raise ValueError(f"distill entry {e['name']!r}: {loss_name}: the student predicts "
                             f"{s_feat.shape[1]} classes, the teacher {t_feat.shape[1]}: not the same task")

    # -- device, mode ----------------------------------------------------------------------------
    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for teacher in getattr(self, 'teachers', {}).values():
            teacher.apply(fn)
        return self

    def train(self, mode=True):
        super().train(mode)
        for teacher in getattr(self, 'teachers', {}).values():
            teacher.model.eval()  # a teacher is always in eval mode
        return self

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode=mode)

    def teacher_features(self, inputs):
        """``{teacher name: [features in tap order]}`` for a batch of student inputs."""
        return {name: t.features(inputs, truncate=self.truncate_teachers) for name, t in self.teachers.items()}

    def loss(self, inputs, data_samples):
        """The student's losses plus one ``loss_kd_<name>`` term per distill entry."""
        t_feats = self.teacher_features(inputs)
        losses, s_feats = self.student_taps.record(self.student.loss, inputs, data_samples)
        self._check_task_losses(losses)
        for i, e in enumerate(self._entries):
            entry = self.entries[e['name']]
            t_feat = None if e['teacher'] is None else t_feats[e['teacher']][e['t_index']]
            value = entry(s_feats[i], t_feat, keep=self.kept_features if self._keep_features else None)
            if not torch.isfinite(value).all():
                iteration = MessageHub.get_current_instance().get_info('iter')
                msg = (f'distill entry {e["name"]!r} gave a non-finite loss ({float(value.detach())}) at '
                       f'iteration {iteration}; lower its loss_weight, normalise the features '
                       "(normalize='l2') or set nonfinite='skip'")
                if self.nonfinite == 'raise':
                    raise FloatingPointError(msg)
                warnings.warn(msg + ' - skipped for this step')
                # An exact zero that still touches every projector parameter, so DDP sees their grads.
                # (p * 0 would be NaN where a weight is already Inf.)
                value = sum((torch.where(torch.isfinite(p), p, torch.zeros_like(p)) * 0).sum()
                            for p in entry.parameters()) + value.new_zeros(())
            key = f'loss_kd_{e["name"]}'
            if key in losses:
                raise KeyError(f'the student already returns a loss named {key!r}')
            losses[key] = value
        if not self._scale_checked and self.training:
            self._scale_checked = True
            self._check_kd_scale(losses)
        return losses

    @staticmethod
    def _check_task_losses(losses):
        """The student's own losses must be finite: skipping a distillation term cannot repair them."""
        task = {k: v.detach() for k, v in losses.items() if 'loss' in k and torch.is_tensor(v)}
        if not task or bool(torch.stack([torch.isfinite(v).all() for v in task.values()]).all()):
            return  # one device sync for all the terms
        bad = {k: v for k, v in task.items() if not bool(torch.isfinite(v).all())}
        if bad:
            iteration = MessageHub.get_current_instance().get_info('iter')
            shown = ', '.join(f'{k}={v.detach().float().mean().item()}' for k, v in bad.items())
            raise FloatingPointError(
                f'the student\'s task loss is non-finite at iteration {iteration} ({shown}): the student has '
                'diverged (nonfinite=\'skip\' only drops distillation terms). Lower the learning rate or the '
                'distillation loss_weight, and restart from the last checkpoint.')

    def parse_losses(self, losses):
        """mmengine's reduction, with an mmpretrain student's bare ``loss`` logged as ``loss_task``.

        mmengine logs the total under ``loss``; an mmpretrain student also names its single task loss
        ``loss``, which would overwrite the logged total with the task loss alone.
        """
        if 'loss' in losses:
            losses = OrderedDict(('loss_task' if k == 'loss' else k, v) for k, v in losses.items())
        return super().parse_losses(losses)

    def _check_kd_scale(self, losses):
        """Once: how large each distillation term starts, relative to the task loss."""
        _, log_vars = self.parse_losses(losses)  # reduced as the optimiser sees them
        values = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in log_vars.items()}
        kd = {k: v for k, v in values.items() if k.startswith('loss_kd_')}
        task = sum(v for k, v in values.items() if k != 'loss' and 'loss' in k and not k.startswith('loss_kd_'))
        terms = ', '.join(f'{k} {v:.4g}' for k, v in kd.items())
        if task <= 0:
            print_log(f'distillation terms at the first step: {terms}; the task loss is {task:.4g}, so they '
                      f"cannot be compared with it (total loss {values['loss']:.4g})", logger='current')
            return
        ratios = {k: v / task for k, v in kd.items()}
        print_log(f"first step: total loss {values['loss']:.4g} = task {task:.4g} + distillation; the terms as "
                  'fractions of the task loss: ' + ', '.join(f'{k} {r:.3g}' for k, r in ratios.items()),
                  logger='current')
        for k, r in ratios.items():
            if r < 0:
                warnings.warn(f'{k} starts negative ({r:.2f} x the task loss): a distillation term should be '
                              '>= 0; it lowers the total loss by moving away from the teacher')
            elif r > self.max_kd_ratio:
                warnings.warn(f'{k} starts at {r:.2f} x the task loss (> max_kd_ratio={self.max_kd_ratio}): '
                              'on the quick-start task a term at 0.75 x cost 3 mIoU (docs/tuning.md); '
                              'consider a lower loss_weight')

    def keep_features(self, flag=True):
        """Keep the next training steps' (student, aligned teacher) features per entry in
        ``self.kept_features`` (used by ``ProjectorSpectrumHook``; off by default, costs nothing)."""
        self._keep_features = flag
        if not flag:
            self.kept_features = {}

    # -- info ------------------------------------------------------------------------------------
    def entry_summary(self):
        """A short text table of the entries (for logs and docs)."""
        rows = []
        for i, e in enumerate(self._entries):
            entry = self.entries[e['name']]
            proj = entry.projector
            shape = '' if proj is None else f' {tuple(proj.matrix.shape[::-1])}'
            teacher = '-' if e['teacher'] is None else f"{e['teacher']}:{self.teachers[e['teacher']].taps.specs[e['t_index']]!r}"
            rows.append(f"{e['name']}: student {self.student_taps.specs[i]!r} <- {teacher} "
                        f"[{entry.direction or 'teacher-free'}{shape}] {type(entry.loss).__name__}")
        return '\n'.join(rows)
