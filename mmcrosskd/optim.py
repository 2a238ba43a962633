"""Mixed precision on a CPU: what ``tools/train.py --amp`` uses where mmengine's AmpOptimWrapper cannot run.

mmengine's ``AmpOptimWrapper`` asserts a GPU (or NPU/MLU). On a CPU, PyTorch's autocast supports
bfloat16, which has float32's exponent range, so no loss scaling is needed: this wrapper only runs the
forward under ``torch.autocast('cpu', dtype=torch.bfloat16)``. Parameters, gradients and the optimizer
step stay in float32, as with AMP on a GPU.
"""
import contextlib

import torch
from mmengine.optim import OptimWrapper

from .registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward runs under CPU autocast (bfloat16).

    Args:
        dtype (str): the autocast dtype; CPU autocast supports ``'bfloat16'`` (default) and
            ``'float16'`` (fp16 on a CPU is slow and needs loss scaling: prefer bfloat16).
        **kwargs: the options of ``mmengine.optim.OptimWrapper``.
    """

    def __init__(self, dtype='bfloat16', **kwargs):
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f"CPUAutocastOptimWrapper: dtype must be 'bfloat16' or 'float16', got {dtype!r}")
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield
