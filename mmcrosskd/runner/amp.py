"""Mixed precision for ``tools/train.py --amp``."""


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
