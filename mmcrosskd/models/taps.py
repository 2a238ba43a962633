"""Feature taps: read a module's output (or input) by its ``named_modules`` path.

A tap spec is a string or a dict:

* ``'backbone.layer3'`` - the output of that module;
* ``'backbone[2]'`` - element 2 of the module's tuple/list output (mmseg/mmpretrain backbones
  return one tensor per stage);
* ``dict(path='decode_head.conv_seg', io='input', index=0)`` - the same, in full; ``io='input'``
  reads the module's first positional input.

Hooks are registered once, at build time; they only store tensors while a
:class:`TapSet` is recording, so the student's plain forward passes pay nothing.
"""
import difflib
import re

import torch

_SPEC = re.compile(r'^(?P<path>[^\[\]]*?)(\[(?P<index>-?\d+)\])?$')
LIST_TAPS_HINT = '`python tools/list_taps.py CONFIG` lists every path that can be tapped, with its shape'


class TapSpec:
    """A parsed tap: module path, ``'output'`` or ``'input'``, optional index."""

    def __init__(self, path, io='output', index=None):
        if io not in ('output', 'input'):
            raise ValueError(f"tap io must be 'output' or 'input', got {io!r}")
        self.path, self.io, self.index = path, io, index

    @classmethod
    def parse(cls, spec):
        if isinstance(spec, TapSpec):
            return spec
        if isinstance(spec, dict):
            unknown = set(spec) - {'path', 'io', 'index'}
            if unknown:
                raise KeyError(f'unknown tap keys {sorted(unknown)}; use path, io, index')
            return cls(spec['path'], spec.get('io', 'output'), spec.get('index'))
        if isinstance(spec, str):
            m = _SPEC.match(spec.strip())
            if m is None:
                raise ValueError(f'cannot parse tap {spec!r}; expected e.g. "backbone.layer3" or "backbone[2]"')
            index = m.group('index')
            return cls(m.group('path'), 'output', int(index) if index is not None else None)
        raise TypeError(f'a tap is a string or a dict, got {type(spec).__name__}')

    @property
    def key(self):
        return (self.path, self.io)

    def __repr__(self):
        idx = '' if self.index is None else f'[{self.index}]'
        return f"{self.path}{idx}" + (' (input)' if self.io == 'input' else '')


def closest_paths(path, names, n=5):
    """The module paths most similar to ``path``, best first."""
    names = [x for x in names if x]
    close = difflib.get_close_matches(path, names, n=n, cutoff=0.5)
    # The children of the longest existing prefix help when a path is cut off or over-long.
    parts = path.split('.')
    for i in range(len(parts) - 1, 0, -1):
        parent = '.'.join(parts[:i])
        if parent in names:
            kids = [x for x in names if x.startswith(parent + '.') and x.count('.') == parent.count('.') + 1]
            close += [k for k in kids if k not in close][:max(0, n - len(close))]
            break
    if not close:
        close = [x for x in names if '.' not in x][:n]
    return close[:n]


def find_module(model, path, owner='model'):
    """Return ``model``'s submodule at ``path`` or raise ``KeyError`` naming the closest real paths."""
    modules = dict(model.named_modules())
    if path in modules:
        return modules[path]
    suggestions = ', '.join(repr(p) for p in closest_paths(path, list(modules)))
    raise KeyError(f'{owner}: no module {path!r}. Closest real paths: {suggestions}. {LIST_TAPS_HINT}')


def images_only_forward(model, x):
    """Call a model on images alone, as teachers run and as taps are checked at build time.

    ``model(x, mode='tensor')`` for OpenMMLab models (no data samples, no labels, no loss); ``model(x)``
    for a plain ``nn.Module`` without a ``mode`` argument.
    """
    try:
        return model(x, mode='tensor')
    except TypeError as exc:
        if 'mode' not in str(exc):
            raise
        return model(x)


