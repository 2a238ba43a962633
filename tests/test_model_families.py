"""Any model: one shipped config per model family (a fixed, diverse sample that runs in CI in a few minutes), each
as a randomly initialised teacher into a fixed student and as a student under a fixed teacher, one training step
each. The sweep over every family is benchmarks/model_families.py (docs/model_families.md)."""
import os.path as osp
import sys

import pytest
import torch

import mmcrosskd  # noqa: F401
from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import model_families as mf  # noqa: E402

# CNN, mobile CNN, plain ViT, hierarchical ViT, modern CNN (classification); a transformer segmentor, a
# dilated-CNN segmentor and a two-branch real-time segmentor (segmentation).
SAMPLE = {
    'resnext': 'mmpretrain::resnext/resnext50-32x4d_8xb32_in1k.py',
    'mobilenet_v2': 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    'deit': 'mmpretrain::deit/deit-tiny_4xb256_in1k.py',
    'swin': 'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py',
    'convnext': 'mmpretrain::convnext/convnext-tiny_32xb128_in1k.py',
    'segformer': 'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    'deeplabv3plus': 'mmseg::deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    'bisenetv2': 'mmseg::bisenetv2/bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024.py',
}


# Swin's 7 x 7 windows need maps of at least 7 x 7 at its third stage (mmpretrain asserts it), so 224 px.
SIZE = dict(swin=224)


@pytest.mark.parametrize('family', sorted(SAMPLE))
@pytest.mark.parametrize('role', ['teacher', 'student'])
def test_family(family, role):
    check = mf.check_as_teacher if role == 'teacher' else mf.check_as_student
    out = check(SAMPLE[family], SIZE.get(family, 64))
    assert out['tap'] and out['loss_kd'] > 0


def test_a_model_that_fails_at_the_size_is_not_hidden_by_an_early_tap():
    """Swin at 64 px stops at its third stage; a tap from before that point must not make it pass."""
    spec, scope = mf._model_spec(SAMPLE['swin'])
    with pytest.raises(AssertionError, match='smaller than the window size'):
        mf.find_tap(spec, scope, 64)


def test_deepest_map_prefers_the_backbones_last_map():
    rows = [dict(tap='backbone.stem', layout='map'), dict(tap='backbone', layout='tuple of 2'),
            dict(tap='backbone[0]', layout='map'), dict(tap='backbone[1]', layout='tokens'),
            dict(tap='neck', layout='map'), dict(tap='head.fc', layout='vector')]
    assert mf.deepest_map(rows) == 'backbone[0]'
    assert mf.deepest_map([r for r in rows if not r['tap'].startswith('backbone')]) == 'neck'
    assert mf.deepest_map([rows[-1]]) is None


def test_pick_config_prefers_a_plain_small_model():
    files = ['vit-base-p16_4xb544-ipu_in1k.py', 'vit-large-p16_64xb64_in1k.py', 'vit-base-p16_64xb64_in1k.py',
             'vit-base-p16_64xb64_in1k-384px.py']
    assert mf.pick_config(files) == 'vit-base-p16_64xb64_in1k.py'
    assert mf.pick_config(['convnext-base_32xb128_in1k.py', 'convnext-tiny_32xb128_in1k.py']) == \
        'convnext-tiny_32xb128_in1k.py'


