"""The names ``tools/``, ``benchmarks/`` and user scripts import from ``mmcrosskd.runner_utils``; each lives in
the :mod:`mmcrosskd.runner` module of its concern."""
from mmengine.config import DictAction  # noqa: F401  (re-exported for the tools)

from .runner.amp import enable_amp
from .runner.config import add_safety_hooks, build_runner, data_root_options, infer_default_scope, load_config
from .runner.launch import prepare_cpu_distributed, release_distributed, slurm_environment
from .runner.logs import read_scalars

__all__ = ['DictAction', 'enable_amp', 'add_safety_hooks', 'build_runner', 'data_root_options', 'infer_default_scope',
           'load_config', 'prepare_cpu_distributed', 'release_distributed', 'slurm_environment', 'read_scalars']
