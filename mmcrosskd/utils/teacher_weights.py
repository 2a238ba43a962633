"""Where a teacher's weights come from, in every form an OpenMMLab config gives them.

* a local file;
* an ``http(s)://`` URL, or a prefix of mmengine's ``CheckpointLoader`` that names one through
  mmengine's own tables (``torchvision://``, ``modelzoo://``, ``open-mmlab://``, ``openmmlab://``,
  ``mmcls://``): read from the torch hub cache (``$TORCH_HOME/hub/checkpoints``, the file mmengine's
  loader reads), downloaded there when missing and the network allows; offline, one message names the
  URL, the exact cache path and a command that downloads it;
* any other prefix ``CheckpointLoader`` knows (``s3://``, ``petrel://``, ``pavi://``, prefixes you
  registered): loaded by ``CheckpointLoader`` itself;
* ``'zoo'``: the weights that mmpretrain's / mmseg's own metafiles (``.mim/model-index.yml``) publish
  for the teacher's config.

Files we read ourselves are loaded with ``weights_only=True``; every form then goes through the same
strict key and shape check (:func:`mmcrosskd.utils.checkpoint.fit_teacher_state`). ``key_map``
renames torchvision / timm classifier weights to mmpretrain's names (:data:`KEY_MAPS`).
"""
import difflib
import functools
import importlib.util
import os
import os.path as osp
import re
import shlex
import urllib.parse
from collections import OrderedDict

from .checkpoint import fit_teacher_state, load_teacher_checkpoint

ZOO = 'zoo'
#: Set to 1 to never try a download (a missing file then gives the "put it here" message at once).
OFFLINE_ENV = 'MMCROSSKD_OFFLINE'
_URL_SCHEMES = ('http://', 'https://')
# Any ``scheme://`` (mmengine also accepts a ``backend:`` before ``s3://``).
_ANY_SCHEME = re.compile(r'^(\S+:)?[A-Za-z][\w+.-]*://')
# Packages whose wheels ship configs and metafiles under ``.mim/``.
ZOO_PACKAGES = ('mmpretrain', 'mmseg', 'mmdet')


# -- URLs and the torch hub cache -----------------------------------------------------------------
def _mmengine_home():
    # As mmengine.runner.checkpoint._get_mmengine_home, without creating the folder.
    return osp.expanduser(os.getenv('MMENGINE_HOME', osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'),
                                                               'mmengine')))


def checkpoint_url(checkpoint):
    """The URL (or, for some ``open-mmlab://`` entries, the local file) a checkpoint string names.

    Args:
        checkpoint (str): a URL or ``torchvision://``, ``modelzoo://``, ``open-mmlab://``,
            ``openmmlab://``, ``mmcls://`` followed by a model name from mmengine's tables.

    Returns:
        str | None: the URL or file; None when ``checkpoint`` has none of these forms.
    """
    if checkpoint.startswith(_URL_SCHEMES):
        return checkpoint
    scheme, sep, key = checkpoint.partition('://')
    if not sep or scheme not in ('torchvision', 'modelzoo', 'open-mmlab', 'openmmlab', 'mmcls'):
        return None
    from mmengine.runner import checkpoint as mm_checkpoint
    if scheme in ('torchvision', 'modelzoo'):
        table = mm_checkpoint.get_torchvision_models()
    elif scheme == 'mmcls':
        table = mm_checkpoint.get_mmcls_models()
    else:
        table = mm_checkpoint.get_external_models()
        key = mm_checkpoint.get_deprecated_model_names().get(key, key)
    if key not in table:
        close = difflib.get_close_matches(key, list(table), n=5, cutoff=0.3)
        raise KeyError(f'{checkpoint!r}: mmengine knows no {scheme}:// model {key!r}; closest names: '
                       f'{", ".join(close) or "none"}')
    url = table[key]
    return url if url.startswith(_URL_SCHEMES) else osp.join(_mmengine_home(), url)


def hub_cache_path(url):
    """Where torch's hub (and so mmengine's ``load_from_http``) keeps the file of ``url``.

    Args:
        url (str): an ``http(s)`` URL.

    Returns:
        str: ``<torch hub dir>/checkpoints/<file name of the URL>``.
    """
    import torch
    return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urllib.parse.urlparse(url).path))


