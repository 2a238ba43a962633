"""Never a silent wrong answer (issue #17): each defect a careless or unlucky user met, now either the right
result or a message naming the problem and the fix. The item numbers are the issue's."""
import copy
import errno
import hashlib
import os
import os.path as osp
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS, MODELS, init_default_scope

import mmcrosskd  # noqa: F401
from mmcrosskd.compat.checkpoint_globals import safe_load
from conftest import DATA, ROOT, run_tool, seg_data_options
from mmcrosskd.runner_utils import read_scalars
from mmcrosskd.utils import checkpoint as ckpt_utils

init_default_scope('mmseg')
KD_ONE = osp.join(DATA, 'seg_kd_one_tiny.py')
PLAIN = osp.join(DATA, 'seg_fcn_r18_tiny.py')
KD_MODEL = Config.fromfile(KD_ONE).model


def build(**changes):
    cfg = copy.deepcopy(KD_MODEL).to_dict()
    cfg.update(changes)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def entry(**changes):
    e = dict(name='kd', student='backbone[3]', teacher='cls:backbone.layer4',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2'))
    e.update(changes)
    return e


def seg_batch(n=2, size=64, channels=3):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, size, size), generator=g))
        s.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        samples.append(s)
    return torch.randn(n, channels, size, size, generator=g), samples


def _digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


# -- one short distillation run, shared by the Runner tests ------------------------------------------------
@pytest.fixture(scope='module')
def kd_run(tiny_seg, tmp_path_factory):
    """2 iterations, a checkpoint (and a bare student) every iteration, max_keep_ckpts=1."""
    work = str(tmp_path_factory.mktemp('kd_run'))
    run_tool('train', KD_ONE, '--work-dir', work, '--cfg-options', *seg_data_options(tiny_seg),
             'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=1')
    return work


def _miou(stdout):
    line = [x for x in stdout.splitlines() if x.startswith('{') and 'mIoU' in x][-1]
    return float(line.split("'mIoU': ")[1].split(',')[0].rstrip('}'))


# 1 ---------------------------------------------------------------------------------------------------------
def test_1_checkpoint_kinds_are_mapped_or_refused(kd_run, tiny_seg, tiny_cls, tmp_path):
    data = seg_data_options(tiny_seg)
    logged = [e['mIoU'] for e in read_scalars(kd_run) if 'mIoU' in e][-1]  # the distiller's own validation
    # a distiller checkpoint with the plain student config: its student is loaded, same metric
    proc = run_tool('test', PLAIN, osp.join(kd_run, 'iter_2.pth'), '--work-dir', str(tmp_path / 'a'),
                    '--cfg-options', *data)
    assert 'is a CrossTaskDistiller checkpoint: loading its student' in proc.stdout + proc.stderr
    assert _miou(proc.stdout) == pytest.approx(logged, abs=1e-6)
    # an exported student with the distillation config: loaded into the student, same metric
    proc = run_tool('test', KD_ONE, osp.join(kd_run, 'student_last.pth'), '--work-dir', str(tmp_path / 'b'),
                    '--cfg-options', *data)
    assert "loading it into the distiller's student" in proc.stdout + proc.stderr
    assert _miou(proc.stdout) == pytest.approx(logged, abs=1e-6)
    # a checkpoint of another model: stopped, not a metric of a random model
    proc = run_tool('test', osp.join(DATA, 'cls_resnet18_tiny.py'), osp.join(kd_run, 'iter_2.pth'),
                    '--work-dir', str(tmp_path / 'c'), '--cfg-options', *seg_data_options(tiny_cls), check=False)
    assert proc.returncode != 0 and "does not fit the config's model" in proc.stderr, proc.stderr[-2000:]
    assert 'accuracy/top1' not in proc.stdout


def test_1_load_from_an_exported_student_loads_into_the_distiller(kd_run):
    """The model-level mapping works with mmengine's plain loader too (any tool's load_from)."""
    from mmengine.runner import load_checkpoint
    d = build()
    load_checkpoint(d, osp.join(kd_run, 'student_last.pth'), map_location='cpu', strict=False)
    saved = safe_load(osp.join(kd_run, 'student_last.pth'))['state_dict']
    own = d.student.state_dict()
    assert all(torch.equal(own[k], v) for k, v in saved.items())