def test_report_counts_and_reasons(tmp_path):
    ok = dict(ok=True, tap='backbone[3]', size=64, loss_kd=0.1)
    results = [
        dict(family='mmseg/a', config='mmseg::a/a.py', teacher=ok, student=ok, seconds=1.0),
        dict(family='mmpretrain/b', config='mmpretrain::b/b.py', teacher=ok, seconds=2.0,
             student=dict(ok=None, size=64, error='NotImplementedError: multi-view')),
        dict(family='mmpretrain/c', config='mmpretrain::c/c.py', seconds=3.0,
             teacher=dict(ok=False, size=224, error="ModuleNotFoundError: No module named 'transformers'"),
             student=dict(ok=False, size=224, error='ValueError: boom')),
        dict(family='mmseg/d', config='mmseg::d/d.py', seconds=300, timeout='no result within 300 s'),
    ]
    for r in results[1:]:
        r['tap_rule'] = 'user'  # tapped as a user would; mmseg/a is a row of an earlier sweep
    out = tmp_path / 'families.md'
    mf.write_report(results, str(out), 'CMD')
    text = out.read_text()
    assert '- as teacher: ok: 2, outside: 1, n/a: 0, FAIL: 0, timeout: 1' in text
    assert '- as student: ok: 1, outside: 0, n/a: 1, FAIL: 1, timeout: 1' in text
    assert '| mmseg/d | `d/d.py` | timeout - no result within 300 s |' in text
    assert '| mmseg/a (earlier sweep: deepest map) | `a/a.py` | ok' in text
    assert '- tapped as a user would (`backbone[-1]` / `backbone`): 3 of 4 families; the rows marked' in text
    results[0]['tap_rule'] = 'user'  # every row re-run at the user's tap: no word of an earlier sweep
    mf.write_report(results, str(out), 'CMD')
    assert '- tapped as a user would (`backbone[-1]` / `backbone`): 4 of 4 families\n' in out.read_text()
    assert 'earlier sweep' not in out.read_text()
    row_c = next(ln for ln in text.splitlines() if ln.startswith('| mmpretrain/c |'))
    assert 'outside: needs a package that is not installed' in row_c and 'FAIL - ValueError: boom' in row_c


def test_a_grayscale_model_is_checked_with_its_own_channel_count():
    """LeNet (MNIST) takes 1-channel images: the dry run and the student's batch use 1 channel, and as a
    teacher of a colour student its input is the grey average (docs/model_families.md once listed it as FAIL)."""
    config = 'mmpretrain::lenet/lenet5_mnist.py'
    spec, scope = mf._model_spec(config)
    assert mf.find_tap(spec, scope, 32).startswith('backbone')
    assert mf.check_as_teacher(config, 32)['loss_kd'] > 0


def test_a_head_that_needs_data_samples_stops_the_dry_run_after_the_backbone():
    """MaskFormer-style heads take data samples even in tensor mode; the backbone ran, so it is tapped."""
    import torch.nn as nn

    class NeedsSamples(nn.Module):
        def forward(self, x, batch_data_samples):
            return x

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 5, 3))
            self.decode_head = NeedsSamples()

        def forward(self, x, mode='tensor'):
            return self.decode_head(self.backbone(x))

    class Broken(Model):  # fails inside the backbone: must not pass on an early tap
        def forward(self, x, mode='tensor'):
            self.backbone[0](x)
            raise AssertionError('window larger than the map')

    from unittest import mock
    with mock.patch('mmcrosskd.utils.config.build_model_from_spec', lambda spec, scope: (Model(), scope)):
        assert mf.find_tap({}, 'mmseg', 16) == 'backbone'
    with mock.patch('mmcrosskd.utils.config.build_model_from_spec', lambda spec, scope: (Broken(), scope)):
        with pytest.raises(AssertionError, match='window'):
            mf.find_tap({}, 'mmseg', 16)


def test_native_size_reads_the_backbones_img_size():
    assert mf._native_size('mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py') == 512
    assert mf._native_size('mmpretrain::lenet/lenet5_mnist.py') == 32  # its test pipeline's Resize
    assert mf._native_size(SAMPLE['resnext']) == 224  # ImageNet's CenterCrop
    assert mf._native_size(SAMPLE['segformer']) is None  # keep-ratio resizes fix nothing


# -- every layout pair with the user's tap (issue 26) ------------------------------------------------------------
@pytest.mark.parametrize('projector', ['inverted', 'traditional'])
def test_a_pooled_vit_classifier_teacher_into_the_fcn_student(projector):
    """DeiT's classifier backbone returns its class token, a (B, 192) vector, at `backbone[-1]`: by default it is
    repeated over the quick-start student's (B, 512, 8, 8) map and a 1x1 convolution maps between the two;
    with vector='pool' the map is pooled to a vector and a linear layer maps between the two."""
    from mmcrosskd.models import CrossTaskDistiller
    spec, scope = mf._model_spec(SAMPLE['deit'])
    assert mf.find_tap(spec, scope, 64) == 'backbone[-1]'
    vector = dict(inverted={}, traditional=dict(vector='pool'))[projector]
    model = CrossTaskDistiller(
        student=mf.FIXED_STUDENT, teachers=dict(t=dict(config=SAMPLE['deit'], seed=0)), max_kd_ratio=None,
        distill=[dict(name='kd', student='backbone[-1]', teacher='t:backbone[-1]', projector=projector,
                      loss=dict(type='FeatureL2Loss', normalize='l2'), **vector)])
    proj = model.entries['kd'].projector.proj
    if projector == 'inverted':  # broadcast
        assert isinstance(proj, torch.nn.Conv2d) and tuple(proj.weight.shape) == (512, 192, 1, 1)
    else:  # pooled
        assert isinstance(proj, torch.nn.Linear) and tuple(proj.weight.shape) == (192, 512)
    assert model.teachers['t'].taps.layouts == ['vector'] and model.student_taps.layouts == ['map']
    log = _one_step(model)
    assert log['loss_kd_kd'] > 0