def fetch_url(url, name='teacher'):
    """The cached file of ``url``; downloaded into the torch hub cache first if it is missing.

    Args:
        url (str): an ``http(s)`` URL.
        name (str): the teacher's name, for messages.

    Returns:
        str: the local file.

    Raises:
        FileNotFoundError: the file is not cached and cannot be downloaded (offline, or
            ``MMCROSSKD_OFFLINE=1``); the message gives the cache path and a download command.
    """
    path = hub_cache_path(url)
    if osp.isfile(path):
        return path
    if os.environ.get(OFFLINE_ENV, '') not in ('', '0'):
        reason = f'{OFFLINE_ENV} is set'
    else:
        import torch
        try:
            os.makedirs(osp.dirname(path), exist_ok=True)
            # Writes a temporary file and renames it: an interrupted download leaves no partial file.
            torch.hub.download_url_to_file(url, path, progress=os.isatty(2))
            return path
        except (OSError, ValueError) as exc:  # URLError, HTTPError and socket errors are OSErrors
            reason = f'download failed: {exc}'
    raise FileNotFoundError(
        f'teacher {name!r}: checkpoint {url} is not in the torch hub cache and could not be downloaded '
        f'({reason}). Put the file at {path} (the folder is $TORCH_HOME/hub/checkpoints), e.g. on a machine '
        f'with network: curl -L --create-dirs -o {shlex.quote(path)} {shlex.quote(url)}')


# -- the model zoo --------------------------------------------------------------------------------
def _package_root(package):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


@functools.lru_cache(maxsize=None)
def zoo_index(package):
    """``{config path inside the package's configs/: weights URL}`` from its shipped metafiles.

    Where a config has several weights, the entry named like the config wins, else the first (as
    mmengine picks the first).

    Args:
        package (str): ``'mmpretrain'``, ``'mmseg'``, ...

    Returns:
        dict[str, str]: empty when the package or its ``.mim/model-index.yml`` is absent.
    """
    root = _package_root(package)
    index_file = osp.join(root, '.mim', 'model-index.yml') if root else None
    if index_file is None or not osp.isfile(index_file):
        return {}
    from mmengine.fileio import load
    found = {}
    for meta in load(index_file).get('Import') or []:
        for model in (load(osp.join(root, '.mim', meta)) or {}).get('Models') or []:
            config, weights = model.get('Config'), model.get('Weights')
            if not config or not isinstance(weights, str):
                continue
            rel = config.split('configs/', 1)[-1]
            named_like_config = model.get('Name') == osp.splitext(osp.basename(rel))[0]
            if rel not in found or named_like_config:
                found[rel] = weights
    return found


def _package_and_rel(config):
    """``('mmpretrain', 'resnet/x.py')`` for ``'mmpretrain::resnet/x.py'`` or a file inside a package's
    ``.mim/configs``; None for any other config."""
    if not isinstance(config, str):
        return None
    if '::' in config:
        package, rel = config.split('::', 1)
        return package, rel
    real = osp.realpath(config)
    for package in ZOO_PACKAGES:
        root = _package_root(package)
        if root is None:
            continue
        configs = osp.realpath(osp.join(root, '.mim', 'configs')) + os.sep
        if real.startswith(configs):
            return package, real[len(configs):]
    return None


def zoo_url(config, name='teacher'):
    """The weights URL that the config's package publishes for it.

    Args:
        config (str): ``'mmpretrain::resnet/resnet50_8xb32_in1k.py'`` (or that file's path).
        name (str): the teacher's name, for messages.

    Returns:
        str: the URL.
    """
    found = _package_and_rel(config)
    if found is None:
        raise ValueError(
            f"teacher {name!r}: checkpoint='zoo' takes the weights a package publishes for its own config, "
            f"so the teacher's config must be one of them, e.g. 'mmpretrain::resnet/resnet50_8xb32_in1k.py' "
            f'(got {config!r}). Give a checkpoint file or URL otherwise.')
    package, rel = found
    index = zoo_index(package)
    if rel in index:
        return index[rel]
    close = difflib.get_close_matches(rel, list(index), n=8, cutoff=0.3)
    raise KeyError(
        f"teacher {name!r}: {package}'s metafiles publish no weights for {rel!r}. "
        + (f'Closest configs with weights: {", ".join(f"{package}::{c}" for c in close)}'
           if close else f'{package} publishes weights for {len(index)} configs; none is close'))


