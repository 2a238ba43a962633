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


# -- nested outputs and layouts (issue 26) -----------------------------------------------------------------------
class Pairs(nn.Module):
    """A backbone whose stages return a pair, as DPT's ViT (map, class token) and Conformer do."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        a = self.conv(x)
        return [(a, a.mean((2, 3))), [a * 2, a.mean((2, 3)) * 2]]


class PairNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Pairs()

    def forward(self, x, mode='tensor'):
        return self.backbone(x)


def test_nested_taps_string_and_dict():
    assert TapSpec.parse('backbone[-1][0]').indices == (-1, 0)
    assert TapSpec.parse(dict(tap='backbone[-1][0]')).indices == (-1, 0)
    assert TapSpec.parse(dict(path='backbone', index=[-1, 1])).indices == (-1, 1)
    net = PairNet()
    x = torch.randn(2, 3, 4, 4)
    taps = TapSet(net, ['backbone[-1][0]', dict(tap='backbone[0][1]'), dict(path='backbone', index=[1, 1])])
    _, (a, v0, v1) = taps.record(net, x)
    conv = net.backbone.conv(x)
    assert torch.allclose(a, conv * 2) and torch.allclose(v0, conv.mean((2, 3)))
    assert torch.allclose(v1, conv.mean((2, 3)) * 2)
    assert taps.layouts == ['map', 'vector', 'vector']


def test_a_nested_output_names_each_double_index_with_its_shape():
    net = PairNet()
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(TypeError) as err:
        TapSet(net, ['backbone[-1]']).record(net, x)
    msg = str(err.value)
    assert 'gives a list of 2 items, not a tensor' in msg and 'e.g. "backbone[-1][0]"' in msg
    assert '"backbone[-1][0]" (2, 4, 4, 4)' in msg and '"backbone[-1][1]" (2, 4)' in msg
    with pytest.raises(TypeError) as err:
        TapSet(net, ['backbone']).record(net, x)
    assert '"backbone[0][0]" (2, 4, 4, 4), "backbone[0][1]" (2, 4), "backbone[1][0]" (2, 4, 4, 4)' in str(err.value)
    with pytest.raises(IndexError, match=r"index 2 is out of range; 'backbone\[1\]' returns 2 items"):
        TapSet(net, ['backbone[1][2]']).record(net, x)
    with pytest.raises(TypeError, match=r"has an index, but 'backbone\[1\]\[0\]' returns a Tensor \(2, 4, 4, 4\)"):
        TapSet(net, ['backbone[1][0][0]']).record(net, x)
    with pytest.raises(TypeError, match='an int or a list of ints'):
        TapSpec.parse(dict(path='backbone', index='1'))
    with pytest.raises(KeyError, match='either `tap`'):
        TapSpec.parse(dict(tap='backbone[1]', index=0))


class ChannelFirst(nn.Module):
    """Tokens transposed to (B, C, N), as MLP-Mixer and EfficientFormer's last stage return them."""

    def __init__(self, channels=5, declare=None):
        super().__init__()
        self.proj = nn.Linear(3, channels)
        if declare:
            self.feature_layout = declare

    def forward(self, x):
        tokens = self.proj(x.flatten(2).transpose(1, 2))  # (B, H*W, C)
        return (tokens.transpose(1, 2), )


class TokenNet(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.backbone = ChannelFirst(**kwargs)

    def forward(self, x, mode='tensor'):
        return self.backbone(x)


def test_channel_first_tokens_from_the_tap_the_model_or_the_shape():
    x = torch.randn(2, 3, 4, 4)  # 16 positions
    # the tap says so: made tokens (B, N, C)
    net = TokenNet()
    taps = TapSet(net, [dict(tap='backbone[-1]', layout='bcn'), 'backbone.proj'])
    _, (t, inner) = taps.record(net, x)
    assert t.shape == (2, 16, 5) and torch.equal(t, inner)
    assert taps.layouts == ['bcn', 'tokens']  # nn.Linear acts on the last axis: tokens
    # the model says so (a module attribute; mmpretrain's MlpMixer / EfficientFormer by their class)
    net = TokenNet(declare='bcn')
    _, (t, ) = TapSet(net, ['backbone[-1]']).record(net, x)
    assert t.shape == (2, 16, 5)
    # the shape alone: (B, 5, 16) read as tokens would be 5 tokens of 16 channels; 5 fits no grid, 16 does
    net = TokenNet()
    with pytest.raises(ValueError) as err:
        TapSet(net, ['backbone[-1]']).record(net, x)
    msg = str(err.value)
    assert "tap backbone[-1] gives (2, 5, 16)" in msg and "layout='bcn'" in msg and "layout='tokens'" in msg
    # both readings fit a grid (16 channels, 16 positions): ambiguous too
    net = TokenNet(channels=16)
    with pytest.raises(ValueError, match='fits both readings'):
        TapSet(net, ['backbone[-1]']).record(net, x)
    # one reading only: (B, 17, 5) are a class token and 16 patch tokens of 5 channels
    class Vit(nn.Module):
        def forward(self, x, mode='tensor'):
            return self.backbone(x)

    class Patches(nn.Module):  # a class token and 16 patch tokens of 5 channels
        def forward(self, x):
            return torch.zeros(x.shape[0], 17, 5)

    vit = Vit()
    vit.backbone = Patches()
    _, (t, ) = TapSet(vit, ['backbone']).record(vit, x)
    assert t.shape == (2, 17, 5)


def test_layout_must_match_the_tensor_and_be_known():
    net = Net()
    with pytest.raises(ValueError, match=r"layout='bcn' is for 3-d tensors, but the tap gives \(1, 8, 2, 2\)"):
        TapSet(net, [dict(tap='backbone[-1]', layout='bcn')]).record(net, torch.randn(1, 3, 2, 2))
    with pytest.raises(ValueError, match="unknown layout 'cnb'"):
        TapSpec.parse(dict(tap='backbone[-1]', layout='cnb'))


def test_an_integer_output_is_refused_as_a_feature():
    """MAE-style backbones return (features, mask, ids): the ids are not a feature."""
    class Ids(nn.Module):
        def forward(self, x, mode='tensor'):
            return (x, torch.zeros(x.shape[0], 4, dtype=torch.long))

    model = nn.Module()
    model.backbone = Ids()
    model.forward = lambda x, mode='tensor': model.backbone(x)
    with pytest.raises(TypeError, match=r'tap backbone\[-1\] gives a torch.int64 tensor \(2, 4\) .* not a feature'):
        TapSet(model, ['backbone[-1]']).record(model, torch.randn(2, 3, 2, 2))