def layout_of(value):
    """The layout name of a module output: ``'map'`` (B, C, H, W), ``'tokens'`` (B, N, C),
    ``'vector'`` (B, C), ``'tuple of N'``, another tensor rank (``'3-d'``...), or None (not tensors)."""
    if torch.is_tensor(value):
        return {4: 'map', 3: 'tokens', 2: 'vector'}.get(value.dim(), f'{value.dim()}-d')
    if isinstance(value, (tuple, list)) and any(torch.is_tensor(v) for v in value):
        return f'{type(value).__name__} of {len(value)}'
    return None


def tappable_outputs(model, run, owner='model'):
    """Run ``run()`` once and describe the output of every submodule of ``model`` that can be tapped.

    Each module is described by its first call (a truncated teacher forward reads that call; a
    student's full forward reads its last one, which usually has the same shape).

    Args:
        model (nn.Module): the model whose submodules are hooked.
        run (callable): runs one forward of ``model`` (e.g. ``lambda: images_only_forward(model, x)``).
        owner (str): a name for the error message when nothing runs.

    Returns:
        tuple[list[dict], Exception | None]: one row per tap, in the order the modules first ran:
        ``dict(tap=..., layout=..., shape=tuple | None, calls=int)``, where a tuple output gives a row
        for the tuple (``layout='tuple of N'``, not tappable without an index) followed by one row per
        tensor element (``'path[i]'``); and the exception that stopped the forward early (None when it
        completed), so modules after that point cannot be tapped on images alone.
    """
    seen, handles = {}, []

    def make_hook(path):
        def hook(module, args, output):
            if path in seen:
                seen[path]['calls'] += 1
            else:
                seen[path] = dict(output=_describe(output), calls=1)
        return hook

    for path, module in model.named_modules():
        if path:  # the model itself is not a tap
            handles.append(module.register_forward_hook(make_hook(path)))
    error = None
    try:
        with torch.no_grad():
            run()
    except Exception as exc:  # noqa: BLE001 - reported to the caller: later modules cannot be tapped
        error = exc
    finally:
        for h in handles:
            h.remove()
    if not seen and error is not None:
        raise RuntimeError(f'{owner}: no module ran on images alone: {type(error).__name__}: {error}') from error
    rows = []
    for path, info in seen.items():
        layout, shape, items = info['output']
        if layout is None:
            continue
        rows.append(dict(tap=path, layout=layout, shape=shape, calls=info['calls']))
        for i, (item_layout, item_shape) in enumerate(items):
            if item_layout is not None:
                rows.append(dict(tap=f'{path}[{i}]', layout=item_layout, shape=item_shape, calls=info['calls']))
    return rows, error


def _describe(output):
    """(layout, shape, [(layout, shape) per item]) of a module output, without keeping the tensors."""
    layout = layout_of(output)
    if torch.is_tensor(output):
        return layout, tuple(output.shape), []
    if layout is None:
        return None, None, []
    items = [(layout_of(v), tuple(v.shape)) if torch.is_tensor(v) else (None, None) for v in output]
    return layout, None, items


class _Stop(Exception):
    """Raised by the last tap of a truncated forward to skip the rest of the model."""