# 2 ---------------------------------------------------------------------------------------------------------
@HOOKS.register_module(force=True)
class _OverflowAtIter3Hook(Hook):
    """Stands in for an update that overflows: after step 3 (whose loss was finite) a weight is Inf."""

    priority = 'HIGHEST'  # right after the optimizer step, before any other hook

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == 3:
            with torch.no_grad():
                runner.model.entries['cls_c4'].projector.proj.weight[0, 0] = float('inf')


def test_2_divergence_stops_before_its_checkpoint(tiny_seg, tmp_path):
    cfg = tmp_path / 'overflow.py'
    cfg.write_text(f"_base_ = [{KD_ONE!r}]\ncustom_hooks = [dict(type='ExportStudentHook'), "
                   "dict(type='_OverflowAtIter3Hook')]\n")
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train as train_tool
    work = str(tmp_path / 'work')
    with pytest.raises(FloatingPointError, match=r"training diverged: 1 weights are NaN/Inf at iteration 3 "
                                                 r"\(entries.cls_c4.projector.proj.weight\), so the checkpoint of "
                                                 r"this step was not written; the last checkpoint written, "
                                                 r"'.*iter_2.pth', is intact"):
        train_tool.main([str(cfg), '--work-dir', work, '--cfg-options', *seg_data_options(tiny_seg),
                         'train_cfg.max_iters=4', 'default_hooks.checkpoint.interval=1'])
    from mmcrosskd.utils.checkpoint import nonfinite_entries
    from mmcrosskd.utils.workdir import latest_good_checkpoint
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == [
        'iter_1.pth', 'iter_2.pth', 'student_iter_1.pth', 'student_iter_2.pth', 'student_last.pth']
    for name in ('iter_2.pth', 'student_last.pth'):
        state = safe_load(osp.join(work, name))['state_dict']
        assert not nonfinite_entries(state), name
    assert latest_good_checkpoint(work) == osp.join(work, 'iter_2.pth')  # what --resume takes
    assert not osp.exists(osp.join(work, '.training.lock'))


def test_2_resume_skips_damaged_and_nonfinite_checkpoints(tmp_path, capsys):
    from mmcrosskd.utils.workdir import latest_good_checkpoint
    work = tmp_path
    good = {'meta': {'iter': 1}, 'state_dict': {'w': torch.ones(2)}}
    torch.save(good, work / 'iter_1.pth')
    torch.save({'meta': {'iter': 2}, 'state_dict': {'w': torch.tensor([1.0, float('inf')])}}, work / 'iter_2.pth')
    (work / 'iter_3.pth').write_bytes((work / 'iter_1.pth').read_bytes()[:100])  # cut short by a kill
    (work / 'last_checkpoint').write_text(str(work / 'iter_3.pth'))
    assert latest_good_checkpoint(str(work)) == str(work / 'iter_1.pth')
    assert latest_good_checkpoint(str(tmp_path / 'empty')) is None
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train as train_tool
    with pytest.raises(RuntimeError, match=r"--resume: cannot resume from .*iter_2.pth'.* holds 1 NaN/Inf weights"):
        train_tool.main([PLAIN, '--work-dir', str(tmp_path / 'w'), '--resume', str(work / 'iter_2.pth')])


# 3 ---------------------------------------------------------------------------------------------------------
def test_3_nonfinite_task_loss_stops_even_with_skip():
    d = build(nonfinite='skip', distill=[entry()]).train()
    with torch.no_grad():
        d.student.decode_head.conv_seg.weight.fill_(float('nan'))
    x, samples = seg_batch()
    with pytest.raises(FloatingPointError, match=r"the student's task loss is non-finite .*decode.loss_ce=nan"):
        d(x, samples, mode='loss')


# 4 ---------------------------------------------------------------------------------------------------------
def test_4_export_refuses_to_overwrite_its_input(tmp_path):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import export_student as tool
    src = str(tmp_path / 'iter_4.pth')
    torch.save({'meta': {}, 'state_dict': {'student.w': torch.ones(2), 'entries.kd.w': torch.ones(1)}}, src)
    before = _digest(src)
    with pytest.raises(ValueError, match='is the input checkpoint itself'):
        tool.main([src, src])
    os.link(src, tmp_path / 'alias.pth')  # the same file under another name
    with pytest.raises(ValueError, match='is the input checkpoint itself'):
        tool.main([src, str(tmp_path / 'alias.pth')])
    other = str(tmp_path / 'iter_2.pth')
    torch.save({'meta': {}, 'state_dict': {'student.w': torch.zeros(2)}}, other)
    with pytest.raises(FileExistsError, match='is not a bare student exported by mmcrosskd'):
        tool.main([src, other])
    assert _digest(src) == before
    out = tool.main([src])
    assert tool.main([src, out]) == out  # an earlier export may be replaced
    import analyze_projector
    with pytest.raises(ValueError, match='is one of the input checkpoints'):
        analyze_projector.main([src, '--out', src])
    assert _digest(src) == before
    assert torch.equal(safe_load(out)['state_dict']['w'], torch.ones(2))


