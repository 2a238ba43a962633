"""mmdet detectors as teachers (the paper's Figure 1 teacher is Mask R-CNN): images only, eval mode,
re-normalised to the detector's own preprocessing (mean/std, BGR->RGB), stopped after the last tap, and a
real Runner run. Skipped only when mmdet is not installed (`MMDET=1 make install`; the CI installs it)."""
import importlib.util
import os.path as osp

import pytest
import torch

import mmcrosskd  # noqa: F401
from mmcrosskd.compat.checkpoint_globals import safe_load
from conftest import DATA, run_tool, seg_data_options

pytestmark = pytest.mark.skipif(importlib.util.find_spec('mmdet') is None,
                                reason='mmdet is not installed (MMDET=1 make install)')
MASK_RCNN = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'


@pytest.fixture(scope='module')
def teacher():
    from mmcrosskd.models import FrozenTeacher
    return FrozenTeacher('det', MASK_RCNN, seed=0)


def _student_preprocessor():
    """An mmseg preprocessor unlike the detector's: other mean/std, no BGR->RGB swap."""
    from mmseg.models import SegDataPreProcessor
    return SegDataPreProcessor(mean=[40.0, 50.0, 60.0], std=[60.0, 70.0, 80.0], bgr_to_rgb=False)


def _raw_images(size, n=2):
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 256, (3, *size), generator=g, dtype=torch.uint8) for _ in range(n)]


def test_inputs_match_the_detectors_own_preprocessing(teacher):
    raw = _raw_images((64, 96))
    student_pre = _student_preprocessor()
    teacher.match_student_normalization(student_pre)
    student_inputs = student_pre(dict(inputs=raw), training=False)['inputs']
    # What mmdet itself feeds Mask R-CNN for the same BGR images (64 x 96 needs no padding to 32).
    expected = teacher.model.data_preprocessor(dict(inputs=raw), training=False)['inputs']
    assert teacher.model.data_preprocessor._channel_conversion  # the detector swaps BGR -> RGB...
    assert teacher._flip  # ... the student does not, so the teacher's input channels are flipped
    torch.testing.assert_close(teacher.prepare_inputs(student_inputs), expected, atol=1e-4, rtol=1e-5)


def test_features_stop_after_the_neck_and_equal_extract_feat(teacher):
    raw = _raw_images((64, 64))
    student_pre = _student_preprocessor()
    teacher.match_student_normalization(student_pre)
    teacher.set_taps(['neck[1]', 'backbone[3]'])
    calls = []
    hook = teacher.model.rpn_head.register_forward_hook(lambda *a: calls.append(1))
    try:
        fpn8, c5 = teacher.features(student_pre(dict(inputs=raw), training=False)['inputs'])
    finally:
        hook.remove()
    assert teacher.taps.stop_path == 'neck' and calls == []  # the RPN and RoI heads never ran
    assert not teacher.model.training
    expected = teacher.model.extract_feat(teacher.model.data_preprocessor(dict(inputs=raw), training=False)['inputs'])
    assert fpn8.shape == (2, 256, 8, 8) and c5.shape == (2, 2048, 2, 2)
    torch.testing.assert_close(fpn8, expected[1], atol=1e-4, rtol=1e-4)


def test_input_size_not_divisible_by_32(teacher):
    """The FPN resizes its top-down path to each level, so no padding is needed (padding would shift the
    teacher's feature grid against the student's pixels)."""
    teacher.set_taps(['neck[1]'])
    (fpn8,) = teacher.features(torch.randn(1, 3, 72, 88))
    assert fpn8.shape == (1, 256, 9, 11)


def test_distiller_trains_with_the_runner_and_lists_taps(tiny_seg, tmp_path):
    cfg = osp.join(DATA, 'seg_kd_maskrcnn_tiny.py')
    proc = run_tool('train', cfg, '--work-dir', str(tmp_path), '--cfg-options', *seg_data_options(tiny_seg))
    log = proc.stdout + proc.stderr
    assert "teacher 'det': forward stops after 'neck'" in log
    assert 'loss_kd_fpn8' in log and 'mIoU' in log
    ckpt = safe_load(osp.join(tmp_path, 'iter_2.pth'))
    assert not any('rpn_head' in k or 'roi_head' in k for k in ckpt['state_dict'])  # no teacher weights
    proc = run_tool('list_taps', cfg, '--match', 'neck')
    lines = proc.stdout.splitlines()
    row = next(ln for ln in lines if ln.startswith('det:neck[1] '))
    assert row.split()[1:] == ['map', '(2,', '256,', '8,', '8)']
    # the detector's images-only forward stops at the RPN (it needs image metas), so nothing after the neck
    assert not any(ln.startswith('det:rpn_head') for ln in lines)
    assert 'stopped early' in proc.stdout
