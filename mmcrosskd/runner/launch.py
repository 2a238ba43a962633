"""Multi-process training on machines without CUDA (``--launcher pytorch`` under torchrun, ``--launcher slurm``
under srun, with gloo), and its clean end."""


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
