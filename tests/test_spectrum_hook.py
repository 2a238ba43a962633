"""ProjectorSpectrumHook in a Runner run, and teacher-free configs through tools/train.py."""
import json
import os.path as osp
import sys

import numpy as np
import pytest

import mmcrosskd  # noqa: F401
from conftest import DATA, ROOT, cls_data_options, run_tool, seg_data_options
from mmcrosskd.runner_utils import read_scalars


def test_hook_logs_scalars_and_draws_png(tiny_seg, tmp_path):
    work = str(tmp_path / 'w')
    run_tool('train', osp.join(DATA, 'seg_kd_spectrum_tiny.py'), '--work-dir', work, '--cfg-options',
             *seg_data_options(tiny_seg), 'default_hooks.checkpoint.interval=1')
    lines = [x for x in read_scalars(work) if 'spectrum/cls_c4/effective_rank' in x]
    assert [x['step'] for x in lines] == [1, 2]
    last = lines[-1]
    # inverted entry with L2 on l2-normalised features: the decomposition is logged and adds up
    assert last['spectrum/cls_c4/kd_kt'] + last['spectrum/cls_c4/kd_sr'] == pytest.approx(
        last['spectrum/cls_c4/kd_total'], rel=1e-6)
    assert 0 <= last['spectrum/cls_c4/sr_fraction'] <= 1
    assert 1 <= last['spectrum/cls_c4/effective_rank'] <= 512
    # the soft SR reading: a fraction, larger at 90% of P's spectrum than at 99%; the spread is >= 1
    assert 0 <= last['spectrum/cls_c4/sr_soft99'] <= last['spectrum/cls_c4/sr_soft90'] <= 1
    assert last['spectrum/cls_c4/sr_soft90'] > 0
    assert last['spectrum/cls_c4/spread'] == pytest.approx(
        last['spectrum/cls_c4/sv_max'] / last['spectrum/cls_c4/sv_min'])
    # the traditional entry has a spectrum but no decomposition
    assert 'spectrum/depth_c3/rank99' in last and 'spectrum/depth_c3/kd_kt' not in last
    assert 'spectrum/depth_c3/sr_soft90' not in last

    png = osp.join(work, 'projector_spectrum.png')
    assert osp.isfile(png) and osp.getsize(png) > 1000
    with open(osp.join(work, 'projector_spectrum.json')) as f:
        recorded = json.load(f)
    assert [step for step, _ in recorded['cls_c4']] == [1, 2] and len(recorded['cls_c4'][-1][1]) == 512

    # what a sweep's result.json records: the final spectra from the checkpoint, and the logged ones
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import sweep
    summary = sweep.projector_summary(work)
    assert summary['cls_c4']['final']['shape'] == [512, 512]
    assert summary['cls_c4']['final']['effective_rank'] == pytest.approx(last['spectrum/cls_c4/effective_rank'],
                                                                        rel=1e-3)
    assert summary['cls_c4']['first_logged']['step'] == 1 and summary['cls_c4']['last_logged']['step'] == 2
    assert summary['depth_c3']['final']['rank'] <= 256
    assert summary['cls_c4']['singular_values'] == recorded['cls_c4']

    # the same figures for saved checkpoints, from the command line
    out = str(tmp_path / 'analysis.png')
    proc = run_tool('analyze_projector', osp.join(work, 'iter_1.pth'), osp.join(work, 'iter_2.pth'), '--out', out)
    assert '| cls_c4 | 512 x 512 |' in proc.stdout and '| depth_c3 | 256 x 256 |' in proc.stdout
    assert osp.isfile(out)
    proc = run_tool('analyze_projector', osp.join(DATA, 'seg_kd_tiny.py'), check=False)
    assert proc.returncode != 0

    # the logged split is of the logged loss: kd_total = loss_kd_cls_c4 / its weight (1.0), at step 1 (the
    # logger's window holds that step alone)
    first = {}
    for x in read_scalars(work):
        if x.get('step') == 1:
            first.update(x)
    assert first['spectrum/cls_c4/kd_total'] == pytest.approx(first['loss_kd_cls_c4'] / 1.0, rel=1e-3)

    # --resume continues the history: the file (and the figure) cover the whole run, not the steps since
    run_tool('train', osp.join(DATA, 'seg_kd_spectrum_tiny.py'), '--work-dir', work, '--resume', '--cfg-options',
             *seg_data_options(tiny_seg), 'default_hooks.checkpoint.interval=1', 'train_cfg.max_iters=3')
    with open(osp.join(work, 'projector_spectrum.json')) as f:
        resumed = json.load(f)
    assert [step for step, _ in resumed['cls_c4']] == [1, 2, 3]
    assert resumed['cls_c4'][:2] == recorded['cls_c4']


def _tail_by_hand(feature, k):
    """sum of the eigenvalues of Z^T Z past the k-th, over the rows of Z (float64, numpy)."""
    z = feature.permute(0, 2, 3, 1).reshape(-1, feature.shape[1]).double().numpy()
    eig = np.sort(np.linalg.eigvalsh(z.T @ z))[::-1]
    return eig[k:].sum() / z.shape[0]


def test_teacher_free_loss_value_in_a_training_run(tiny_cls, tmp_path):
    """loss_kd_tail at the first training step is 0.1 x the student's layer1 energy outside its top 8 directions,
    computed by hand from the batch the Runner trains on."""
    from mmengine.hooks import Hook

    from mmcrosskd.runner_utils import build_runner, load_config

    class Probe(Hook):
        """Keeps the student's layer1 output of the first training forward, and that step's logged loss."""

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter == 0:
                layer = runner.model.student.backbone.layer1
                self.handle = layer.register_forward_hook(lambda m, i, out: setattr(self, 'feature', out.detach()))

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter == 0:
                self.handle.remove()
                self.expected = 0.1 * _tail_by_hand(self.feature, k=8)
                self.got = float(outputs['loss_kd_tail'])

    options = dict(o.split('=', 1) for o in cls_data_options(tiny_cls))
    options.update({'model.distill.0.student': 'backbone.layer1', 'train_cfg.max_iters': 1,
                    'train_cfg.val_interval': 100, 'default_hooks.checkpoint.interval': 100})
    cfg = load_config(osp.join(DATA, 'cls_teacher_free_tiny.py'), options, work_dir=str(tmp_path / 'tf_value'))
    runner = build_runner(cfg)
    probe = Probe()
    runner.register_hook(probe)
    runner.train()
    assert probe.expected > 1e-3  # the tail is not empty: a loss returning 0 fails below
    assert probe.got == pytest.approx(probe.expected, rel=1e-3)


def test_teacher_free_classifier_trains(tiny_cls, tmp_path):
    work = str(tmp_path / 'tf')
    proc = run_tool('train', osp.join(DATA, 'cls_teacher_free_tiny.py'), '--work-dir', work, '--cfg-options',
                    *cls_data_options(tiny_cls))
    log = proc.stdout + proc.stderr
    assert 'loss_kd_tail' in log and 'accuracy/top1' in log
    assert "teacher '" not in log  # no teacher was built (the distiller logs each teacher it builds)