class TapSet:
    """The taps of one model, with persistent hooks and optional early exit.

    With ``truncate=True`` the forward is stopped (by an exception caught here) as soon as every tap
    has fired, so the later blocks of a model are never computed. A module called several times in
    one forward is then read at its first call; with ``truncate=False`` at its last.

    Args:
        model (nn.Module): the model to tap.
        specs (list): tap specs (see module docstring).
        owner (str): a name for messages (``'student'``, ``"teacher 'depth'"``).
    """

    def __init__(self, model, specs, owner='model'):
        self.owner = owner
        self.specs = [TapSpec.parse(s) for s in specs]
        self._keys = list(dict.fromkeys(s.key for s in self.specs))
        self._store, self._order = {}, []
        self._recording = self._truncate = False
        self.stop_path = None  # the module after which truncated forwards stopped (for logs)
        self._handles = []
        for spec in self.specs:
            self._check_tappable(model, spec)
        for key in self._keys:
            module = find_module(model, key[0], owner)
            if key[1] == 'output':
                hook = module.register_forward_hook(self._make_hook(key, output=True))
            else:
                hook = module.register_forward_pre_hook(self._make_hook(key, output=False))
            self._handles.append(hook)

    def _check_tappable(self, model, spec):
        """Refuse taps that can never fire: the whole model, or a container that is never called."""
        if spec.path == '':
            children = ', '.join(repr(n) for n, _ in model.named_children())
            raise ValueError(f'{self.owner}: tap {spec!r} names the whole model, not a module inside it: tap a '
                             f'submodule (its children: {children})')
        module = find_module(model, spec.path, self.owner)
        if isinstance(module, (torch.nn.ModuleList, torch.nn.ModuleDict)):
            names = [n for n, _ in module.named_children()]
            if spec.index is not None and str(spec.index % max(len(names), 1)) in names:
                hint = f'tap its element as "{spec.path}.{spec.index % len(names)}"'
            else:
                hint = 'tap one of its elements: ' + ', '.join(f'{spec.path}.{n}' for n in names[:5])
            raise ValueError(f'{self.owner}: tap {spec!r}: {spec.path!r} is a {type(module).__name__}, a container '
                             f'that is never called itself, so it has no output to tap; {hint}')

    def _make_hook(self, key, output):
        def hook(module, args, result=None):
            if not self._recording:
                return None
            if key not in self._store:
                self._order.append(key)
            elif self._truncate:
                return None  # truncated forwards read a module's first call
            if output:
                self._store[key] = result
            else:
                if not args:
                    raise RuntimeError(f'{self.owner}: module {key[0]!r} was called with no positional '
                                       'input, so its input cannot be tapped')
                self._store[key] = args[0]
            if self._truncate and len(self._store) == len(self._keys):
                raise _Stop()
            return None
        if output:
            return hook
        return lambda module, args: hook(module, args)

    def record(self, fn, *args, truncate=False, **kwargs):
        """Run ``fn(*args, **kwargs)`` and return ``(result, [tensor per spec])``.

        With ``truncate=True`` the forward stops right after the last tap fires and ``result`` is
        ``None``.
        """
        self._store, self._order = {}, []
        self._recording, self._truncate = True, truncate
        result = None
        try:
            result = fn(*args, **kwargs)
        except _Stop:
            self.stop_path = self._order[-1][0]
        finally:
            self._recording = self._truncate = False
        missing = [s for s in self.specs if s.key not in self._store]
        if missing:
            raise RuntimeError(f'{self.owner}: tapped modules did not run in this forward: {missing}. A module '
                               'that the forward never calls on images alone (an unused branch, a loss-only head, a '
                               'container) cannot be tapped: tap one that runs in mode=\'tensor\', e.g. one of the '
                               f'backbone\'s stages. {LIST_TAPS_HINT}')
        feats = [self._select(s) for s in self.specs]
        self._store = {}
        return result, feats

    def _select(self, spec):
        value = self._store[spec.key]
        if spec.index is not None:
            if not isinstance(value, (tuple, list)):
                raise TypeError(f'{self.owner}: tap {spec!r} has an index, but {spec.path!r} returns a '
                                f'{type(value).__name__}, not a tuple or list')
            if not -len(value) <= spec.index < len(value):
                raise IndexError(f'{self.owner}: tap {spec!r}: index {spec.index} is out of range; '
                                 f'{spec.path!r} returns {len(value)} items (valid: 0..{len(value) - 1})')
            value = value[spec.index]
        if not torch.is_tensor(value):
            kind = type(value).__name__
            hint = (f' of {len(value)} items, not a tensor: add an index, e.g. "{spec.path}[{len(value) - 1}]"'
                    if isinstance(value, (tuple, list)) else ', not a tensor')
            raise TypeError(f'{self.owner}: tap {spec!r} gives a {kind}{hint}')
        return value

    def remove(self):
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []
