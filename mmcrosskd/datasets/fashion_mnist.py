"""Fashion-MNIST, offline, as a classification set and as composed segmentation scenes.

The source is the four idx files of Fashion-MNIST (Debian's ``dataset-fashion-mnist`` installs them
in ``/usr/share/datasets/fashion-mnist``). :func:`prepare_fashion_mnist` writes:

* ``<out>/cls/{train,val}/<class>/<n>.png`` and ``<out>/cls/meta/{train,val}.txt`` - the
  classification set in mmpretrain's ``CustomDataset`` layout (28x28 grey images saved as RGB);
* ``<out>/scenes/img_dir/{train,val}/<n>.png`` and ``<out>/scenes/ann_dir/{train,val}/<n>.png`` -
  a dense set in mmseg's layout: each scene is a canvas holding several *real* Fashion-MNIST
  garments (randomly scaled, placed and tinted); every pixel is labelled with its garment's class
  (1..10; 0 is background; where garments overlap the later one wins). Train scenes use only the
  train split, val scenes only the test split, and everything is determined by ``seed``.
"""
import gzip
import json
import os
import os.path as osp

import numpy as np

from ..utils.folders import folder_replaced_whole

CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
           'Bag', 'Ankle boot')
SCENE_CLASSES = ('background', ) + CLASSES
DEFAULT_SOURCE = '/usr/share/datasets/fashion-mnist'
_FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
          'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}


def _open(path):
    if osp.isfile(path):
        return open(path, 'rb')
    if osp.isfile(path + '.gz'):
        return gzip.open(path + '.gz', 'rb')
    raise FileNotFoundError(
        f'Fashion-MNIST file not found: {path}[.gz]. Install Debian\'s dataset-fashion-mnist '
        f'(apt-get install dataset-fashion-mnist) or pass --source with the folder of the idx files')


def read_idx(path):
    """Read an idx file (optionally gzipped) into a numpy array."""
    with _open(path) as f:
        data = f.read()
    magic = int.from_bytes(data[:4], 'big')
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f'{path}: not an unsigned-byte idx file (magic {magic:#x})')
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(source, split):
    """(images (N, 28, 28) uint8, labels (N,) int64) of ``'train'`` or ``'test'``."""
    img_name, lbl_name = _FILES[split]
    images, labels = read_idx(osp.join(source, img_name)), read_idx(osp.join(source, lbl_name))
    if len(images) != len(labels):
        raise ValueError(f'{source}: {split} images and labels differ in count')
    return images, labels.astype(np.int64)


def _resize(img, size):
    import cv2
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


def compose_scene(rng, images, labels, canvas=64, n_objects=(2, 4), scale=(0.8, 1.5)):
    """One scene from a pool of garments.

    Args:
        rng (np.random.Generator): the random source.
        images, labels: the pool (one split only).
        canvas (int): scene size in pixels.
        n_objects (tuple[int, int]): min and max garments per scene.
        scale (tuple[float, float]): garment size range, relative to 28 px.

    Returns:
        tuple[np.ndarray, np.ndarray, list[int]]: image (H, W, 3) uint8, label map (H, W) uint8, and
        the indices of the garments used.
    """
    img = (rng.uniform(0, 40) + rng.normal(0, 8, (canvas, canvas, 1))).clip(0, 255)
    img = np.repeat(img, 3, axis=2)
    seg = np.zeros((canvas, canvas), np.uint8)
    used = []
    for _ in range(rng.integers(n_objects[0], n_objects[1] + 1)):
        k = int(rng.integers(len(images)))
        size = int(round(28 * rng.uniform(*scale)))
        size = min(size, canvas)
        g = _resize(images[k], size).astype(np.float32) / 255.0
        y, x = rng.integers(0, canvas - size + 1, size=2)
        mask = g > 0.1
        tint = rng.uniform(0.5, 1.0, 3) * 255
        patch = img[y:y + size, x:x + size]
        patch[mask] = g[mask, None] * tint
        seg[y:y + size, x:x + size][mask] = labels[k] + 1
        used.append(k)
    return img.astype(np.uint8), seg, used


