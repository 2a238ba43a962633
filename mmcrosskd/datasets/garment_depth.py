"""Depth scenes composed of real Fashion-MNIST garments, in mmseg's NYU depth layout.

Each scene is a pinhole-camera view of a few garments, each a flat cut-out facing the camera at its own
depth in front of a textured far plane:

* **perspective** - a garment at depth ``d`` (metres) is drawn ``canvas * focal / d`` pixels wide, so a
  farther garment has a smaller footprint;
* **occlusion** - garments are painted far to near (painter's order), so a nearer garment covers a
  farther one where they overlap;
* **far plane** - every pixel that shows no garment is the background at ``far_depth``.

Ground truth is the depth of the visible surface at each pixel (float, metres). Files
(:func:`prepare_garment_depth`, ``tools/prepare_data.py``) follow mmseg's ``NYUDataset`` layout, so
mmseg's own ``NYUDataset``, ``LoadDepthAnnotation`` and ``DepthMetric`` read them unchanged::

    <out>/images/{train,test}/scene_<n>.png        RGB, canvas x canvas
    <out>/annotations/{train,test}/scene_<n>.png   uint16, depth in millimetres (as NYU:
                                                   LoadDepthAnnotation(depth_rescale_factor=1e-3))

Train scenes use only Fashion-MNIST's train split, test scenes only its test split; everything is
determined by ``seed``.
"""
import json
import os
import os.path as osp

import numpy as np

from .fashion_mnist import DEFAULT_SOURCE, _resize, _write_png, load_split, prepared_before

DEPTH_SCALE = 1000.0  # PNG value per metre (millimetres, as NYU); load with depth_rescale_factor=1 / DEPTH_SCALE
FAR_DEPTH = 8.0  # metres: the background plane
DEPTH_RANGE = (1.0, 6.0)  # metres: garment depths are drawn uniformly from this range
FOCAL = 0.75  # a garment at depth d is canvas * FOCAL / d pixels wide (48 px at 1 m on a 64 px canvas)
INK = 0.1  # a garment pixel is one whose intensity exceeds this fraction of white (as in the seg scenes)


def garment_size(depth, canvas, focal=FOCAL):
    """The side in pixels of a garment's 28x28 frame at ``depth`` metres (pinhole camera).

    Args:
        depth (float): distance to the camera in metres.
        canvas (int): scene size in pixels.
        focal (float): focal length as a fraction of the canvas (at 1 m the frame is ``focal * canvas``).

    Returns:
        int: side length, at least 1 and at most ``canvas``.
    """
    if depth <= 0:
        raise ValueError(f'garment depth must be positive, got {depth}')
    return int(min(canvas, max(1, round(canvas * focal / depth))))


def render_depth_scene(garments, background, far_depth=FAR_DEPTH, focal=FOCAL):
    """Paint garments over a far plane, far to near, and return the image and its depth map.

    Args:
        garments (list[dict]): each with ``image`` ((28, 28) uint8 garment), ``depth`` (metres, below
            ``far_depth``), ``x``, ``y`` (top-left pixel of its frame) and ``tint`` (3 floats, 0-255, the
            colour of its white).
        background (np.ndarray): (H, W, 3) float image of the far plane; H == W is the canvas.
        far_depth (float): depth of the background plane.
        focal (float): see :func:`garment_size`.

    Returns:
        tuple[np.ndarray, np.ndarray]: image (H, W, 3) uint8 and depth (H, W) float32 in metres.
    """
    canvas = background.shape[0]
    if background.shape[:2] != (canvas, canvas):
        raise ValueError(f'the far plane must be square, got {background.shape[:2]}')
    img = np.array(background, np.float32)
    depth = np.full((canvas, canvas), far_depth, np.float32)
    # painter's order: the farthest first, so nearer garments overwrite what they hide
    for g in sorted(garments, key=lambda g: -g['depth']):
        if not 0 < g['depth'] < far_depth:
            raise ValueError(f"garment depth {g['depth']} must lie between 0 and the far plane ({far_depth})")
        size = garment_size(g['depth'], canvas, focal)
        x, y = int(g['x']), int(g['y'])
        if not (0 <= x <= canvas - size and 0 <= y <= canvas - size):
            raise ValueError(f'a {size} px garment at ({x}, {y}) does not fit the {canvas} px canvas')
        shade = _resize(g['image'], size).astype(np.float32) / 255.0
        mask = shade > INK
        img[y:y + size, x:x + size][mask] = shade[mask, None] * np.asarray(g['tint'], np.float32)
        depth[y:y + size, x:x + size][mask] = g['depth']
    return img.clip(0, 255).astype(np.uint8), depth


