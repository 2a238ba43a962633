"""Train any mmseg / mmpretrain / mmcrosskd config with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
                         [--launcher {none,pytorch,slurm,mpi}]

CONFIG is a local file or a config shipped with a package: ``mmseg::pspnet/...py``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone, too

import mmcrosskd  # noqa: E402,F401  (registers modules; checkpoint allow-list; torchvision guard)
from mmcrosskd.runner_utils import (DictAction, build_runner, enable_amp, load_config,  # noqa: E402
                                    prepare_cpu_distributed)


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
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume: checkpoint not found: {args.resume!r}')
        cfg.resume, cfg.load_from = True, args.resume
    if cfg.get('load_from') and not cfg.get('resume') and not osp.isfile(cfg.load_from) \
            and '://' not in cfg.load_from:
        raise FileNotFoundError(f'load_from: checkpoint not found: {cfg.load_from!r}')
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
