"""tools/list_taps.py: every tappable path with its layout and shape, in distill-entry syntax, for plain
mmseg/mmpretrain configs and for KD configs (student and teachers); the distiller's errors point to it."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn

import mmcrosskd  # noqa: F401
from conftest import DATA, ROOT, run_tool
from mmcrosskd.models.taps import tappable_outputs
from mmcrosskd.runner_utils import load_config

# By path: putting tools/ on sys.path would let its test.py shadow the standard library's `test` package.
_spec = importlib.util.spec_from_file_location('list_taps', osp.join(ROOT, 'tools', 'list_taps.py'))
list_taps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(list_taps)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        a = self.act(self.stem(x))
        tokens = a.flatten(2).transpose(1, 2)          # (B, N, C)
        b = self.act(a)                                  # the same module, called twice
        return (a, tokens), self.fc(b.mean((2, 3)))


def test_rows_by_hand():
    net = Net()
    rows, error = tappable_outputs(net, lambda: net(torch.randn(2, 3, 8, 6)))
    assert error is None
    by_tap = {r['tap']: r for r in rows}
    assert list(by_tap) == ['stem', 'act', 'fc']  # the order modules first finished
    assert by_tap['stem']['layout'] == 'map' and by_tap['stem']['shape'] == (2, 4, 4, 3)
    assert by_tap['act']['calls'] == 2
    assert by_tap['fc']['layout'] == 'vector' and by_tap['fc']['shape'] == (2, 5)


def test_forward_that_stops_early_lists_what_ran():
    net = Net()

    def run():
        net.stem(torch.randn(1, 3, 4, 4))
        raise TypeError('needs data samples')
    rows, error = tappable_outputs(net, run)
    assert [r['tap'] for r in rows] == ['stem'] and isinstance(error, TypeError)


def test_plain_mmseg_config_in_entry_syntax():
    sections = list_taps.list_taps(load_config(osp.join(DATA, 'seg_fcn_r18_tiny.py')), (64, 64))
    assert len(sections) == 1
    rows = {r['tap']: r for r in sections[0]['rows']}
    assert rows['backbone']['layout'] == 'tuple of 4' and rows['backbone']['shape'] is None
    # ResNetV1c-18, dilated (output stride 8): 64 px -> 8 x 8 at stages 3 and 4
    assert rows['backbone[3]']['layout'] == 'map' and rows['backbone[3]']['shape'] == (2, 512, 8, 8)
    assert rows['backbone.layer1']['shape'] == (2, 64, 16, 16)
    assert 'auxiliary_head' not in ' '.join(rows)  # not in this config; loss-only heads never run anyway


def test_kd_config_lists_student_and_teachers_with_their_prefix():
    sections = list_taps.list_taps(load_config(osp.join(DATA, 'seg_kd_tiny.py')), (64, 64))
    assert [s['prefix'] for s in sections] == ['', 'cls:', 'depth:']
    cls_rows = {r['tap']: r for r in sections[1]['rows']}
    # mmpretrain ResNet-18 (output stride 32): 64 px -> 2 x 2; its classifier head gives (2, 1000)
    assert cls_rows['cls:backbone.layer4']['shape'] == (2, 512, 2, 2)
    assert cls_rows['cls:head.fc']['layout'] == 'vector'
    text = list_taps.format_sections(sections, match='layer4')
    assert 'cls:backbone.layer4' in text and 'backbone.layer3' not in text


def test_tokens_of_an_mmpretrain_vit_at_the_tool_command_line():
    proc = run_tool('list_taps', 'mmpretrain::deit/deit-tiny_4xb256_in1k.py', '--size', '32', '48',
                    '--match', 'layers.11')
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith('backbone.layers.11 '))
    # patch 16: 32 x 48 px -> 2 x 3 = 6 patches + the class token, 192 channels
    assert row.split()[1] == 'tokens' and '(2, 7, 192)' in row


def test_distiller_errors_point_to_list_taps():
    from mmengine.registry import DefaultScope

    from mmcrosskd.models import CrossTaskDistiller
    cfg = load_config(osp.join(DATA, 'seg_fcn_r18_tiny.py'))
    student = dict(cfg.model, _scope_='mmseg')
    loss = dict(type='FeatureL2Loss')
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.raises(KeyError, match='tools/list_taps.py CONFIG'):
            CrossTaskDistiller(student=student, distill=[dict(student='backbone.layr4', loss=loss)])
        # a module that exists but never runs on images alone: the decode head's loss module
        with pytest.raises(RuntimeError, match=r'did not run.*tools/list_taps.py CONFIG'):
            CrossTaskDistiller(student=student, distill=[dict(student='decode_head.loss_decode', loss=loss)])


def test_attention_probabilities_are_marked_and_stage_outputs_come_first():
    """(B, heads, N, N) softmax outputs are attention, not a feature map; the top-level modules' outputs
    (``backbone``, ``backbone[i]``) are listed before the modules inside them."""
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_drop = nn.Dropout(0.0)
            self.proj = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            tokens = x.flatten(2)                                          # (B, C, N), N = 4
            probs = (tokens.transpose(1, 2) @ tokens).softmax(-1)          # (B, N, N)
            probs = self.attn_drop(probs[:, None].expand(-1, 2, -1, -1))   # (B, heads, N, N)
            return (self.proj(x), probs)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = Attn()

        def forward(self, x):
            return self.backbone(x)

    model = Model()
    rows, _ = tappable_outputs(model, lambda: model(torch.randn(2, 4, 4, 4)))
    by_tap = {r['tap']: r for r in rows}
    assert by_tap['backbone.attn_drop']['layout'] == 'attention'
    assert by_tap['backbone[1]']['layout'] == 'attention'      # a softmax's rows sum to 1
    assert by_tap['backbone[0]']['layout'] == 'map' and by_tap['backbone.proj']['layout'] == 'map'
    ordered = [r['tap'] for r in list_taps.stages_first(rows)]
    assert ordered[:3] == ['backbone', 'backbone[0]', 'backbone[1]']
    text = list_taps.format_sections([dict(title='m', prefix='', input=(2, 4, 4, 4), rows=list_taps.stages_first(rows),
                                           error=None)])
    lines = text.splitlines()
    assert lines[2] == '-- stage outputs (start from backbone[-1]) --' and '-- inside them --' in lines
