"""Fashion-MNIST preparation: deterministic, disjoint splits, datasets with the right shapes and labels."""
import json
import os
import os.path as osp

import numpy as np
import pytest

import mmcrosskd  # noqa: F401
from mmcrosskd.datasets import SCENE_CLASSES, FashionMNISTDataset, GarmentScenesDataset, prepare_fashion_mnist, read_idx
from mmcrosskd.datasets.fashion_mnist import load_split


@pytest.fixture(scope='module')
def source(fashion_source):
    return fashion_source


def _prepare(out, source, seed=0):
    return prepare_fashion_mnist(str(out), source, seed=seed, cls_per_split=(200, 50), scenes=(12, 6))


def test_idx_reader(source):
    imgs = read_idx(osp.join(source, 'train-images-idx3-ubyte'))
    labels = read_idx(osp.join(source, 'train-labels-idx1-ubyte'))
    assert imgs.ndim == 3 and imgs.shape[1:] == (28, 28) and imgs.dtype == np.uint8
    assert len(labels) == len(imgs) and labels.max() <= 9


def test_deterministic_and_disjoint(source, tmp_path):
    a, b, c = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
    _prepare(a, source), _prepare(b, source), _prepare(c, source, seed=1)
    for rel in ('scenes/img_dir/train/00003.png', 'scenes/ann_dir/val/00002.png', 'cls/meta/train.txt'):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / 'scenes/img_dir/train/00003.png').read_bytes() != (c / 'scenes/img_dir/train/00003.png').read_bytes()
    # train scenes use only the train split, val scenes only the test split
    train = json.loads((a / 'scenes/train_sources.json').read_text())
    val = json.loads((a / 'scenes/val_sources.json').read_text())
    assert train['split'] == 'train' and val['split'] == 'test'
    assert all(len(g) >= 2 for g in train['garments'])
    train_cls = set((a / 'cls/meta/train.txt').read_text().split())
    assert len((a / 'cls/meta/val.txt').read_text().split()) == 100  # 50 lines of "path label"
    # a second call with the same settings does nothing (stamp)
    mtime = os.path.getmtime(a / 'cls/meta/train.txt')
    _prepare(a, source)
    assert os.path.getmtime(a / 'cls/meta/train.txt') == mtime
    assert train_cls


def test_splits_are_disjoint_by_content(source, tmp_path):
    """No classification image is in both splits; each is the source image its file names, from its own
    split; scene garments are drawn from the split of their scenes."""
    import cv2
    _prepare(tmp_path, source)
    pools = {'train': load_split(source, 'train')[0], 'val': load_split(source, 'test')[0]}
    content = {}
    for split, pool in pools.items():
        content[split] = set()
        for line in (tmp_path / f'cls/meta/{split}.txt').read_text().split('\n'):
            if not line:
                continue
            rel, label = line.split()
            pixels = cv2.imread(str(tmp_path / 'cls' / split / rel), cv2.IMREAD_GRAYSCALE)
            index = int(osp.splitext(osp.basename(rel))[0])
            assert np.array_equal(pixels, pool[index]), f'{split} {rel} is not image {index} of its split'
            content[split].add(pixels.tobytes())
    assert len(content['train']) == 200 and len(content['val']) == 50
    assert not content['train'] & content['val']
    for split, source_split in (('train', 'train'), ('val', 'test')):
        record = json.loads((tmp_path / f'scenes/{split}_sources.json').read_text())
        assert record['split'] == source_split
        used = [k for garments in record['garments'] for k in garments]
        assert used and max(used) < len(pools[split])


def test_datasets_shapes_and_labels(source, tmp_path):
    _prepare(tmp_path, source)
    seg = GarmentScenesDataset(data_root=str(tmp_path / 'scenes'), split='train', pipeline=[
        dict(type='LoadImageFromFile'), dict(type='mmseg.LoadAnnotations'), dict(type='mmseg.PackSegInputs')])
    assert len(seg) == 12 and seg.metainfo['classes'] == SCENE_CLASSES
    item = seg[0]
    assert tuple(item['inputs'].shape) == (3, 64, 64)
    labels = item['data_samples'].gt_sem_seg.data
    assert labels.shape == (1, 64, 64) and 0 <= int(labels.min()) and int(labels.max()) <= 10
    assert len(labels.unique()) >= 2  # background and at least one garment
    cls = FashionMNISTDataset(data_root=str(tmp_path / 'cls'), split='val', pipeline=[
        dict(type='LoadImageFromFile'), dict(type='mmpretrain.PackInputs')])
    assert len(cls) == 50
    sample = cls[0]
    assert tuple(sample['inputs'].shape) == (3, 28, 28) and 0 <= int(sample['data_samples'].gt_label) <= 9
    assert len(FashionMNISTDataset(data_root=str(tmp_path / 'cls'), split='train', max_samples=7)) == 7
    with pytest.raises(FileNotFoundError, match='prepare_data.py'):
        GarmentScenesDataset(data_root=str(tmp_path / 'nope'))