def _one_step(model, size=64):
    from mmengine.optim import OptimWrapper
    batch = mf.make_batch(model.student, size)
    model.train()
    log = model.train_step(batch, OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-4)))
    return {k: float(v) for k, v in log.items()}


def test_channel_first_tokens_of_mlp_mixer_are_recognised_from_the_model():
    """MLP-Mixer's backbone returns (B, C, N) (768 channels, 196 patches at 224 px): made (B, 196, 768) tokens and
    folded onto the 14 x 14 grid against the quick-start student's map, with no `layout` on the tap."""
    config = 'mmpretrain::mlp_mixer/mlp-mixer-base-p16_64xb64_in1k.py'
    from mmcrosskd.models import CrossTaskDistiller
    model = CrossTaskDistiller(
        student=mf.FIXED_STUDENT, teachers=dict(t=dict(config=config, seed=0, input_size=224)), max_kd_ratio=None,
        distill=[dict(name='kd', student='backbone[-1]', teacher='t:backbone[-1]', projector='traditional',
                      loss=dict(type='FeatureL2Loss', normalize='l2'))])
    assert model.teachers['t'].taps.layouts == ['bcn']
    feat, = model.teachers['t'].features(torch.randn(2, 3, 64, 64))
    assert feat.shape == (2, 196, 768)
    assert _one_step(model)['loss_kd_kd'] > 0


def test_a_nested_backbone_output_is_tapped_with_a_double_index():
    """Conformer's backbone returns one (convolution branch, transformer branch) pair per stage, here two pooled
    vectors; the first, (B, 256), meets the student's map pooled to a vector."""
    config = 'mmpretrain::conformer/conformer-tiny-p16_8xb128_in1k.py'
    spec, scope = mf._model_spec(config)
    tap = mf.find_tap(spec, scope, 64)
    assert tap.startswith('backbone[-1][0] (nested: `backbone[-1]` is a')
    from mmcrosskd.models import CrossTaskDistiller
    common = dict(student=mf.FIXED_STUDENT, max_kd_ratio=None, teachers=dict(t=dict(config=config, seed=0)))
    with pytest.raises(TypeError, match=r'"backbone\[-1\]\[0\]" \(2, 256\), "backbone\[-1\]\[1\]" \(2, 384\)'):
        CrossTaskDistiller(distill=[dict(name='kd', student='backbone[-1]', teacher='t:backbone[-1]',
                                         loss=dict(type='FeatureL2Loss'))], **common)
    model = CrossTaskDistiller(distill=[dict(name='kd', student='backbone[-1]', teacher=dict(
        name='t', tap='backbone[-1][0]'), loss=dict(type='FeatureL2Loss', normalize='l2'))], **common)
    assert _one_step(model)['loss_kd_kd'] > 0


def test_a_headless_student_is_refused_at_build():
    from mmcrosskd.models import CrossTaskDistiller
    from mmcrosskd.models.students import NotAStudent
    with pytest.raises(NotAStudent, match=r"has no head .*head=dict\(type='LinearClsHead'"):
        CrossTaskDistiller(student='mmpretrain::dinov2/vit-small-p14_dinov2-pre_headless.py',
                           teachers=dict(t=dict(config=SAMPLE['resnext'], seed=0)),
                           distill=[dict(name='kd', student='backbone[-1]', teacher='t:backbone[-1]',
                                         loss=dict(type='FeatureL2Loss'))])