def _write_png(path, array):
    import cv2
    if array.ndim == 3:
        array = array[..., ::-1]  # RGB -> BGR for cv2
    if not cv2.imwrite(path, np.ascontiguousarray(array)):
        raise OSError(f'cannot write {path}')


def prepared_before(stamp, settings, force=False):
    """What an earlier preparation with exactly these settings wrote (its ``prepared.json``), else None."""
    if force or not osp.isfile(stamp):
        return None
    with open(stamp) as f:
        done = json.load(f)
    return done if done.get('settings') == json.loads(json.dumps(settings)) else None


def prepare_fashion_mnist(out, source=DEFAULT_SOURCE, seed=0, cls_per_split=None,
                          scenes=(2000, 500), canvas=64, force=False):
    """Write the classification set and the segmentation scenes (see module docstring).

    Args:
        out (str): output folder (e.g. ``data/fashion_mnist``).
        source (str): folder with the four idx files (gzipped or not).
        seed (int): seed of the scene composition and of the classification subset.
        cls_per_split (tuple[int, int], optional): (train, val) number of classification images;
            None for all (60000, 10000).
        scenes (tuple[int, int]): (train, val) number of scenes.
        canvas (int): scene size.
        force (bool): rewrite even if a matching preparation exists.

    The ``cls`` and ``scenes`` folders are replaced whole (built beside the old ones, then swapped in).

    Returns:
        dict: what was written (also saved as ``<out>/prepared.json``; a second call with the same
        arguments returns it without writing).
    """
    settings = dict(source=osp.abspath(source), seed=seed, cls_per_split=cls_per_split,
                    scenes=list(scenes), canvas=canvas, version=1)
    stamp = osp.join(out, 'prepared.json')
    done = prepared_before(stamp, settings, force)
    if done is not None:
        return done
    rng = np.random.default_rng(seed)
    info = dict(settings=settings, cls={}, scenes={})
    if osp.isfile(stamp):  # the old preparation is replaced below; if this run fails, the next one redoes it
        os.remove(stamp)
    # built beside the old folders and swapped in whole: files of an earlier, larger run never stay behind
    with folder_replaced_whole(osp.join(out, 'cls')) as cls_out, \
            folder_replaced_whole(osp.join(out, 'scenes')) as scenes_out:
        for split, dst in (('train', 'train'), ('test', 'val')):
            images, labels = load_split(source, split)
            # classification set
            idx = np.arange(len(images))
            if cls_per_split is not None:
                n = cls_per_split[0 if split == 'train' else 1]
                idx = np.sort(rng.permutation(len(images))[:n])
            lines = []
            for c in range(len(CLASSES)):
                os.makedirs(osp.join(cls_out, dst, str(c)), exist_ok=True)
            for i in idx:
                rel = f'{labels[i]}/{i:05d}.png'
                _write_png(osp.join(cls_out, dst, rel), np.repeat(images[i][..., None], 3, axis=2))
                lines.append(f'{rel} {labels[i]}')
            os.makedirs(osp.join(cls_out, 'meta'), exist_ok=True)
            with open(osp.join(cls_out, 'meta', f'{dst}.txt'), 'w') as f:
                f.write('\n'.join(lines) + '\n')
            info['cls'][dst] = len(idx)
            # segmentation scenes, from this split only
            n_scenes = scenes[0 if split == 'train' else 1]
            img_dir, ann_dir = (osp.join(scenes_out, d, dst) for d in ('img_dir', 'ann_dir'))
            os.makedirs(img_dir, exist_ok=True)
            os.makedirs(ann_dir, exist_ok=True)
            sources = []
            for n in range(n_scenes):
                img, seg, used = compose_scene(rng, images, labels, canvas=canvas)
                _write_png(osp.join(img_dir, f'{n:05d}.png'), img)
                _write_png(osp.join(ann_dir, f'{n:05d}.png'), seg)
                sources.append(used)
            with open(osp.join(scenes_out, f'{dst}_sources.json'), 'w') as f:
                json.dump({'split': split, 'garments': sources}, f)
            info['scenes'][dst] = n_scenes
    with open(stamp, 'w') as f:
        json.dump(info, f, indent=1)
    return info