def compose_depth_scene(rng, images, canvas=64, n_objects=(2, 5), depth_range=DEPTH_RANGE,
                        far_depth=FAR_DEPTH, focal=FOCAL):
    """One random depth scene from a pool of garments.

    Args:
        rng (np.random.Generator): the random source.
        images (np.ndarray): (N, 28, 28) uint8 garment pool (one split only).
        canvas (int): scene size in pixels.
        n_objects (tuple[int, int]): min and max garments per scene.
        depth_range (tuple[float, float]): garment depths (metres), drawn uniformly, rounded to the
            millimetre so that the 16-bit file holds them exactly.
        far_depth (float): depth of the background plane.
        focal (float): see :func:`garment_size`.

    Returns:
        tuple[np.ndarray, np.ndarray, list[dict]]: image (H, W, 3) uint8, depth (H, W) float32 in metres,
        and the garments used (pool index, depth, x, y, size).
    """
    # the far plane: a random grey level with pixel noise (a texture with no depth cue of its own)
    background = (rng.uniform(0, 40) + rng.normal(0, 8, (canvas, canvas, 1))).clip(0, 255)
    background = np.repeat(background, 3, axis=2)
    garments, used = [], []
    for _ in range(rng.integers(n_objects[0], n_objects[1] + 1)):
        k = int(rng.integers(len(images)))
        depth = round(float(rng.uniform(*depth_range)) * DEPTH_SCALE) / DEPTH_SCALE
        size = garment_size(depth, canvas, focal)
        y, x = (int(v) for v in rng.integers(0, canvas - size + 1, size=2))
        garments.append(dict(image=images[k], depth=depth, x=x, y=y, tint=rng.uniform(0.5, 1.0, 3) * 255))
        used.append(dict(index=k, depth=depth, x=x, y=y, size=size))
    img, depth_map = render_depth_scene(garments, background, far_depth, focal)
    return img, depth_map, used


def _write_depth_png(path, depth):
    import cv2
    value = np.round(depth * DEPTH_SCALE)
    if value.max() > np.iinfo(np.uint16).max:
        raise ValueError(f'depth {depth.max():.1f} m does not fit a 16-bit PNG at {DEPTH_SCALE:g} per metre')
    if not cv2.imwrite(path, value.astype(np.uint16)):
        raise OSError(f'cannot write {path}')


def prepare_garment_depth(out, source=DEFAULT_SOURCE, seed=0, scenes=(2000, 500), canvas=64,
                          depth_range=DEPTH_RANGE, far_depth=FAR_DEPTH, force=False):
    """Write the depth scenes in mmseg's NYU layout (see the module docstring).

    Args:
        out (str): output folder (e.g. ``data/fashion_mnist/depth``).
        source (str): folder with the four Fashion-MNIST idx files (gzipped or not).
        seed (int): seed of the scene composition.
        scenes (tuple[int, int]): (train, test) number of scenes.
        canvas (int): scene size in pixels.
        depth_range (tuple[float, float]): garment depths in metres.
        far_depth (float): depth of the background plane in metres.
        force (bool): rewrite even if a matching preparation exists.

    Returns:
        dict: what was written (also saved as ``<out>/prepared.json``; a second call with the same
        arguments returns it without writing).
    """
    lo, hi = depth_range
    if not 0 < lo < hi < far_depth:
        raise ValueError(f'need 0 < near < far garment depth < far plane, got depth_range={depth_range}, '
                         f'far_depth={far_depth}')
    settings = dict(source=osp.abspath(source), seed=seed, scenes=list(scenes), canvas=canvas,
                    depth_range=list(depth_range), far_depth=far_depth, focal=FOCAL,
                    depth_scale=DEPTH_SCALE, version=1)
    stamp = osp.join(out, 'prepared.json')
    done = prepared_before(stamp, settings, force)
    if done is not None:
        return done
    rng = np.random.default_rng(seed)
    info = dict(settings=settings, scenes={})
    for split, dst in (('train', 'train'), ('test', 'test')):
        images, _ = load_split(source, split)
        img_dir, ann_dir = (osp.join(out, d, dst) for d in ('images', 'annotations'))
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        sources = []
        for n in range(scenes[0 if split == 'train' else 1]):
            img, depth, used = compose_depth_scene(rng, images, canvas, depth_range=depth_range,
                                                   far_depth=far_depth)
            _write_png(osp.join(img_dir, f'scene_{n:05d}.png'), img)
            _write_depth_png(osp.join(ann_dir, f'scene_{n:05d}.png'), depth)
            sources.append(used)
        with open(osp.join(out, f'{dst}_sources.json'), 'w') as f:
            json.dump({'split': split, 'garments': sources}, f)
        info['scenes'][dst] = len(sources)
    with open(stamp, 'w') as f:
        json.dump(info, f, indent=1)
    return info
