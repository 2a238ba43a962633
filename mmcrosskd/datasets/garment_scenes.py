"""Segmentation scenes composed of real Fashion-MNIST garments (see ``fashion_mnist.py``)."""
import os
import os.path as osp

from mmengine.dataset import BaseDataset
from mmengine.registry import DATASETS

from .fashion_mnist import SCENE_CLASSES

PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
           [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]]


@DATASETS.register_module()
class GarmentScenesDataset(BaseDataset):
    """Scenes in mmseg's layout: ``img_dir/<split>/<n>.png`` with ``ann_dir/<split>/<n>.png``.

    Produces the keys mmseg's ``LoadAnnotations``/``PackSegInputs`` and ``IoUMetric`` expect, without
    importing mmseg. 11 classes: background and the ten garments.

    Args:
        data_root (str): the ``scenes`` folder written by ``tools/prepare_data.py``.
        split (str): ``'train'`` or ``'val'``.
        max_samples (int, optional): keep only the first N scenes (few-shot regimes).
        **kwargs: passed to ``mmengine.dataset.BaseDataset``.
    """

    METAINFO = dict(classes=SCENE_CLASSES, palette=PALETTE)

    def __init__(self, data_root, split='train', max_samples=None, **kwargs):
        self.split, self.max_samples = split, max_samples
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self):
        img_dir = osp.join(self.data_root, 'img_dir', self.split)
        ann_dir = osp.join(self.data_root, 'ann_dir', self.split)
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'{img_dir} not found: run `python tools/prepare_data.py` first')
        names = sorted(n for n in os.listdir(img_dir) if n.endswith('.png'))
        if self.max_samples:
            names = names[:self.max_samples]
        return [dict(img_path=osp.join(img_dir, n), seg_map_path=osp.join(ann_dir, n), label_map=None,
                     reduce_zero_label=False, seg_fields=[]) for n in names]
