"""A shortened quick start (a few iterations, a data subset) runs end to end and prints its table."""
import re

from conftest import run_tool


def test_short_demo(tmp_path):
    proc = run_tool('demo', '--work-dir', tmp_path / 'work', '--data', tmp_path / 'data', '--teacher-iters', 4,
                    '--student-iters', 4, '--cls-images', 256, 64, '--scenes', 32, 16)
    out = proc.stdout
    assert re.search(r'\| teacher ResNet-18 \| classification \| top-1 [\d.]+ \|', out), out[-3000:]
    assert re.search(r'\| student FCN-R18, no distillation \| segmentation \| mIoU [\d.]+ \|', out)
    assert re.search(r'\| student FCN-R18, inverted projector from the classifier \| segmentation \| mIoU [\d.]+ \|', out)
    assert 'Iter(train)' in out  # progress is shown
    assert (tmp_path / 'work' / 'student_kd' / 'student_last.pth').is_file()
    # a second run reuses the teacher
    proc = run_tool('demo', '--work-dir', tmp_path / 'work', '--data', tmp_path / 'data', '--teacher-iters', 4,
                    '--student-iters', 2, '--cls-images', 256, 64, '--scenes', 32, 16)
    assert 'reusing the teacher' in proc.stdout
