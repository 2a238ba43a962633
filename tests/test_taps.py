"""Feature taps on a small model: paths, indices, inputs, truncation, messages."""
import pytest
import torch
import torch.nn as nn

from mmcrosskd.models.taps import TapSet, TapSpec


class Stages(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Conv2d(3, 4, 1)
        self.layer2 = nn.Conv2d(4, 6, 1)
        self.layer3 = nn.Conv2d(6, 8, 1)

    def forward(self, x):
        a = self.layer1(x)
        b = self.layer2(a)
        return a, b, self.layer3(b)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Stages()
        self.head = nn.Conv2d(8, 2, 1)
        self.head_calls = 0

    def forward(self, x, mode='tensor'):
        feats = self.backbone(x)
        self.head_calls += 1
        return self.head(feats[-1])


def test_parse():
    assert TapSpec.parse('backbone[2]').index == 2
    assert TapSpec.parse('backbone[-1]').index == -1
    assert TapSpec.parse('backbone.layer3').index is None
    spec = TapSpec.parse(dict(path='head', io='input'))
    assert spec.io == 'input' and spec.path == 'head'
    with pytest.raises(KeyError, match='unknown tap keys'):
        TapSpec.parse(dict(path='head', layer=1))


def test_output_index_and_input_taps():
    net = Net()
    taps = TapSet(net, ['backbone[1]', 'backbone.layer3', dict(path='head', io='input')])
    x = torch.randn(2, 3, 5, 5)
    out, (b, c, head_in) = taps.record(net, x)
    assert b.shape == (2, 6, 5, 5) and c.shape == (2, 8, 5, 5)
    assert torch.equal(head_in, c)
    assert torch.equal(out, net.head(c))


def test_hooks_do_nothing_when_not_recording():
    net = Net()
    taps = TapSet(net, ['backbone[1]'])
    net(torch.randn(1, 3, 2, 2))
    assert taps._store == {}


def test_truncation_skips_later_modules():
    net = Net()
    taps = TapSet(net, ['backbone[0]', 'backbone.layer2'])
    calls = net.head_calls
    out, feats = taps.record(net, torch.randn(1, 3, 2, 2), truncate=True)
    assert taps.stop_path == 'backbone'  # the backbone's output is the last tap to fire
    assert out is None and net.head_calls == calls  # the head never ran
    assert feats[1].shape[1] == 6
    out, _ = taps.record(net, torch.randn(1, 3, 2, 2), truncate=False)
    assert out is not None and net.head_calls == calls + 1


def test_truncation_inside_a_backbone():
    net = Net()
    seen = []
    net.backbone.layer3.register_forward_hook(lambda *a: seen.append(1))
    taps = TapSet(net, ['backbone.layer1', 'backbone.layer2'])
    _, (a, b) = taps.record(net, torch.randn(1, 3, 2, 2), truncate=True)
    assert taps.stop_path == 'backbone.layer2' and seen == []  # layer3 did not run
    _, (a2, b2) = taps.record(net, torch.randn(1, 3, 2, 2), truncate=False)
    assert seen == [1]


def test_shared_module_reads_first_call_when_truncated_last_otherwise():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.conv(self.conv(x))

    model = Twice()
    taps = TapSet(model, ['conv'])
    x = torch.randn(1, 3, 2, 2)
    _, (first, ) = taps.record(model, x, truncate=True)
    _, (last, ) = taps.record(model, x, truncate=False)
    assert torch.allclose(first, model.conv(x)) and torch.allclose(last, model(x))


def test_wrong_path_names_closest_real_paths():
    with pytest.raises(KeyError) as err:
        TapSet(Net(), ['backbone.layr3'], owner='student')
    msg = str(err.value)
    assert "student: no module 'backbone.layr3'" in msg and "'backbone.layer3'" in msg


def test_index_errors():
    net = Net()
    taps = TapSet(net, ['backbone[5]'])
    with pytest.raises(IndexError, match=r'index 5 is out of range; .* returns 3 items \(valid: 0..2\)'):
        taps.record(net, torch.randn(1, 3, 2, 2))
    taps = TapSet(net, ['backbone'])
    with pytest.raises(TypeError, match=r'gives a tuple of 3 items, not a tensor: add an index, e.g. "backbone\[2\]"'):
        taps.record(net, torch.randn(1, 3, 2, 2))
    taps = TapSet(net, ['head[0]'])
    with pytest.raises(TypeError, match='has an index, but'):
        taps.record(net, torch.randn(1, 3, 2, 2))