# 5 ---------------------------------------------------------------------------------------------------------
def test_5_prepare_data_replaces_folders_whole(tmp_path):
    from conftest import _write_idx  # the stand-in idx writer of the data tests
    import numpy as np
    rng = np.random.default_rng(0)
    src = tmp_path / 'idx'
    src.mkdir()
    for split, n in (('train', 60), ('t10k', 30)):
        _write_idx(src / f'{split}-images-idx3-ubyte.gz', rng.integers(0, 255, (n, 28, 28)))
        _write_idx(src / f'{split}-labels-idx1-ubyte.gz', rng.integers(0, 10, n))
    from mmcrosskd.datasets import prepare_fashion_mnist
    out = tmp_path / 'fm'
    prepare_fashion_mnist(str(out), str(src), cls_per_split=(40, 20), scenes=(8, 4))
    (out / 'depth').mkdir()  # another preparation's folder beside ours is left alone
    prepare_fashion_mnist(str(out), str(src), cls_per_split=(10, 5), scenes=(3, 2))
    count = lambda d: sum(len(f) for _, _, f in os.walk(d))
    assert count(out / 'scenes' / 'img_dir' / 'train') == 3 and count(out / 'scenes' / 'ann_dir' / 'val') == 2
    assert count(out / 'cls' / 'train') == 10 and count(out / 'cls' / 'val') == 5
    assert (out / 'depth').is_dir() and not [p for p in os.listdir(out) if p.startswith('.')]


def test_5_a_failed_preparation_keeps_the_old_folder(tmp_path):
    from mmcrosskd.utils.folders import folder_replaced_whole
    target = tmp_path / 'scenes'
    target.mkdir()
    (target / 'old.png').write_text('x')
    with pytest.raises(KeyboardInterrupt):
        with folder_replaced_whole(str(target)) as tmp:
            open(osp.join(tmp, 'new.png'), 'w').close()
            raise KeyboardInterrupt
    assert os.listdir(target) == ['old.png'] and os.listdir(tmp_path) == ['scenes']


# 6 ---------------------------------------------------------------------------------------------------------
def test_6_work_dir_is_locked_by_its_training(tmp_path):
    import json

    from mmcrosskd.utils.workdir import LOCK_NAME, WorkDirBusyError, work_dir_lock
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train as train_tool
    other = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        lock = tmp_path / LOCK_NAME
        lock.write_text(json.dumps(dict(pid=other.pid, started='earlier', command='tools/train.py A.py')))
        with pytest.raises(WorkDirBusyError, match=rf'in use by another training: process {other.pid}, started '
                                                   r'earlier \(tools/train.py A.py\)'):
            train_tool.main([PLAIN, '--work-dir', str(tmp_path)])
    finally:
        other.kill()
        other.wait()
    # the same lock of a process that has ended is taken over, and released at the end
    with work_dir_lock(str(tmp_path), 'second') as path:
        assert json.loads(open(path).read())['pid'] == os.getpid()
        with pytest.raises(WorkDirBusyError, match=f'process {os.getpid()}'):
            with work_dir_lock(str(tmp_path)):
                pass
    assert not lock.exists()


