"""What ``tools/train.py`` and ``tools/test.py`` share: config loading and default-scope choice."""
import os.path as osp

from mmengine.config import Config, DictAction  # noqa: F401  (DictAction re-exported for the tools)

from .utils.config import drop_own_scope, resolve_config_path, resolve_teacher_paths

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


def enable_amp(cfg):
    """Mixed precision for ``tools/train.py --amp``.

    On a GPU: mmengine's ``AmpOptimWrapper`` (fp16 autocast, dynamic loss scaling). Without CUDA:
    :class:`mmcrosskd.optim.CPUAutocastOptimWrapper` (bf16 autocast; mmengine's wrapper asserts a GPU).
    Either way the whole forward runs under autocast, the teachers' included, while the distiller computes
    its projectors and distillation losses in float32.

    Returns:
        str: what was set, for the log.
    """
    import torch
    opt = cfg.optim_wrapper
    kind = opt.get('type', 'OptimWrapper')
    if kind in ('AmpOptimWrapper', 'CPUAutocastOptimWrapper'):
        return f'AMP is already enabled in the config ({kind})'
    if kind != 'OptimWrapper':
        raise ValueError(f'--amp: the config uses optim_wrapper type {kind!r}; set an AMP wrapper in the config '
                         'instead (AmpOptimWrapper on a GPU)')
    if torch.cuda.is_available():
        opt.type = 'AmpOptimWrapper'
        opt.setdefault('loss_scale', 'dynamic')
        return 'AMP: AmpOptimWrapper (float16 autocast, dynamic loss scale)'
    opt.type = 'CPUAutocastOptimWrapper'
    return 'AMP without CUDA: CPUAutocastOptimWrapper (bfloat16 autocast on the CPU)'


def prepare_cpu_distributed(cfg, launcher):
    """Let ``--launcher pytorch`` (torchrun, ``tools/dist_train.sh``) and ``--launcher slurm`` (srun,
    ``tools/slurm_train.sh``) run on machines without CUDA (gloo on CPU).

    mmengine's launchers call ``torch.cuda.set_device`` and wrap the model with ``device_ids=[LOCAL_RANK]``,
    both of which fail without CUDA. When CUDA is absent we initialise the gloo process group ourselves
    (mmengine then skips its own initialisation) and wrap without device ids. Under Slurm the rank, world
    size and master address come from Slurm's variables, as mmengine's slurm launcher reads them.
    """
    import os

    import torch
    import torch.distributed as dist
    if launcher not in ('pytorch', 'slurm') or torch.cuda.is_available() or dist.is_initialized():
        return False
    if launcher == 'slurm':
        slurm_environment()
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True


def slurm_environment():
    """Set torch.distributed's variables from an srun task's: ``RANK`` (``SLURM_PROCID``), ``WORLD_SIZE``
    (``SLURM_NTASKS``), ``LOCAL_RANK`` (``SLURM_LOCALID``), ``MASTER_ADDR`` (kept if set, else the first
    host of ``SLURM_NODELIST``) and ``MASTER_PORT`` (kept if set, else 29500).

    Returns:
        dict: the variables set.
    """
    import os
    import subprocess
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST') if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher slurm: {", ".join(missing)} not set: start the tool with srun '
                           '(tools/slurm_train.sh / tools/slurm_test.sh), or use --launcher pytorch under torchrun')
    found = dict(RANK=os.environ['SLURM_PROCID'], WORLD_SIZE=os.environ['SLURM_NTASKS'],
                 LOCAL_RANK=os.environ.get('SLURM_LOCALID', '0'), MASTER_PORT=os.environ.get('MASTER_PORT', '29500'))
    if 'MASTER_ADDR' in os.environ:
        found['MASTER_ADDR'] = os.environ['MASTER_ADDR']
    else:  # 'node[01-04]' -> 'node01'
        hosts = subprocess.run(['scontrol', 'show', 'hostnames', os.environ['SLURM_NODELIST']], check=True,
                               capture_output=True, text=True).stdout.split()
        found['MASTER_ADDR'] = hosts[0]
    os.environ.update(found)
    return found


def release_distributed(runner):
    """Tear the process group down after training, in the order that lets every rank exit cleanly.

    A DDP wrapper's reducer holds work of the process group; left to the interpreter's exit, its
    destruction races the group's own and a rank can abort ("terminate called without an active
    exception", seen with 2 gloo ranks on CPU). So: unwrap the model while the group still exists,
    wait for every rank, then destroy the group. A no-op when training was not distributed.

    Args:
        runner (mmengine.runner.Runner): the runner that trained; its model is left unwrapped.

    Returns:
        bool: whether a process group was destroyed.
    """
    import gc

    import torch.distributed as dist
    from mmengine.model import is_model_wrapper
    if not (dist.is_available() and dist.is_initialized()):
        return False
    if is_model_wrapper(runner.model):
        runner.model = runner.model.module
    gc.collect()  # the reducer goes now, not at exit
    dist.barrier()
    dist.destroy_process_group()
    return True


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
