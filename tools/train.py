"""Train any mmseg / mmpretrain / mmcrosskd config with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
                         [--launcher {none,pytorch,slurm,mpi}]

CONFIG is a local file or a config shipped with a package: ``mmseg::pspnet/...py``.
"""
import argparse
import contextlib
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone, too

import mmcrosskd  # noqa: E402,F401  (registers modules; checkpoint allow-list; torchvision guard)
from mmcrosskd.runner_utils import (DictAction, add_safety_hooks, build_runner, enable_amp,  # noqa: E402
                                    load_config, prepare_cpu_distributed, release_distributed)
from mmcrosskd.utils.checkpoint import check_checkpoint_file  # noqa: E402
from mmcrosskd.utils.workdir import (checkpoint_problem, last_written_checkpoint,  # noqa: E402
                                     latest_good_checkpoint, work_dir_lock)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (mmseg, mmpretrain or mmcrosskd config)')
    parser.add_argument('config', help='config file, or mmseg::... / mmpretrain::...')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 AMP on a GPU, bf16 autocast on a CPU')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    cfg.launcher = args.launcher
    prepare_cpu_distributed(cfg, args.launcher)
    if args.amp:
        print(enable_amp(cfg))
    if args.resume == 'auto':
        # mmengine would take `last_checkpoint` blindly (and log "resumed from None" when there is none)
        found = latest_good_checkpoint(cfg.work_dir)
        if found is None:
            print(f'--resume: no checkpoint to resume in {cfg.work_dir!r} (no sound iter_*/epoch_*.pth): '
                  'training starts from the beginning', file=sys.stderr)
            cfg.resume, cfg.load_from = False, None
        else:
            cfg.resume, cfg.load_from = True, found
    elif args.resume is not None:
        check_checkpoint_file(args.resume, '--resume')
        problem = checkpoint_problem(args.resume)
        if problem:
            raise RuntimeError(f'--resume: cannot resume from {args.resume!r}: {problem}; give an earlier checkpoint '
                               '(or --resume alone: it picks the newest sound one of the work dir)')
        cfg.resume, cfg.load_from = True, args.resume
    if cfg.get('load_from') and not cfg.get('resume') and '://' not in cfg.load_from:
        check_checkpoint_file(cfg.load_from, 'load_from')
    add_safety_hooks(cfg)
    # under srun mmengine sets RANK only when it builds the runner: every task would take the lock
    rank = int(os.environ.get('SLURM_PROCID' if args.launcher == 'slurm' else 'RANK', '0'))
    lock = work_dir_lock(cfg.work_dir, ' '.join(sys.argv)) if rank == 0 else contextlib.nullcontext()
    with lock:
        runner = build_runner(cfg)
        try:
            runner.train()
        except SyntaxError as exc:
            if not isinstance(exc.__context__, KeyboardInterrupt):
                raise
            # mmengine formats the config into every checkpoint and turns any interruption of that into
            # "SyntaxError: Failed to format the config file"
            raise SystemExit(interrupted_message(runner, 'while a checkpoint was being written (mmengine '
                                                         'reports this as a config SyntaxError; the config '
                                                         'is fine)')) from exc
        except KeyboardInterrupt:
            raise SystemExit(interrupted_message(runner, '')) from None
    release_distributed(runner)
    return runner


def interrupted_message(runner, when):
    """What a Ctrl-C left behind, and how to continue."""
    last = last_written_checkpoint(runner.work_dir)
    where = f'the latest complete checkpoint is {last!r}' if last else 'no checkpoint was written yet'
    return (f'training interrupted (Ctrl-C) at iteration {runner.iter + 1}{" " + when if when else ""}; {where}. '
            'Continue with the same command plus --resume (it skips damaged checkpoints).')


if __name__ == '__main__':
    main()