# 7 ---------------------------------------------------------------------------------------------------------
def test_7_grayscale_student_and_grayscale_teacher():
    gray_pre = dict(type='SegDataPreProcessor', mean=[100.0], std=[50.0], bgr_to_rgb=False, size=(64, 64))
    student = copy.deepcopy(KD_MODEL.student).to_dict()
    student['data_preprocessor'] = gray_pre
    student['backbone']['in_channels'] = 1
    d = build(student=student, distill=[entry()])
    x, samples = seg_batch(channels=1)
    assert torch.isfinite(d(x, samples, mode='loss')['loss_kd_kd'])
    teacher = d.teachers['cls']
    t_pre = teacher.model.data_preprocessor
    expected = ((x * 50 + 100).expand(-1, 3, -1, -1) - t_pre.mean.view(1, 3, 1, 1)) / t_pre.std.view(1, 3, 1, 1)
    assert torch.allclose(teacher.prepare_inputs(x), expected, atol=1e-5)
    # a grayscale teacher of a colour student sees the mean of the student's raw channels
    gray_teacher = dict(config=dict(
        _scope_='mmpretrain', type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[120.0], std=[60.0], to_rgb=False),
        backbone=dict(type='ResNet', depth=18, in_channels=1), neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=512)), seed=1)
    d = build(teachers=dict(cls=gray_teacher), distill=[entry()])
    x, samples = seg_batch()
    assert torch.isfinite(d(x, samples, mode='loss')['loss_kd_kd'])
    s_pre = d.data_preprocessor
    raw = x * s_pre.std.view(1, 3, 1, 1) + s_pre.mean.view(1, 3, 1, 1)
    assert torch.allclose(d.teachers['cls'].prepare_inputs(x), (raw.mean(1, keepdim=True) - 120) / 60, atol=1e-4)


# 8 ---------------------------------------------------------------------------------------------------------
def test_8_resume_explains_changed_entries(kd_run, tiny_seg, tmp_path):
    proc = run_tool('train', KD_ONE, '--work-dir', str(tmp_path), '--resume', osp.join(kd_run, 'iter_2.pth'),
                    '--cfg-options', *seg_data_options(tiny_seg), 'model.distill.0.name=renamed',
                    'train_cfg.max_iters=3', check=False)
    assert proc.returncode != 0
    assert ("the distill entries changed since" in proc.stderr
            and "renamed 'cls_c4' -> 'renamed'" in proc.stderr and 'load_from=' in proc.stderr), proc.stderr[-2000:]


def test_8_entry_changes_in_words():
    from mmcrosskd.hooks.checkpoint_match import describe_entry_changes
    old = {'entries.a.projector.proj.weight': (8, 4), 'entries.b.projector.proj.weight': (8, 2),
           'entries.c.projector.proj.weight': (4, 4), 'student.w': (3, )}
    new = {'entries.z.projector.proj.weight': (8, 4), 'entries.c.projector.proj.weight': (4, 2),
           'entries.d.projector.proj.weight': (1, 1), 'student.w': (3, )}
    assert describe_entry_changes(old, new) == [
        "renamed 'a' -> 'z'", "added 'd'", "removed 'b'",
        "changed 'c' (projector.proj.weight (4, 4) -> projector.proj.weight (4, 2))"]
    assert describe_entry_changes(old, old) == []


# 9 ---------------------------------------------------------------------------------------------------------
def test_9_loss_weight_must_be_a_non_negative_number():
    for weight, error, match in ((-1.0, ValueError, 'finite number >= 0, got -1.0'),
                                 ('1', TypeError, "loss_weight must be a number, got str '1'"),
                                 (None, TypeError, 'loss_weight must be a number, got NoneType'),
                                 (float('inf'), ValueError, 'finite number >= 0')):
        with pytest.raises(error, match=match):
            build(distill=[entry(loss=dict(type='FeatureL2Loss', loss_weight=weight))])
    with pytest.raises(TypeError, match="loss_weight must be a number, got str 'x'"):  # teacher-free, too
        build(distill=[dict(name='t', student='backbone[3]',
                            loss=dict(type='SpectralTailLoss', loss_weight='x'))])


