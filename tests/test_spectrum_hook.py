"""ProjectorSpectrumHook in a Runner run, and teacher-free configs through tools/train.py."""
import json
import os.path as osp
import sys

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


def test_teacher_free_classifier_trains(tiny_cls, tmp_path):
    work = str(tmp_path / 'tf')
    proc = run_tool('train', osp.join(DATA, 'cls_teacher_free_tiny.py'), '--work-dir', work, '--cfg-options',
                    *cls_data_options(tiny_cls))
    log = proc.stdout + proc.stderr
    assert 'loss_kd_tail' in log and 'accuracy/top1' in log
    assert "teacher '" not in log  # no teacher was built (the distiller logs each teacher it builds)
