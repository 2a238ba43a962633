"""Exact resume: 4 iterations straight equal 2 iterations, stop, resume, 2 more (student, projectors,
optimizer state, iteration count), on CPU with deterministic settings; and a crash while saving leaves
the previous checkpoint loadable."""
import os
import os.path as osp

import pytest
import torch

import mmcrosskd  # noqa: F401
from mmcrosskd.compat.checkpoint_globals import safe_load
from conftest import DATA, run_tool, seg_data_options

OPTS = ['randomness.seed=0', 'randomness.deterministic=True', 'default_hooks.checkpoint.interval=2',
        'train_cfg.val_interval=100']


def _load(path):
    return safe_load(path)


def test_resume_is_exact(tiny_seg, tmp_path):
    cfg = osp.join(DATA, 'seg_kd_tiny.py')
    data = seg_data_options(tiny_seg)
    straight, split = str(tmp_path / 'straight'), str(tmp_path / 'split')
    run_tool('train', cfg, '--work-dir', straight, '--cfg-options', *data, *OPTS, 'train_cfg.max_iters=4')
    run_tool('train', cfg, '--work-dir', split, '--cfg-options', *data, *OPTS, 'train_cfg.max_iters=2')
    run_tool('train', cfg, '--work-dir', split, '--resume', '--cfg-options', *data, *OPTS, 'train_cfg.max_iters=4')
    a, b = _load(osp.join(straight, 'iter_4.pth')), _load(osp.join(split, 'iter_4.pth'))
    assert a['meta']['iter'] == b['meta']['iter'] == 4
    assert a['state_dict'].keys() == b['state_dict'].keys()
    assert any(k.startswith('entries.') for k in a['state_dict'])
    for k in a['state_dict']:
        assert torch.equal(a['state_dict'][k], b['state_dict'][k]), k
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys() and len(sa) > 0
    for i in sa:
        assert torch.equal(sa[i]['momentum_buffer'], sb[i]['momentum_buffer']), i
    # the 2-iteration checkpoint of the straight run is not the 4-iteration one (the test can fail)
    two = _load(osp.join(straight, 'iter_2.pth'))
    assert not all(torch.equal(two['state_dict'][k], a['state_dict'][k]) for k in a['state_dict'])


def test_crash_while_saving_keeps_previous_file(tmp_path):
    from mmcrosskd.utils.checkpoint import atomic_torch_save
    path = str(tmp_path / 'student_last.pth')
    atomic_torch_save({'w': torch.ones(3)}, path)

    class Boom:
        def __reduce__(self):
            raise KeyboardInterrupt('killed while saving')

    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({'w': torch.zeros(3), 'x': Boom()}, path)
    assert torch.equal(safe_load(path)['w'], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ['student_last.pth']  # no temporary file left


def test_json_record_is_written_whole_or_not_at_all(tmp_path):
    """A sweep's result.json and a run's projector_spectrum.json: a failure mid-write keeps the old file."""
    import json
    from mmcrosskd.utils.checkpoint import atomic_write_json
    path = str(tmp_path / 'result.json')
    atomic_write_json({'value': 1.0, 'curve': [0.5, 1.0]}, path, indent=1)
    with pytest.raises(TypeError):  # json writes the first keys before it meets the bad value
        atomic_write_json({'value': 2.0, 'curve': [0.7], 'bad': object()}, path)
    assert json.load(open(path)) == {'value': 1.0, 'curve': [0.5, 1.0]}
    assert [p.name for p in tmp_path.iterdir()] == ['result.json']


@pytest.mark.parametrize('links', [True, False])
def test_student_last_is_replaced_whole(tmp_path, monkeypatch, links):
    from mmcrosskd.utils import checkpoint
    if not links:  # a file system without hard links: a copy
        monkeypatch.setattr(checkpoint.os, 'link', lambda *a: (_ for _ in ()).throw(OSError('no links')))
    last = str(tmp_path / 'student_last.pth')
    for step in (1, 2):
        src = str(tmp_path / f'student_iter_{step}.pth')
        checkpoint.atomic_torch_save({'w': torch.full((3, ), float(step))}, src)
        checkpoint.atomic_link_or_copy(src, last)
        assert torch.equal(safe_load(last)['w'], torch.full((3, ), float(step)))
    assert os.path.samefile(last, src) == links
    assert sorted(p.name for p in tmp_path.iterdir()) == ['student_iter_1.pth', 'student_iter_2.pth',
                                                          'student_last.pth']
