"""Evaluate a checkpoint with any mmseg / mmpretrain / mmcrosskd config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--show-dir DIR]
                        [--cfg-options k=v ...] [--launcher ...]
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.dist import is_main_process

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcrosskd  # noqa: E402,F401
from mmcrosskd.runner_utils import (DictAction, add_safety_hooks, build_runner,  # noqa: E402
                                    load_config, prepare_cpu_distributed, release_distributed)
from mmcrosskd.utils.checkpoint import check_checkpoint_file  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='config file, or mmseg::... / mmpretrain::...')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--show-dir', help='save visualised predictions under this folder of the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


# The visualization hook of each scope, as their own test tools configure it for --show-dir.
_VIS_HOOKS = {'mmseg': 'SegVisualizationHook', 'mmpretrain': 'VisualizationHook'}


def enable_show_dir(cfg, show_dir):
    """Draw every test prediction into ``show_dir`` (mmseg: under the visualizer's save dir)."""
    hooks = cfg.setdefault('default_hooks', {})
    if 'visualization' not in hooks:
        if cfg.default_scope not in _VIS_HOOKS:
            raise KeyError(f'--show-dir: no visualization hook known for scope {cfg.default_scope!r}')
        hooks['visualization'] = dict(type=_VIS_HOOKS[cfg.default_scope])
    vis = hooks['visualization']
    vis['interval'] = 1
    if cfg.default_scope == 'mmpretrain':
        vis['enable'] = True
        vis['out_dir'] = show_dir
    else:
        vis['draw'] = True
        cfg.visualizer['save_dir'] = show_dir


def main(argv=None):
    args = parse_args(argv)
    check_checkpoint_file(args.checkpoint, 'tools/test.py')
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    cfg.launcher = args.launcher
    prepare_cpu_distributed(cfg, args.launcher)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    # the checkpoint must fit the model (a distiller's is mapped to a plain student config and back)
    add_safety_hooks(cfg, strict_checkpoint=True, guard_training=False)
    if args.show_dir:
        enable_show_dir(cfg, args.show_dir)
    if args.out:
        cfg.test_evaluator = list(cfg.test_evaluator) if isinstance(cfg.test_evaluator, (list, tuple)) \
            else [cfg.test_evaluator]
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))
    runner = build_runner(cfg)
    metrics = runner.test()
    metrics = {k: float(v) if hasattr(v, '__float__') else v for k, v in metrics.items()}
    if is_main_process():  # one line, not one per rank interleaved on a shared stdout
        print(metrics)
    release_distributed(runner)  # after the rank is read: without a group every process says rank 0
    return metrics


if __name__ == '__main__':
    main()
