"""Model specs and config files: turn a spec (a config dict, or a path such as ``'mmseg::...py'``) into a model,
merge teacher overrides, resolve relative teacher paths, and the ``mmcrosskd::`` config prefix."""
import ast
import copy
import importlib.util
import os.path as osp

from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

from ..registry import MODELS

#: Our config prefix: ``'mmcrosskd::quickstart/...'``.
SCOPE = 'mmcrosskd'


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
        drop_own_scope(model_cfg)
        prefix = spec.split('::')[0] if '::' in spec else None
        scope = scope or cfg.get('default_scope') or (prefix if prefix != SCOPE else None)
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


def merge_model_overrides(model_cfg, overrides, owner='teacher'):
    """Merge overrides into a model config the way ``_base_`` inheritance merges.

    Args:
        model_cfg (dict): the model config.
        overrides (dict): nested keys to set, e.g. ``dict(backbone=dict(out_type='featmap'))``;
            ``_delete_=True`` in a sub-dict replaces it instead of merging.
        owner (str): who gives them, for messages.

    Returns:
        ConfigDict: a merged copy.
    """
    if not isinstance(overrides, dict):
        raise TypeError(f'{owner}: `model` takes a dict of model-config overrides, e.g. '
                        f"dict(backbone=dict(out_type='featmap')); got {type(overrides).__name__}")
    cfg = Config(dict(model=copy.deepcopy(model_cfg)))
    cfg.merge_from_dict(dict(model=copy.deepcopy(dict(overrides))), allow_list_keys=True)
    return cfg.model


def config_file_chain(path):
    """A config file and every file it inherits from (``_base_``, depth first), most derived first.

    Args:
        path (str): a config file or ``'<package>::<path>'``.

    Returns:
        list[str]: existing files; a base that cannot be read statically ends its branch.
    """
    chain, todo = [], [path]
    while todo:
        current = todo.pop(0)
        try:
            current = resolve_config_path(current)
        except FileNotFoundError:
            continue
        if current in chain:
            continue
        chain.append(current)
        bases = _literal_assignment(current, '_base_')
        bases = [bases] if isinstance(bases, str) else list(bases or [])
        todo[:0] = [b if '::' in b else osp.join(osp.dirname(current), b) for b in bases if isinstance(b, str)]
    return chain


def _parsed(path):
    try:
        with open(path, encoding='utf-8') as f:
            return ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None


def _literal_assignment(path, name):
    tree = _parsed(path)
    for node in getattr(tree, 'body', []):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return None
    return None


def _string_constants(path):
    tree = _parsed(path)
    if tree is None:
        return set()
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def resolve_teacher_paths(cfg, filename=None):
    """Make relative teacher ``config``/``checkpoint`` paths absolute, against the config file that names them.

    For each relative path, the file of the inheritance chain (most derived first) that spells it out
    names it; if the path exists relative to that file's folder it becomes absolute. Otherwise it is
    left as is, and is read relative to the working directory when the teacher is built.

    Args:
        cfg (mmengine.Config): a loaded config (changed in place).
        filename (str, optional): its file. Default: ``cfg.filename``.

    Returns:
        list[tuple[str, str, str]]: ``(teacher, key, new path)`` for every path changed.
    """
    filename = filename or getattr(cfg, 'filename', None)
    model = cfg.get('model')
    teachers = model.get('teachers') if isinstance(model, dict) else None
    if not filename or not isinstance(teachers, dict):
        return []
    chain = config_file_chain(filename)
    strings = {}
    changed = []
    for name, opts in teachers.items():
        if not isinstance(opts, dict):
            continue
        for key in ('config', 'checkpoint'):
            value = opts.get(key)
            if not isinstance(value, str) or not value or osp.isabs(value) or '::' in value or '://' in value:
                continue
            namer = next((f for f in chain if value in strings.setdefault(f, _string_constants(f))), chain[0])
            candidate = osp.join(osp.dirname(osp.abspath(namer)), value)
            if osp.exists(candidate):
                opts[key] = osp.abspath(candidate)
                changed.append((name, key, opts[key]))
    return changed


def register_config_scope():
    """Let mmengine's ``Config`` read ``'mmcrosskd::<path under configs/>'`` in ``_base_``, as ``'mmseg::'``.

    mmengine accepts only the packages in its ``MODULE2PACKAGE`` table and looks for configs under
    ``<installed path>/.mim/configs``. Our package ships ``mmcrosskd/.mim/configs`` (a link to the
    repository's ``configs/`` in a clone, copied files in a built wheel). The table entry names
    ``mmcrosskd.configs_anchor``, a module inside the package: mmengine then finds the package folder from
    the module's location, which is right for a normal and for an editable install alike (for an editable
    install the distribution's recorded location is site-packages, where the package is not).
    """
    from mmengine.config import utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault(SCOPE, f'{SCOPE}.configs_anchor')


def drop_own_scope(node):
    """Remove the ``_scope_='mmcrosskd'`` that mmengine stamps on typed dicts of a ``mmcrosskd::`` base.

    mmengine builds a base's dicts in the scope named by its prefix. Ours has no registries of its own
    (our types live in mmengine's root registries; our configs hold mmseg and mmpretrain types), so the
    stamp would hide those types. Without it, each dict builds in the config's ``default_scope``.

    Args:
        node (dict | list): a config or part of one, changed in place.

    Returns:
        int: how many stamps were removed.
    """
    removed = 0
    if isinstance(node, dict):
        if node.get('_scope_') == SCOPE:
            del node['_scope_']
            removed += 1
        for value in node.values():
            removed += drop_own_scope(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            removed += drop_own_scope(value)
    return removed


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
