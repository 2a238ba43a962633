"""Test-only hooks that let a test see inside a training run started as a subprocess (tools/train.py,
the launch scripts): each writes what it saw to a file.

Used through a config made by :func:`conftest.config_with_hooks`, which imports this module
(``custom_imports``) with ``tests/`` on ``PYTHONPATH``.
"""
import json
import os
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def _cpu_autocast_enabled():
    """Whether CPU autocast is on (``is_autocast_enabled('cpu')`` from torch 2.4; before, its own function)."""
    try:
        return torch.is_autocast_enabled('cpu')
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def _bare(runner):
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


@HOOKS.register_module()
class RankWeightsDump(Hook):
    """Every rank writes ``{start,end}_rank<R>.pth`` (parameter name -> CPU tensor) into ``out_dir``.

    Args:
        out_dir (str): where the files go.
    """

    priority = 'LOWEST'

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def _dump(self, runner, when):
        os.makedirs(self.out_dir, exist_ok=True)
        state = {k: v.detach().to('cpu', copy=True) for k, v in _bare(runner).named_parameters()}
        torch.save(state, osp.join(self.out_dir, f'{when}_rank{get_rank()}.pth'))

    def before_train(self, runner):  # after the DDP wrap (which broadcasts rank 0's weights) and any load
        self._dump(runner, 'start')

    def after_train(self, runner):
        self._dump(runner, 'end')


def _find(model, path):
    """A module by path: attributes, dict keys and list indices (``teachers.cls.model.backbone.conv1``)."""
    node = model
    for part in path.split('.'):
        if isinstance(node, dict):
            node = node[part]
        elif part.isdigit() and not hasattr(node, part):
            node = node[int(part)]
        else:
            node = getattr(node, part)
    return node


def _dtypes(value):
    if torch.is_tensor(value):
        return [str(value.dtype).replace('torch.', '')]
    if isinstance(value, (list, tuple)):
        return [d for v in value for d in _dtypes(v)]
    if isinstance(value, dict):
        return [d for v in value.values() for d in _dtypes(v)]
    return []


@HOOKS.register_module()
class ForwardDtypeProbe(Hook):
    """Records the dtypes of the tensors that named modules take and give during training forwards, and
    whether autocast was on, into ``out_file`` (JSON: ``{path: {'in': [...], 'out': [...], 'autocast': [...]}}``).

    Args:
        modules (list[str]): module paths from the (unwrapped) model, see :func:`_find`.
        out_file (str): where to write.
    """

    priority = 'LOWEST'

    def __init__(self, modules, out_file):
        self.modules, self.out_file = list(modules), out_file
        self.seen = {m: dict(inputs=set(), outputs=set(), autocast=set()) for m in self.modules}
        self.handles = []

    def before_train(self, runner):
        model = _bare(runner)
        for path in self.modules:
            self.handles.append(_find(model, path).register_forward_hook(self._recorder(path)))

    def _recorder(self, path):
        def record(module, args, output):
            if not module.training and path.startswith('student'):
                return  # validation forwards: not what AMP trains with
            seen = self.seen[path]
            seen['inputs'].update(_dtypes(args))
            seen['outputs'].update(_dtypes(output))
            seen['autocast'].add(_cpu_autocast_enabled())
        return record

    def after_train(self, runner):
        for handle in self.handles:
            handle.remove()
        with open(self.out_file, 'w') as f:
            json.dump({m: {k: sorted(v) for k, v in s.items()} for m, s in self.seen.items()}, f, indent=1)
