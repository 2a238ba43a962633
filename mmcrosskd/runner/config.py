"""Config loading for ``tools/train.py`` / ``tools/test.py``: the file, the default scope, the work dir,
data roots and mmcrosskd's safety hooks; and building the Runner from it."""
import os.path as osp

from mmengine.config import Config

from ..utils.config import drop_own_scope, resolve_config_path, resolve_teacher_paths

# Scopes we can infer from a config's model type when it sets no default_scope.
_SCOPES = ('mmseg', 'mmpretrain')


def infer_default_scope(cfg):
    """The config's ``default_scope``, or the scope whose registry knows ``cfg.model.type``."""
    if cfg.get('default_scope'):
        return cfg.default_scope
    model_type = cfg.get('model', {}).get('type', '')
    if isinstance(model_type, str) and '.' in model_type:
        return model_type.split('.')[0]
    import importlib
    for scope in _SCOPES:
        try:
            registry = importlib.import_module(f'{scope}.registry').MODELS
            registry.import_from_location()
        except ImportError:
            continue
        if model_type in registry.module_dict:
            return scope
    return None


def _drop_stale_delete_keys(node):
    """``--cfg-options key._delete_=True key.a=1`` replaces a dict; where ``key`` held a string (e.g. an
    entry's ``projector='inverted'``) mmengine keeps ``_delete_`` in the new dict, and the module built from
    it would get an unknown ``_delete_`` argument."""
    if isinstance(node, dict):
        node.pop('_delete_', None)
        for value in node.values():
            _drop_stale_delete_keys(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_stale_delete_keys(value)


def load_config(path, cfg_options=None, work_dir=None):
    """Load a config given as a file or ``'mmseg::...'`` / ``'mmpretrain::...'`` / ``'mmcrosskd::...'``,
    resolve relative teacher paths against the config file that names them, merge options, pick the
    default scope and the work dir (``./work_dirs/<config name>`` by default).

    Returns:
        mmengine.Config
    """
    cfg = Config.fromfile(resolve_config_path(path))
    for value in cfg.values():
        drop_own_scope(value)
    # Before the options: paths given on the command line stay relative to the working directory.
    resolve_teacher_paths(cfg)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
        _drop_stale_delete_keys(cfg._cfg_dict)
    scope = infer_default_scope(cfg)
    if scope is not None:
        cfg.default_scope = scope
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(path.split('::')[-1]))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    # mmpretrain's configs set persistent_workers=True, which torch refuses with num_workers=0.
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('num_workers', 0) == 0 and loader.get('persistent_workers'):
            loader['persistent_workers'] = False
    return cfg


def data_root_options(root):
    """``--cfg-options`` strings that point the train, val and test datasets at ``root``."""
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]


def add_safety_hooks(cfg, strict_checkpoint=False, guard_training=True):
    """Add mmcrosskd's checks to a Runner config (once): :class:`CheckpointMatchHook` (a loaded checkpoint
    must fit the model) and, for training, :class:`NonFiniteGuardHook` (no checkpoint of a diverged step).

    Args:
        cfg (mmengine.Config): the config, changed in place.
        strict_checkpoint (bool): every model weight must be in the checkpoint (``tools/test.py``).
        guard_training (bool): add the non-finite guard. Default True.
    """
    hooks = list(cfg.get('custom_hooks') or [])
    kinds = {str(h.get('type', '')).split('.')[-1] for h in hooks if isinstance(h, dict)}
    if 'CheckpointMatchHook' not in kinds:
        hooks.append(dict(type='CheckpointMatchHook', strict=strict_checkpoint))
    if guard_training and 'NonFiniteGuardHook' not in kinds:
        hooks.append(dict(type='NonFiniteGuardHook'))
    cfg.custom_hooks = hooks



def build_runner(cfg):
    """``Runner.from_cfg``, or the config's own ``runner_type``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
