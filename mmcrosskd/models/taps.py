"""Feature taps: read a module's output (or input) by its ``named_modules`` path.

A tap spec is a string or a dict:

* ``'backbone.layer3'`` - the output of that module;
* ``'backbone[2]'`` - element 2 of the module's tuple/list output (mmseg/mmpretrain backbones
  return one tensor per stage); ``'backbone[-1]'`` - the last stage;
* ``'backbone[-1][0]'`` - element 0 of that element, for backbones whose stages return a pair
  (DPT's ViT with its class token, Conformer's convolution and transformer branches);
* ``dict(tap='backbone[-1]', layout='bcn')`` - a string tap with options: ``layout`` says which axis
  holds the channels where the model does not (see :mod:`mmcrosskd.models.layouts`);
* ``dict(path='decode_head.conv_seg', io='input', index=0)`` - the same, in full (``index`` an int or a
  list of ints for a nested output); ``io='input'`` reads the module's first positional input.

Hooks are registered once, at build time; they only store tensors while a
:class:`TapSet` is recording, so the student's plain forward passes pay nothing.
"""
import difflib
import re

import torch

from .layouts import checked_layout, declared_layout, model_layout, resolve_layout, to_canonical

_SPEC = re.compile(r'^(?P<path>[^\[\]]*?)(?P<indices>(\[-?\d+\])*)$')
_SPEC_KEYS = ('tap', 'path', 'io', 'index', 'layout')
LIST_TAPS_HINT = '`python tools/list_taps.py CONFIG` lists every path that can be tapped, with its shape'


class TapSpec:
    """A parsed tap: module path, ``'output'`` or ``'input'``, indices into a (nested) tuple output, layout.

    Args:
        path (str): the module path.
        io (str): ``'output'`` (default) or ``'input'``.
        index (int | list[int], optional): an index, or one per nesting level.
        layout (str, optional): the tensor's layout where the model does not tell
            (:data:`mmcrosskd.models.layouts.LAYOUTS`).
    """

    def __init__(self, path, io='output', index=None, layout=None):
        if io not in ('output', 'input'):
            raise ValueError(f"tap io must be 'output' or 'input', got {io!r}")
        if index is None:
            indices = ()
        elif isinstance(index, (list, tuple)):
            indices = tuple(index)
        else:
            indices = (index, )
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
            raise TypeError(f'tap index must be an int or a list of ints (one per nesting level), got {index!r}')
        self.path, self.io, self.indices = path, io, indices
        self.layout = checked_layout(layout, f'tap {path!r}')

    @property
    def index(self):
        """The first index (None without one)."""
        return self.indices[0] if self.indices else None

    @classmethod
    def parse(cls, spec):
        if isinstance(spec, TapSpec):
            return spec
        if isinstance(spec, dict):
            unknown = set(spec) - set(_SPEC_KEYS)
            if unknown:
                raise KeyError(f'unknown tap keys {sorted(unknown)}; use {", ".join(_SPEC_KEYS)}')
            if 'tap' in spec:
                if 'path' in spec or 'index' in spec:
                    raise KeyError(f"tap {spec!r}: give either `tap` (a string such as 'backbone[-1]') or "
                                   '`path` and `index`, not both')
                base = cls.parse(spec['tap'])
                return cls(base.path, spec.get('io', 'output'), list(base.indices) or None, spec.get('layout'))
            if 'path' not in spec:
                raise KeyError(f"tap {spec!r} needs `tap` (e.g. 'backbone[-1]') or `path`")
            return cls(spec['path'], spec.get('io', 'output'), spec.get('index'), spec.get('layout'))
        if isinstance(spec, str):
            m = _SPEC.match(spec.strip())
            if m is None:
                raise ValueError(f'cannot parse tap {spec!r}; expected e.g. "backbone.layer3", "backbone[2]" or '
                                 '"backbone[-1][0]"')
            indices = [int(i) for i in re.findall(r'-?\d+', m.group('indices'))]
            return cls(m.group('path'), 'output', indices or None)
        raise TypeError(f'a tap is a string or a dict, got {type(spec).__name__}')

    @property
    def key(self):
        return (self.path, self.io)

    def __repr__(self):
        idx = ''.join(f'[{i}]' for i in self.indices)
        return (f"{self.path}{idx}" + (' (input)' if self.io == 'input' else '')
                + (f' (layout {self.layout})' if self.layout else ''))


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
        if not (value.is_floating_point() or value.is_complex()):
            return 'index'  # integer / boolean: masks, token ids, not features
        return {4: 'map', 3: 'tokens', 2: 'vector'}.get(value.dim(), f'{value.dim()}-d')
    if isinstance(value, (tuple, list)) and _has_tensor(value):
        return f'{type(value).__name__} of {len(value)}'
    return None


def _has_tensor(value):
    if torch.is_tensor(value):
        return True
    return isinstance(value, (tuple, list)) and any(_has_tensor(v) for v in value)


def is_attention(path, module, value):
    """Whether ``value`` looks like attention probabilities (B, heads, N, N), not a feature map: its last two
    sizes agree and its rows are distributions (softmax output), or a dropout inside an attention module
    (``attn`` in its path) gives it."""
    if not torch.is_tensor(value) or value.dim() != 4 or value.shape[-1] != value.shape[-2]:
        return False
    if isinstance(module, torch.nn.Dropout) and 'attn' in path.lower():
        return True
    if not value.is_floating_point() or value.numel() == 0 or bool((value < 0).any()):
        return False
    return bool(torch.allclose(value.sum(-1), torch.ones((), dtype=value.dtype), atol=1e-3))