# -- key maps: torchvision / timm classifiers -> mmpretrain ImageClassifier --------------------------
# mmpretrain's MobileNetV2 groups torchvision's features[1..17] into 7 layers of these many blocks.
_MOBILENET_V2_BLOCKS = (1, 2, 3, 4, 3, 3, 1)


def _resnet_keys(key):
    # mmpretrain's ResNet names its layers as torchvision does (mmcv names BatchNorms bn1, bn2...).
    return 'head.' + key if key.startswith('fc.') else 'backbone.' + key


def _mobilenet_v2_keys(key, value):
    if key.startswith('classifier.1.'):
        return 'head.fc.' + key[len('classifier.1.'):]
    m = re.match(r'features\.(\d+)\.(.*)$', key)
    if m is None:
        return key  # left as is: the strict check names it
    index, rest = int(m.group(1)), m.group(2)
    if index in (0, 18):  # the first and last conv-bn-relu6
        return f'backbone.conv{1 if index == 0 else 2}.' + re.sub(r'^0\.', 'conv.', re.sub(r'^1\.', 'bn.', rest))
    layer, block = 1, index - 1
    while block >= _MOBILENET_V2_BLOCKS[layer - 1]:
        block -= _MOBILENET_V2_BLOCKS[layer - 1]
        layer += 1
    sub = re.match(r'conv\.(\d+)\.(.*)$', rest)
    part, tail = int(sub.group(1)), sub.group(2)
    if re.match(r'[01]\.', tail):  # a conv-bn-relu6 unit: conv.K.0 / conv.K.1
        tail = ('conv.' if tail[0] == '0' else 'bn.') + tail[2:]
    elif tail == 'weight' and value.dim() == 4:  # the last, linear 1x1 conv
        tail = 'conv.weight'
    else:  # the BatchNorm after it: mmpretrain keeps both in one ConvModule
        part, tail = part - 1, 'bn.' + tail
    return f'backbone.layer{layer}.{block}.conv.{part}.{tail}'


