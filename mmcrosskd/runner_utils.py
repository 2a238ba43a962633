"""What ``tools/train.py`` and ``tools/test.py`` share: config loading and default-scope choice."""
import os.path as osp

from mmengine.config import Config, DictAction  # noqa: F401  (DictAction re-exported for the tools)

from .utils.config import resolve_config_path

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
    """Load a config given as a file or ``'mmseg::...'`` / ``'mmpretrain::...'``, merge options,
    pick the default scope and the work dir (``./work_dirs/<config name>`` by default).

    Returns:
        mmengine.Config
    """
    cfg = Config.fromfile(resolve_config_path(path))
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


def read_scalars(work_dir, newest_run_only=False):
    """The entries of mmengine's ``<work_dir>/<timestamp>/vis_data/scalars.json`` logs, oldest run first.

    Args:
        work_dir (str): a Runner's work dir (a resumed run adds a timestamped folder).
        newest_run_only (bool): read only the latest run's log. Default False.

    Returns:
        list[dict]: one dict per logged line (training steps and validation results).
    """
    import glob
    import json
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    entries = []
    for path in files[-1:] if newest_run_only else files:
        with open(path) as f:
            entries += [json.loads(line) for line in f if line.strip()]
    return entries


def build_runner(cfg):
    """``Runner.from_cfg``, or the config's own ``runner_type``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def prepare_cpu_distributed(cfg, launcher):
    """Let ``--launcher pytorch`` run on machines without CUDA (gloo on CPU).

    mmengine's pytorch launcher calls ``torch.cuda.set_device`` and wraps the model with
    ``device_ids=[LOCAL_RANK]``, both of which fail without CUDA. When CUDA is absent we initialise the
    gloo process group ourselves (mmengine then skips its own initialisation) and wrap without device ids.
    """
    import os

    import torch
    import torch.distributed as dist
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return False
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