def nested_items(value, prefix=''):
    """``[(index suffix, layout, shape | None)]`` of every element of a (nested) tuple/list output, depth
    first: ``('[1]', 'list of 2', None), ('[1][0]', 'map', (2, 8, 4, 4)), ...``."""
    items = []
    if not isinstance(value, (tuple, list)):
        return items
    for i, v in enumerate(value):
        layout = 'attention' if is_attention('', None, v) else layout_of(v)
        if layout is None:
            continue
        items.append((f'{prefix}[{i}]', layout, tuple(v.shape) if torch.is_tensor(v) else None))
        items += nested_items(v, f'{prefix}[{i}]')
    return items


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
        element (``'path[i]'``, and ``'path[i][j]'`` inside a nested one); attention probabilities
        (B, heads, N, N) have ``layout='attention'``; and the exception that stopped the forward early
        (None when it completed), so modules after that point cannot be tapped on images alone.
    """
    seen, handles = {}, []

    def make_hook(path):
        def hook(module, args, output):
            if path in seen:
                seen[path]['calls'] += 1
            else:
                seen[path] = dict(output=_describe(output, path, module), calls=1)
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
        for suffix, item_layout, item_shape in items:
            rows.append(dict(tap=f'{path}{suffix}', layout=item_layout, shape=item_shape, calls=info['calls']))
    return rows, error


def _describe(output, path='', module=None):
    """(layout, shape, nested items) of a module output, without keeping the tensors; 3-d tensors of a
    module that declares them channel-first are ``'bcn'``."""
    layout = layout_of(output)
    bcn = module is not None and declared_layout(module) == 'bcn'
    if torch.is_tensor(output):
        if is_attention(path, module, output):
            layout = 'attention'
        elif bcn and output.dim() == 3:
            layout = 'bcn'
        return layout, tuple(output.shape), []
    if layout is None:
        return None, None, []
    items = nested_items(output)
    if bcn:
        items = [(suffix, 'bcn' if shape is not None and len(shape) == 3 else lay, shape)
                 for suffix, lay, shape in items]
    return layout, None, items


def _shape_of(value):
    return f' {tuple(value.shape)}' if torch.is_tensor(value) else ''


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
        # What the model says about each tap's 3-D layout; the layouts are fixed at the first forward.
        said = [model_layout(model, s.path) for s in self.specs]
        self._model_layouts = [x if s.io == 'output' or x == 'tokens' else None for s, x in zip(self.specs, said)]
        self.layouts = [None] * len(self.specs)
        self._image_size = None
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
        images = next((a for a in args if torch.is_tensor(a) and a.dim() == 4), None)
        self._image_size = None if images is None else tuple(images.shape[-2:])
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
        feats = [self._in_layout(i, self._select(s)) for i, s in enumerate(self.specs)]
        self._store = {}
        return result, feats

    def _in_layout(self, i, feat):
        """The tensor of tap ``i`` in the distiller's layouts; the layout is decided at the first call."""
        if not feat.is_floating_point():
            raise TypeError(f'{self.owner}: tap {self.specs[i]!r} gives a {feat.dtype} tensor {tuple(feat.shape)} '
                            '(a mask or token indices, as MAE-style backbones return beside their features), not a '
                            f'feature: tap a floating-point output instead. {LIST_TAPS_HINT}')
        if self.layouts[i] is None:
            self.layouts[i] = resolve_layout(feat, self.specs[i].layout, self._model_layouts[i], self._image_size,
                                             f'{self.owner}: tap {self.specs[i]!r}')
        return to_canonical(feat, self.layouts[i])

    def _select(self, spec):
        value = self._store[spec.key]
        reached = spec.path
        for index in spec.indices:
            if not isinstance(value, (tuple, list)):
                raise TypeError(f'{self.owner}: tap {spec!r} has an index, but {reached!r} returns a '
                                f'{type(value).__name__}{_shape_of(value)}, not a tuple or list')
            if not -len(value) <= index < len(value):
                items = ', '.join(f'"{reached}{suffix}" {shape or layout}' for suffix, layout, shape
                                  in nested_items(value) if suffix.count('[') == 1)
                raise IndexError(f'{self.owner}: tap {spec!r}: index {index} is out of range; {reached!r} '
                                 f'returns {len(value)} items (valid: 0..{len(value) - 1}): {items}')
            value = value[index]
            reached += f'[{index}]'
        if not torch.is_tensor(value):
            kind = type(value).__name__
            if isinstance(value, (tuple, list)):
                leaves = [(f'{reached}{suffix}', shape) for suffix, _, shape in nested_items(value) if shape]
                hint = f' of {len(value)} items, not a tensor: add an index'
                if leaves:
                    maps = [tap for tap, shape in leaves if len(shape) == 4]
                    hint += (f', e.g. "{(maps or [leaves[-1][0]])[-1]}"; the tensors in it: '
                             + ', '.join(f'"{tap}" {shape}' for tap, shape in leaves))
            else:
                hint = ', not a tensor'
            raise TypeError(f'{self.owner}: tap {spec!r} gives a {kind}{hint}')
        return value

    def remove(self):
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []
