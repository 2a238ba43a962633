"""Allow-list the globals that mmengine checkpoints contain, for ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``. mmengine's checkpoints carry its
message hub (``HistoryBuffer`` objects holding numpy arrays and scalars), so ``resume`` and
``load_from`` fail on them. Rather than turning ``weights_only`` off for every load, we register
exactly these classes and functions as safe. Nothing here can run arbitrary code.
"""
import builtins

import torch


def _numpy_globals():
    import numpy as np
    try:
        multiarray = np._core.multiarray  # numpy >= 2
    except AttributeError:  # numpy 1.x
        multiarray = np.core.multiarray
    found = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    # Pickled dtypes are instances of per-type classes (numpy.dtypes.Float64DType, ...).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, n) for n in dir(dtypes)
                  if n.endswith('DType') and isinstance(getattr(dtypes, n), type)]
    return found


def checkpoint_safe_globals():
    """Return the list of globals registered by :func:`register_checkpoint_safe_globals`."""
    from mmengine.logging.history_buffer import HistoryBuffer
    # HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, 'mean'). Allowing
    # getattr is safe here: the weights-only unpickler still refuses to *call* anything that is not
    # itself allow-listed, so an attribute fetched this way can be stored but never run.
    return [HistoryBuffer, builtins.getattr, *_numpy_globals()]


def register_checkpoint_safe_globals():
    """Register the allow-list with torch (no-op before torch 2.4, which has no allow-list).

    Returns:
        list: the registered globals (empty when torch has no allow-list).
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return []
    safe = checkpoint_safe_globals()
    add(safe)
    return safe
