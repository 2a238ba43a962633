"""Multi-process training on machines without CUDA (``--launcher pytorch`` with gloo), and its clean end."""


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
