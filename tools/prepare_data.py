"""Prepare the offline Fashion-MNIST data: a classification set, composed segmentation scenes and depth scenes.

    python tools/prepare_data.py [--source /usr/share/datasets/fashion-mnist] [--out data/fashion_mnist]

See mmcrosskd/datasets/fashion_mnist.py (``cls/``, ``scenes/``) and mmcrosskd/datasets/garment_depth.py
(``depth/``, mmseg's NYU layout) for what is written. The scenes are composed from real Fashion-MNIST
images (train scenes from the train split, val/test scenes from the test split).
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmcrosskd.datasets.fashion_mnist import DEFAULT_SOURCE, prepare_fashion_mnist  # noqa: E402
from mmcrosskd.datasets.garment_depth import prepare_garment_depth  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--source', default=DEFAULT_SOURCE, help='folder with the four idx files (.gz or not)')
    p.add_argument('--out', default='data/fashion_mnist')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cls-train', type=int, default=None, help='classification train images (default all)')
    p.add_argument('--cls-val', type=int, default=None, help='classification val images (default all)')
    p.add_argument('--scenes-train', type=int, default=2000)
    p.add_argument('--scenes-val', type=int, default=500)
    p.add_argument('--canvas', type=int, default=64)
    p.add_argument('--depth-train', type=int, default=2000, help='depth scenes from the train split (0: none)')
    p.add_argument('--depth-test', type=int, default=500, help='depth scenes from the test split')
    p.add_argument('--force', action='store_true')
    a = p.parse_args(argv)
    cls = None if a.cls_train is None and a.cls_val is None else (a.cls_train or 60000, a.cls_val or 10000)
    t0 = time.time()
    info = prepare_fashion_mnist(a.out, a.source, a.seed, cls, (a.scenes_train, a.scenes_val), a.canvas, a.force)
    if a.depth_train or a.depth_test:
        info['depth'] = prepare_garment_depth(osp.join(a.out, 'depth'), a.source, a.seed,
                                              (a.depth_train, a.depth_test), a.canvas, force=a.force)['scenes']
    print(f"[data] {a.out}: classification {info['cls']}, scenes {info['scenes']}, depth scenes "
          f"{info.get('depth', 'none')} ({time.time() - t0:.1f} s)")
    return info


if __name__ == '__main__':
    main()
