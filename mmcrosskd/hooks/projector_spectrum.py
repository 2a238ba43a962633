"""Log the spectrum of each projector and the KT/SR split of each inverted-projector loss."""
import os.path as osp
from collections import defaultdict

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..analysis.decomposition import kd_decomposition, spectrum_stats, student_energy_outside
from ..analysis.plot import plot_spectra
from ..registry import HOOKS
from ..utils.checkpoint import atomic_write_json

_CHECKPOINT_KEY = 'projector_spectrum'


@HOOKS.register_module()
class ProjectorSpectrumHook(Hook):
    """Every ``interval`` training iterations, for every projector entry of a ``CrossTaskDistiller``,
    write to the visualizer (TensorBoard / local backend, with the other scalars):

    * ``spectrum/<entry>/effective_rank``, ``rank90``, ``rank99``, ``rank``, ``sv_max``, ``sv_min``,
      ``spread`` (sv_max / sv_min) - of the projector matrix;
    * for inverted entries: ``spectrum/<entry>/sr_soft90`` and ``sr_soft99``, the fraction of the
      student's feature energy outside the singular directions of P holding 90% / 99% of its spectrum
      (:func:`student_energy_outside`): the soft reading of the SR term, non-zero even when P has full
      rank;
    * for inverted entries with an L2 loss (raw or per-position L2-normalised features):
      ``spectrum/<entry>/kd_total``, ``kd_kt``, ``kd_sr`` and ``sr_fraction``: the decomposition of
      the loss on that iteration's batch (mean reduction, as ``FeatureL2Loss``, before loss_weight).

    At each checkpoint it draws ``<work_dir>/projector_spectrum.png``: each projector's singular
    values over training, so one can watch the projector drop teacher directions; the values themselves
    go to ``<work_dir>/projector_spectrum.json`` (``{entry: [[iteration, [singular values]], ...]}``).
    The history is saved in the checkpoint (``projector_spectrum``, plain lists), so after ``--resume``
    the file and the figure cover the whole run.

    Args:
        interval (int): iterations between two measurements. Default 50.
        plot (bool): draw the PNG at checkpoints (and at the end of training). Default True.
    """

    priority = 'LOW'

    def __init__(self, interval=50, plot=True):
        self.interval, self.plot = interval, plot
        self.history = defaultdict(list)

    @staticmethod
    def _distiller(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return model if hasattr(model, 'entries') and hasattr(model, 'keep_features') else None

    def _due(self, runner):
        return self.every_n_train_iters(runner, self.interval) or runner.iter == 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = self._distiller(runner)
        if model is not None and self._due(runner):
            model.keep_features(True)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        model = self._distiller(runner)
        if model is None or not self._due(runner):
            return
        kept = model.kept_features
        model.keep_features(False)
        step = runner.iter + 1
        scalars = {}
        for name, entry in model.entries.items():
            if entry.projector is None:
                continue
            stats = spectrum_stats(entry.projector.matrix)
            for key in ('effective_rank', 'rank90', 'rank99', 'rank', 'sv_max', 'sv_min', 'spread'):
                scalars[f'spectrum/{name}/{key}'] = float(stats[key])
            self.history[name].append((step, stats['singular_values'].cpu().numpy()))
            normalize = getattr(entry.loss, 'normalize', None)
            if entry.projector.maps_teacher and name in kept:
                with torch.no_grad():
                    soft = student_energy_outside(kept[name][0], entry.projector.matrix.T,
                                                  normalize='l2' if normalize == 'l2' else None)
                for energy, (_, fraction) in soft.items():
                    scalars[f'spectrum/{name}/sr_soft{round(energy * 100)}'] = fraction
            if name in kept and entry.projector.exact_l2_split(entry.loss):
                s, t = kept[name]
                with torch.no_grad():
                    dec = kd_decomposition(s, t, entry.projector.matrix.T, reduction='mean', normalize=normalize)
                scalars[f'spectrum/{name}/kd_total'] = dec['total']
                scalars[f'spectrum/{name}/kd_kt'] = dec['kt']
                scalars[f'spectrum/{name}/kd_sr'] = dec['sr']
                scalars[f'spectrum/{name}/sr_fraction'] = dec['sr'] / max(dec['total'], 1e-30)
        if scalars:
            runner.visualizer.add_scalars(scalars, step=step)
            runner.message_hub.update_info('projector_spectrum', scalars)

    def _draw(self, runner):
        if not (self.history and is_main_process()):
            return
        # rewritten at every drawing: an interruption mid-write must not leave a file a sweep cannot read
        atomic_write_json(self._recorded(), osp.join(runner.work_dir, 'projector_spectrum.json'))
        if self.plot:
            path = osp.join(runner.work_dir, 'projector_spectrum.png')
            plot_spectra(dict(self.history), path, title=f'projector spectra up to iter {runner.iter}')
            runner.logger.info(f'projector spectra drawn to {path}')

    def _recorded(self):
        """The history as ``{entry: [[iteration, [singular values]], ...]}`` (plain lists: JSON and
        ``weights_only`` checkpoints take them)."""
        return {name: [[step, [round(float(v), 6) for v in sv]] for step, sv in steps]
                for name, steps in self.history.items()}

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint[_CHECKPOINT_KEY] = self._recorded()
        self._draw(runner)

    def after_load_checkpoint(self, runner, checkpoint):
        """On ``--resume``, continue the saved history (a ``load_from`` run starts its own)."""
        saved = checkpoint.get(_CHECKPOINT_KEY)
        if not (saved and getattr(runner, '_resume', False)):
            return
        self.history = defaultdict(list)
        for name, steps in saved.items():
            self.history[name] = [(int(step), np.asarray(sv, dtype=np.float64)) for step, sv in steps]

    def after_train(self, runner):
        self._draw(runner)
