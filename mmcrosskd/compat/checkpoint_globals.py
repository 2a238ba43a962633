"""Allow-list the globals that mmengine checkpoints contain, for ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``. mmengine's checkpoints carry its
message hub (``HistoryBuffer`` objects holding numpy arrays and scalars), so ``resume`` and
``load_from`` fail on them. Rather than turning ``weights_only`` off for every load, we register
exactly these classes and functions as safe. Nothing here can run arbitrary code.

torch before 2.4 has no allow-list API, and its weights-only unpickler can build no object but tensors and
dicts, so it refuses every mmengine training checkpoint. There :func:`safe_load` reads checkpoints with a
restricted unpickler of ours instead, with the same rule as torch's: a global is looked up only in the
allow-list (torch's own plus ours, never imported by name), and only allow-listed functions and classes are
ever called or instantiated.
"""
import _compat_pickle
import builtins
import codecs
import pickle
import types

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


def _allowed_globals():
    """``'module.name'`` -> object: torch's own weights-only allow-list plus :func:`checkpoint_safe_globals`."""
    from torch import _weights_only_unpickler as wo
    allowed = dict(wo._get_allowed_globals())
    for obj in checkpoint_safe_globals():
        allowed[f'{obj.__module__}.{obj.__qualname__}'] = obj
    # numpy 1.x arrays pickled with protocol 2 hold their bytes as _codecs.encode(text, 'latin1') (torch >= 2.4
    # allows it by default too): it only turns a string into bytes
    allowed['_codecs.encode'] = codecs.encode
    return allowed


class _RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that resolves globals from the allow-list only and calls nothing outside it.

    Every opcode that calls or instantiates something (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST, BUILD) is
    checked; an attribute fetched with an allow-listed ``getattr`` can be stored, never called.
    """
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._allowed = _allowed_globals()
        self._allowed_ids = {id(o) for o in self._allowed.values()}

    def find_class(self, module, name):
        if self.proto < 3 and self.fix_imports:  # protocol 2 names builtins '__builtin__' (Python 2's)
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        obj = self._allowed.get(f'{module}.{name}')
        if obj is None:
            raise pickle.UnpicklingError(f'Unsupported global: GLOBAL {module}.{name}')
        return obj

    def _check(self, obj, what):
        if id(obj) not in self._allowed_ids:
            raise pickle.UnpicklingError(f'Unsupported global: GLOBAL {getattr(obj, "__module__", "?")}.'
                                         f'{getattr(obj, "__qualname__", type(obj).__name__)} ({what})')

    def _load_reduce(self):
        self._check(self.stack[-2], 'called')
        pickle._Unpickler.load_reduce(self)

    def _load_newobj(self):
        self._check(self.stack[-2], 'instantiated')
        pickle._Unpickler.load_newobj(self)

    def _load_newobj_ex(self):
        self._check(self.stack[-3], 'instantiated')
        pickle._Unpickler.load_newobj_ex(self)

    def _refuse(self):
        raise pickle.UnpicklingError('Unsupported global: GLOBAL protocol-0/1 instance (OBJ/INST opcodes)')

    def _load_build(self):
        inst = self.stack[-2]
        if type(inst) not in (dict, list, torch.Tensor, torch.nn.Parameter):
            self._check(type(inst), 'built')
        pickle._Unpickler.load_build(self)

    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.NEWOBJ[0]] = _load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _load_newobj_ex
    dispatch[pickle.OBJ[0]] = _refuse
    dispatch[pickle.INST[0]] = _refuse
    dispatch[pickle.BUILD[0]] = _load_build


# what torch.load needs of a pickle module
restricted_pickle = types.ModuleType('mmcrosskd_restricted_pickle')
restricted_pickle.Unpickler = _RestrictedUnpickler
restricted_pickle.load = lambda file, **kw: _RestrictedUnpickler(file, **kw).load()
restricted_pickle.UnpicklingError = pickle.UnpicklingError


def safe_load(f, map_location='cpu'):
    """``torch.load`` that refuses pickled code and accepts mmengine checkpoints, on every supported torch.

    Args:
        f (str | file): the checkpoint.
        map_location: as for ``torch.load``. Default ``'cpu'``.

    Returns:
        object: what the file holds. Raises ``pickle.UnpicklingError`` naming the first global that is not
        allow-listed (``'Unsupported global: GLOBAL module.name'``, as torch >= 2.4 words it).
    """
    if hasattr(torch.serialization, 'add_safe_globals'):
        return torch.load(f, map_location=map_location, weights_only=True)
    return torch.load(f, map_location=map_location, weights_only=False, pickle_module=restricted_pickle)