@MODELS.register_module(force=True)
class _SignedTestLoss(nn.Module):
    """A user's teacher-free loss, ``scale * mean|x|``: a negative scale makes it go negative."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale

    def forward(self, student, target=None):
        return self.scale * student.abs().mean()


def test_9_size_check_for_mmpretrain_students_and_negative_terms(recwarn):
    cls_cfg = Config.fromfile(osp.join(DATA, 'cls_teacher_free_tiny.py'))
    model = cls_cfg.model.to_dict()
    model['student']['_scope_'] = 'mmpretrain'
    model['data_preprocessor'] = cls_cfg.data_preprocessor.to_dict()
    model['distill'] = [dict(name='tail', student='backbone[0]', loss=dict(type='_SignedTestLoss', scale=1e3)),
                        dict(name='neg', student='backbone[0]', loss=dict(type='_SignedTestLoss', scale=-0.1))]
    torch.manual_seed(0)
    d = MODELS.build(model).train()
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
    losses = d(torch.randn(4, 3, 32, 32), samples, mode='loss')
    msgs = [str(w.message) for w in recwarn]
    assert any(m.startswith('loss_kd_tail starts at') for m in msgs), msgs  # the `loss` key is the task loss
    assert any(m.startswith('loss_kd_neg starts negative') for m in msgs), msgs
    assert not [m for m in msgs if 'requires_grad' in m]  # item 13: no scalar-conversion warning
    _, log_vars = d.parse_losses(losses)
    total = float(losses['loss']) + float(losses['loss_kd_tail']) + float(losses['loss_kd_neg'])
    assert float(log_vars['loss']) == pytest.approx(total, rel=1e-5)  # the logged `loss` is the total
    assert float(log_vars['loss_task']) == pytest.approx(float(losses['loss']))


# 10 --------------------------------------------------------------------------------------------------------
def test_10_exported_students_follow_max_keep_ckpts_and_mode(kd_run):
    files = sorted(f for f in os.listdir(kd_run) if f.endswith('.pth'))
    assert files == ['iter_2.pth', 'student_iter_2.pth', 'student_last.pth']
    mode = lambda f: os.stat(osp.join(kd_run, f)).st_mode & 0o777
    assert mode('student_iter_2.pth') == mode('iter_2.pth') == mode('student_last.pth')


# 11 --------------------------------------------------------------------------------------------------------
def test_11_options_are_validated():
    with pytest.raises(ValueError, match=r"align must be one of \('interpolate', 'pool'\), got 'poool'"):
        build(distill=[entry(align='poool')])
    with pytest.raises(TypeError, match=r'`distill` must be a list of entries, got a dict'):
        build(distill=entry())
    with pytest.raises(TypeError, match=r'`teachers` must be a dict \{name: dict\(config=...\)\}, got a list'):
        build(teachers=[dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py')])
    teachers = dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1, input_size=32))
    assert build(teachers=teachers, distill=[entry()]).teachers['cls'].input_size == (32, 32)
    teachers['cls']['input_size'] = (32, 0)
    with pytest.raises(ValueError, match=r'input_size must be \(H, W\) in pixels'):
        build(teachers=teachers, distill=[entry()])


def test_11_taps_that_never_run_are_refused():
    from mmcrosskd.models.taps import TapSet

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(12)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    with pytest.raises(ValueError, match=r'is a ModuleList, a container that is never called.*tap its element as '
                                         r'"layers.11"'):
        TapSet(Net(), ['layers[11]'])
    with pytest.raises(ValueError, match=r"names the whole model.*its children: 'layers'"):
        TapSet(Net(), ['[0]'])
    net = Net()
    _, feats = TapSet(net, ['layers.11']).record(net, torch.ones(1, 2))  # the element itself works
    assert feats[0].shape == (1, 2)


def test_11_bn_normalisation_of_a_single_vector_is_refused():
    from mmcrosskd.losses.feature_distance import FeatureL2Loss
    loss = FeatureL2Loss(normalize='bn')
    with pytest.raises(ValueError, match=r"one value per channel \(batch 1, one position\).*constant 0"):
        loss(torch.randn(1, 8), torch.randn(1, 8))
    assert loss(torch.randn(4, 8), torch.randn(4, 8)) > 0


# 12 --------------------------------------------------------------------------------------------------------
def test_12_damaged_files_are_named(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, good)
    cases = {'empty.pth': (b'', r'is empty \(0 bytes\)'),
             'notes.pth': (b'lr = 0.01\n', r"is not a torch checkpoint \(a text file, starting 'lr = 0.01'\)"),
             'cut.pth': (good.read_bytes()[:2000], r'is damaged .*cut short')}
    for name, (content, match) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(RuntimeError, match=match):
            ckpt_utils.read_checkpoint(str(tmp_path / name), 'tools/test.py')
    (tmp_path / 'work').mkdir()
    torch.save({}, tmp_path / 'work' / 'iter_8.pth')
    with pytest.raises(IsADirectoryError, match=r"is a directory, not a checkpoint file: give a file inside it, "
                                                r"e.g. '.*iter_8.pth'"):
        ckpt_utils.read_checkpoint(str(tmp_path / 'work'))


def test_12_every_loader_uses_the_check(tmp_path):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(RuntimeError, match=r"teacher 'cls': checkpoint .*empty.pth' is empty"):
        build(teachers=dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', checkpoint=str(empty))),
              distill=[entry()])
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import export_student as tool
    with pytest.raises(RuntimeError, match=r"export_student: checkpoint .*empty.pth' is empty"):
        tool.main([str(empty), str(tmp_path / 'out.pth')])
    proc = run_tool('test', PLAIN, empty, check=False)
    assert proc.returncode != 0 and 'tools/test.py: checkpoint' in proc.stderr and 'is empty' in proc.stderr


def test_12_disk_full_while_saving_is_reported_and_cleaned(tmp_path, monkeypatch):
    path = str(tmp_path / 'student_last.pth')
    ckpt_utils.atomic_torch_save({'w': torch.ones(3)}, path)

    def full_disk(obj, f):
        f.write(b'PK partial bytes')
        raise RuntimeError('[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing '
                           'file data/0: file write failed')

    monkeypatch.setattr(ckpt_utils.torch, 'save', full_disk)
    with pytest.raises(OSError, match=r'no space left on the disk .*partial file was removed') as info:
        ckpt_utils.atomic_torch_save({'w': torch.zeros(3)}, path)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ['student_last.pth']
    assert torch.equal(safe_load(path)['w'], torch.ones(3))


def test_12_temporaries_of_killed_processes_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    alive = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        (tmp_path / f'.tmp-{dead.pid}-abc.pth').write_bytes(b'half')
        (tmp_path / f'.tmp-{alive.pid}-abc.pth').write_bytes(b'being written')
        ckpt_utils.atomic_torch_save({'w': torch.ones(1)}, str(tmp_path / 'x.pth'))
        assert sorted(os.listdir(tmp_path)) == sorted([f'.tmp-{alive.pid}-abc.pth', 'x.pth'])
    finally:
        alive.kill()
        alive.wait()


# 13 and mmengine's own misreports ---------------------------------------------------------------------------
def test_13_no_scalar_conversion_warning_at_the_first_step(monkeypatch):
    """torch warns once per process when a tensor that requires grad becomes a Python number: spy on the
    conversions themselves (the warning may already have been used up by another test)."""
    converted = []
    for name in ('__float__', 'item'):
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name):
            if self.requires_grad:
                converted.append(_name)
            return _real(self, *args)
        monkeypatch.setattr(torch.Tensor, name, spy)
    d = build(distill=[entry()]).train()
    x, samples = seg_batch()
    d(x, samples, mode='loss')  # the first step: the size check converts the terms to numbers
    assert d._scale_checked and converted == []


def test_13_demo_progress_lines_are_whole():
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import demo
    line = ('11/28 16:00:20 - mmengine - INFO - Iter(train) [1/8]  lr: 1.0000e-02  eta: 0:00:24  time: 3.4962  '
            'data_time: 0.0141  loss: 1.1  decode.loss_ce: 1.0965  decode.acc_seg: 35.8887  loss_kd_cls_c4: 0.004')
    assert demo.progress_line(line).endswith('loss_kd_cls_c4: 0.004') and len(demo.progress_line(line)) > 150
    assert demo.progress_line('11/28 - mmengine - INFO - first step: total loss 1.1 = task 1.0 + distillation')


def test_ctrl_c_at_a_checkpoint_and_resume_without_checkpoint_are_explained(tiny_seg, tmp_path, monkeypatch,
                                                                          capsys):
    """mmengine turns a Ctrl-C while it formats the config into a checkpoint into a config SyntaxError, and
    auto-resume without a checkpoint into 'resumed from None': both are explained."""
    import inspect

    import mmengine.config.config as mm_config
    real = mm_config.FormatCode

    def interrupted_in_checkpoint(*args, **kwargs):
        if any(f.function == 'save_checkpoint' for f in inspect.stack()):
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mm_config, 'FormatCode', interrupted_in_checkpoint)
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train as train_tool
    work = str(tmp_path / 'w')
    with pytest.raises(SystemExit) as info:
        train_tool.main([PLAIN, '--work-dir', work, '--resume', '--cfg-options', *seg_data_options(tiny_seg)])
    message = str(info.value.code)
    assert 'training interrupted (Ctrl-C) at iteration 2 while a checkpoint was being written' in message
    assert 'the config is fine' in message and 'no checkpoint was written yet' in message and '--resume' in message
    assert f"--resume: no checkpoint to resume in '{work}'" in capsys.readouterr().err
    assert not osp.exists(osp.join(work, '.training.lock'))  # released
