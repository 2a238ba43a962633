"""Turn a model spec (a config dict, or a config path such as ``'mmseg::...py'``) into a model."""
import copy
import importlib.util
import os.path as osp

from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

from ..registry import MODELS


def resolve_config_path(path):
    """Resolve ``'scope::rel/path.py'`` to the config shipped inside that package, or check a path.

    Args:
        path (str): a local config file, or ``'<package>::<path inside its configs/>'``.

    Returns:
        str: an existing file path.
    """
    if '::' not in path:
        if not osp.isfile(path):
            raise FileNotFoundError(f'config file not found: {path!r}')
        return path
    package, rel = path.split('::', 1)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f'{path!r}: package {package!r} is not installed')
    root = list(spec.submodule_search_locations)[0]
    for candidate in (osp.join(root, '.mim', 'configs', rel), osp.join(root, 'configs', rel)):
        if osp.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f'{path!r}: no such config in package {package!r} (looked in {osp.join(root, ".mim", "configs")})')


def load_model_spec(spec, scope=None):
    """Read a model spec.

    Args:
        spec (str | dict): a config path (its ``model`` is used) or a model config dict.
        scope (str, optional): registry scope to build in. Default: the config's ``default_scope``,
            the ``mmseg::``-style prefix of the path, the dict's ``_scope_``, else the current scope.

    Returns:
        tuple[dict, str | None]: the model config (a copy) and its scope.
    """
    if isinstance(spec, str):
        cfg = Config.fromfile(resolve_config_path(spec))
        if 'model' not in cfg:
            raise KeyError(f'config {spec!r} has no `model`')
        model_cfg = copy.deepcopy(cfg.model)
        # mmpretrain configs keep the preprocessor at top level; the Runner merges it the same way.
        if cfg.get('data_preprocessor') is not None and isinstance(model_cfg, dict):
            model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
        scope = scope or cfg.get('default_scope') or (spec.split('::')[0] if '::' in spec else None)
    elif isinstance(spec, dict):
        model_cfg = copy.deepcopy(spec)
        scope = scope or model_cfg.get('_scope_')
    else:
        raise TypeError(f'a model spec is a config path or a dict, got {type(spec).__name__}')
    if scope is None:
        current = DefaultScope.get_current_instance()
        scope = current.scope_name if current is not None else None
    model_cfg.pop('_scope_', None)
    return ConfigDict(model_cfg), scope


def strip_pretrained(model_cfg):
    """Remove ``pretrained=`` and ``init_cfg=dict(type='Pretrained')`` entries, in place.

    Teachers built from a seed must not try to download weights (and are random by design).

    Returns:
        list[str]: the dotted keys that were removed.
    """
    removed = []

    def walk(node, prefix):
        if isinstance(node, dict):
            if node.get('pretrained') is not None:
                node['pretrained'] = None
                removed.append(prefix + 'pretrained')
            init = node.get('init_cfg')
            if isinstance(init, dict) and init.get('type') == 'Pretrained':
                node['init_cfg'] = None
                removed.append(prefix + 'init_cfg')
            for k, v in node.items():
                walk(v, f'{prefix}{k}.')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{prefix}{i}.')

    walk(model_cfg, '')
    return removed


def build_model_from_spec(spec, scope=None):
    """Build a model from a spec in its own registry scope.

    Args:
        spec (str | dict): see :func:`load_model_spec`.
        scope (str, optional): see :func:`load_model_spec`.

    Returns:
        tuple[nn.Module, str | None]: the model and the scope it was built in.
    """
    model_cfg, scope = load_model_spec(spec, scope)
    if scope is not None:
        model_cfg['_scope_'] = scope
    return MODELS.build(model_cfg), scope