_TORCHVISION_VIT = (
    (r'^class_token$', 'backbone.cls_token'),
    (r'^conv_proj\.', 'backbone.patch_embed.projection.'),
    (r'^encoder\.pos_embedding$', 'backbone.pos_embed'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.ln_1\.', r'backbone.layers.\1.ln1.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.ln_2\.', r'backbone.layers.\1.ln2.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_(weight|bias)$',
     r'backbone.layers.\1.attn.qkv.\2'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.out_proj\.', r'backbone.layers.\1.attn.proj.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(0|linear_1)\.', r'backbone.layers.\1.ffn.layers.0.0.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(3|linear_2)\.', r'backbone.layers.\1.ffn.layers.1.'),
    (r'^encoder\.ln\.', 'backbone.ln1.'),
    (r'^heads\.head\.', 'head.layers.head.'),
)
_TIMM_VIT = (
    (r'^cls_token$', 'backbone.cls_token'),
    (r'^pos_embed$', 'backbone.pos_embed'),
    (r'^patch_embed\.proj\.', 'backbone.patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'backbone.layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'backbone.layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.qkv\.', r'backbone.layers.\1.attn.qkv.'),
    (r'^blocks\.(\d+)\.attn\.proj\.', r'backbone.layers.\1.attn.proj.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'backbone.layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'backbone.layers.\1.ffn.layers.1.'),
    (r'^norm\.', 'backbone.ln1.'),
    (r'^head\.', 'head.layers.head.'),
)


def _by_rules(rules):
    def rename(key):
        for pattern, repl in rules:
            new, hits = re.subn(pattern, repl, key)
            if hits:
                return new
        return key  # left as is: the strict check names it
    return rename


def _with_bn_counters(state):
    """Old checkpoints lack BatchNorm's ``num_batches_tracked``; torch itself fills it with 0."""
    import torch
    out = OrderedDict(state)
    for key in state:
        if key.endswith('.running_mean'):
            out.setdefault(key[:-len('running_mean')] + 'num_batches_tracked', torch.tensor(0))
    return out


def _architecture(state, source):
    keys = set(state)
    if 'features.0.0.weight' in keys and 'classifier.1.weight' in keys:
        return 'mobilenet_v2'
    if 'conv_proj.weight' in keys:
        return 'vit_torchvision'
    if 'patch_embed.proj.weight' in keys and any(k.startswith('blocks.') for k in keys):
        return 'vit_timm'
    if 'conv1.weight' in keys and any(k.startswith('layer1.') for k in keys):
        return 'resnet'
    raise ValueError(f'key_map={source!r}: the checkpoint is none of the supported architectures '
                     f'({", ".join(SUPPORTED_ARCHITECTURES[source])}); its first keys: '
                     f'{", ".join(list(state)[:5])}')


def _convert(state, source):
    arch = _architecture(state, source)
    if arch not in SUPPORTED_ARCHITECTURES[source]:
        raise ValueError(f'key_map={source!r} converts {", ".join(SUPPORTED_ARCHITECTURES[source])}; '
                         f'this checkpoint looks like {arch}')
    if arch == 'mobilenet_v2':
        out = OrderedDict((_mobilenet_v2_keys(k, v), v) for k, v in state.items())
    else:
        rename = {'resnet': _resnet_keys, 'vit_torchvision': _by_rules(_TORCHVISION_VIT),
                  'vit_timm': _by_rules(_TIMM_VIT)}[arch]
        out = OrderedDict((rename(k), v) for k, v in state.items())
    return _with_bn_counters(out)


def from_torchvision(state):
    """torchvision ResNet / MobileNetV2 / VisionTransformer keys -> mmpretrain ``ImageClassifier`` keys.

    Args:
        state (dict): a torchvision model's state dict.

    Returns:
        OrderedDict: the same tensors under mmpretrain's names (``backbone.*``, ``head.*``).
    """
    return _convert(state, 'torchvision')


def from_timm(state):
    """timm ResNet / VisionTransformer keys -> mmpretrain ``ImageClassifier`` keys.

    Args:
        state (dict): a timm model's state dict.

    Returns:
        OrderedDict: the same tensors under mmpretrain's names.
    """
    return _convert(state, 'timm')


#: ``key_map`` names a teacher accepts, and the architectures each one converts.
KEY_MAPS = {'torchvision': from_torchvision, 'timm': from_timm}
SUPPORTED_ARCHITECTURES = {'torchvision': ('resnet', 'mobilenet_v2', 'vit_torchvision'),
                           'timm': ('resnet', 'vit_timm')}


def get_key_map(key_map):
    """A key-map function from its name (:data:`KEY_MAPS`), a callable, or None."""
    if key_map is None or callable(key_map):
        return key_map
    if key_map not in KEY_MAPS:
        raise ValueError(f'key_map must be one of {sorted(KEY_MAPS)} or a function, got {key_map!r}')
    return KEY_MAPS[key_map]


# -- one entry point --------------------------------------------------------------------------------
def load_teacher_weights(model, checkpoint, name='teacher', config=None, prefix=None, allow_unsafe=False,
                         key_map=None):
    """Load a teacher's weights from any checkpoint form (see the module docstring), strictly.

    Args:
        model (nn.Module): the teacher.
        checkpoint (str): a file, a URL, a ``CheckpointLoader`` prefix, or ``'zoo'``.
        name (str): the teacher's name, for messages.
        config (str, optional): the teacher's config (needed for ``'zoo'``).
        prefix (str, optional): keep only keys under this prefix and strip it.
        allow_unsafe (bool): load with ``weights_only=False`` (only for files you trust).
        key_map (str | callable, optional): ``'torchvision'``, ``'timm'`` or a renaming function.

    Returns:
        dict: the loaded state dict.
    """
    key_map = get_key_map(key_map)
    if checkpoint == ZOO:
        return load_teacher_checkpoint(model, fetch_url(zoo_url(config, name), name), name, prefix,
                                       allow_unsafe, key_map)
    url = checkpoint_url(checkpoint)
    if url is not None:
        path = fetch_url(url, name) if url.startswith(_URL_SCHEMES) else url
        return load_teacher_checkpoint(model, path, name, prefix, allow_unsafe, key_map)
    if _ANY_SCHEME.match(checkpoint):  # s3://, petrel://, pavi://, a prefix someone registered
        from mmengine.runner import CheckpointLoader
        obj = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
        return fit_teacher_state(model, obj, checkpoint, name, prefix, key_map)
    if not osp.isfile(checkpoint):
        where = '' if osp.isabs(checkpoint) else f' (looked in the working directory {os.getcwd()})'
        raise FileNotFoundError(f'teacher {name!r}: checkpoint not found: {checkpoint!r}{where}')
    return load_teacher_checkpoint(model, checkpoint, name, prefix, allow_unsafe, key_map)
