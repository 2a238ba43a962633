"""The Fashion-MNIST classification set written by ``tools/prepare_data.py``, as a dataset."""
import os.path as osp

from mmengine.dataset import BaseDataset
from mmengine.registry import DATASETS

from .fashion_mnist import CLASSES


@DATASETS.register_module()
class FashionMNISTDataset(BaseDataset):
    """Fashion-MNIST images from ``<data_root>/<split>/<class>/<n>.png``, listed in
    ``<data_root>/meta/<split>.txt`` (mmpretrain's annotation-file layout).

    Works with mmpretrain's pipelines (``LoadImageFromFile`` ... ``PackInputs``) and metrics.

    Args:
        data_root (str): the ``cls`` folder written by ``tools/prepare_data.py``.
        split (str): ``'train'`` or ``'val'``.
        max_samples (int, optional): keep only the first N samples (few-shot regimes).
        **kwargs: passed to ``mmengine.dataset.BaseDataset``.
    """

    METAINFO = dict(classes=CLASSES)

    def __init__(self, data_root, split='train', max_samples=None, **kwargs):
        self.split, self.max_samples = split, max_samples
        super().__init__(data_root=data_root, ann_file=osp.join('meta', f'{split}.txt'), **kwargs)

    def load_data_list(self):
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{self.ann_file} not found: run `python tools/prepare_data.py` first')
        data_list = []
        with open(self.ann_file) as f:
            for line in f:
                if not line.strip():
                    continue
                rel, label = line.split()
                data_list.append(dict(img_path=osp.join(self.data_root, self.split, rel), gt_label=int(label)))
        return data_list[:self.max_samples] if self.max_samples else data_list

    def get_gt_labels(self):
        import numpy as np
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))])
