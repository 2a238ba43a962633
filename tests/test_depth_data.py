"""Garment depth scenes: perspective, occlusion and the far plane by hand; deterministic files in mmseg's NYU
layout that mmseg's own NYUDataset / LoadDepthAnnotation read back to the rendered depth."""
import json
import os.path as osp

import numpy as np
import pytest

import mmcrosskd  # noqa: F401
from mmcrosskd.datasets import compose_depth_scene, prepare_garment_depth, render_depth_scene
from mmcrosskd.datasets.fashion_mnist import _resize, load_split
from mmcrosskd.datasets.garment_depth import DEPTH_RANGE, FAR_DEPTH, INK, garment_size

CANVAS = 64
SOLID = np.full((28, 28), 255, np.uint8)  # a garment whose every pixel is ink: its footprint is its frame


def _far_plane(level=20.0):
    return np.full((CANVAS, CANVAS, 3), level, np.float32)


def test_perspective_sizes_by_hand():
    # canvas * focal / depth with focal 0.75: 48 px at 1 m, 24 px at 2 m, 12 px at 4 m
    assert [garment_size(d, CANVAS) for d in (1.0, 2.0, 4.0)] == [48, 24, 12]
    with pytest.raises(ValueError, match='positive'):
        garment_size(0.0, CANVAS)


def test_nearer_occludes_farther_smaller_footprint_and_far_plane():
    near = dict(image=SOLID, depth=2.0, x=10, y=10, tint=(200.0, 0.0, 0.0))   # 24 px: rows/cols 10..33
    far = dict(image=SOLID, depth=4.0, x=28, y=28, tint=(0.0, 0.0, 200.0))    # 12 px: rows/cols 28..39
    for order in ([near, far], [far, near]):  # the list order does not matter: painter's order by depth
        img, depth = render_depth_scene(order, _far_plane(), far_depth=FAR_DEPTH)
        assert depth.dtype == np.float32 and depth.shape == (CANVAS, CANVAS)
        # the overlap (rows/cols 28..33) shows the nearer garment: its depth and its colour
        assert (depth[28:34, 28:34] == 2.0).all() and (img[28:34, 28:34] == (200, 0, 0)).all()
        # the farther garment is visible only where the nearer one does not cover it
        assert (depth == 4.0).sum() == 12 * 12 - 6 * 6
        assert (depth[34:40, 28:40] == 4.0).all() and (img[34:40, 28:40] == (0, 0, 200)).all()
        assert (depth == 2.0).sum() == 24 * 24
        # every other pixel is the far plane: its depth and its texture
        background = (depth != 2.0) & (depth != 4.0)
        assert (depth[background] == FAR_DEPTH).all() and (img[background] == 20).all()
        assert background.sum() == CANVAS * CANVAS - 24 * 24 - (12 * 12 - 6 * 6)
    # alone, the farther garment's footprint is (4 / 2)^2 = 4 times smaller than the nearer one's
    _, d_near = render_depth_scene([near], _far_plane())
    _, d_far = render_depth_scene([far], _far_plane())
    assert (d_near == 2.0).sum() == 4 * (d_far == 4.0).sum()


def test_render_rejects_what_the_camera_cannot_see():
    with pytest.raises(ValueError, match='far plane'):
        render_depth_scene([dict(image=SOLID, depth=FAR_DEPTH, x=0, y=0, tint=(1, 1, 1))], _far_plane())
    with pytest.raises(ValueError, match='does not fit'):
        render_depth_scene([dict(image=SOLID, depth=1.0, x=20, y=0, tint=(1, 1, 1))], _far_plane())  # 48 px at x=20


def test_random_scenes_follow_the_geometry(fashion_source):
    images, _ = load_split(fashion_source, 'test')
    rng = np.random.default_rng(3)
    for _ in range(20):
        img, depth, used = compose_depth_scene(rng, images, CANVAS)
        assert img.shape == (CANVAS, CANVAS, 3) and img.dtype == np.uint8 and 2 <= len(used) <= 5
        # the far plane and the garments' own depths, nothing else; each garment fills part of its frame
        assert set(np.unique(depth).tolist()) <= {FAR_DEPTH} | {float(np.float32(g['depth'])) for g in used}
        for g in used:
            assert DEPTH_RANGE[0] <= g['depth'] <= DEPTH_RANGE[1] and g['size'] == garment_size(g['depth'], CANVAS)
            frame = depth[g['y']:g['y'] + g['size'], g['x']:g['x'] + g['size']]
            ink = _resize(images[g['index']], g['size']) / 255.0 > INK
            # where the garment has ink, it shows unless a nearer garment covers it: never the far plane
            assert ink.any() and (frame[ink] <= np.float32(g['depth'])).all()
        assert (depth == FAR_DEPTH).any()


def test_prepared_files_load_through_mmseg_nyu(fashion_source, tmp_path):
    a, b, c = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
    info = prepare_garment_depth(str(a), fashion_source, seed=0, scenes=(5, 3))
    prepare_garment_depth(str(b), fashion_source, seed=0, scenes=(5, 3))
    prepare_garment_depth(str(c), fashion_source, seed=1, scenes=(5, 3))
    assert info['scenes'] == dict(train=5, test=3)
    for rel in ('images/train/scene_00004.png', 'annotations/test/scene_00002.png'):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel  # deterministic by seed
    assert (a / 'images/train/scene_00000.png').read_bytes() != (c / 'images/train/scene_00000.png').read_bytes()
    train = json.loads((a / 'train_sources.json').read_text())
    test = json.loads((a / 'test_sources.json').read_text())
    assert train['split'] == 'train' and test['split'] == 'test' and len(test['garments']) == 3

    from mmseg.datasets import NYUDataset
    ds = NYUDataset(data_root=str(a), img_suffix='.png', test_mode=True,
                    data_prefix=dict(img_path='images/test', depth_map_path='annotations/test'),
                    pipeline=[dict(type='LoadImageFromFile'),
                              dict(type='mmseg.LoadDepthAnnotation', depth_rescale_factor=1e-3),
                              dict(type='mmseg.PackSegInputs')])
    assert len(ds) == 3
    sample = ds[2]
    gt = sample['data_samples'].gt_depth_map.data
    assert tuple(gt.shape) == (1, CANVAS, CANVAS) and tuple(sample['inputs'].shape) == (3, CANVAS, CANVAS)
    # the 16-bit file holds millimetres: the loaded depth is the rendered one to float32 rounding
    depths = {g['depth'] for g in test['garments'][2]} | {FAR_DEPTH}
    values = np.unique(gt.numpy())
    assert len(values) <= len(depths)
    assert all(min(abs(v - d) for d in depths) < 1e-5 for v in values)
    assert abs(float(gt.max()) - FAR_DEPTH) < 1e-5  # the far plane shows somewhere

    # a second call with the same settings writes nothing; bad ranges say what is wrong
    mtime = osp.getmtime(a / 'images/train/scene_00000.png')
    prepare_garment_depth(str(a), fashion_source, seed=0, scenes=(5, 3))
    assert osp.getmtime(a / 'images/train/scene_00000.png') == mtime
    with pytest.raises(ValueError, match='far plane'):
        prepare_garment_depth(str(tmp_path / 'd'), fashion_source, depth_range=(1.0, 9.0))
