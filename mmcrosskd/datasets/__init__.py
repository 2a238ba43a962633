from .fashion_mnist import CLASSES, SCENE_CLASSES, compose_scene, prepare_fashion_mnist, read_idx
from .fashion_mnist_cls import FashionMNISTDataset
from .garment_depth import compose_depth_scene, prepare_garment_depth, render_depth_scene
from .garment_scenes import GarmentScenesDataset

__all__ = ['CLASSES', 'SCENE_CLASSES', 'compose_scene', 'prepare_fashion_mnist', 'read_idx',
           'FashionMNISTDataset', 'GarmentScenesDataset', 'compose_depth_scene', 'prepare_garment_depth',
           'render_depth_scene']
