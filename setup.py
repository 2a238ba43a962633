from setuptools import find_packages, setup


def read_version():
    scope = {}
    with open('mmcrosskd/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmcrosskd',
    version=read_version(),
    description='Cross-task knowledge distillation with an inverted projector for OpenMMLab models',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmcrosskd', 'mmcrosskd.*']),
    python_requires='>=3.8',
    # Ranges a user can live with; requirements/pinned.txt records the stack we test on.
    install_requires=[
        'torch>=1.13',
        'mmengine>=0.8,<1.0',
        'numpy',
    ],
    extras_require={
        'seg': ['mmsegmentation>=1.0,<2.0', 'mmcv>=2.0.0rc4,<2.2.0', 'ftfy', 'regex'],
        'cls': ['mmpretrain>=1.0,<2.0', 'mmcv>=2.0.0,<2.4.0', 'torchvision'],
        # mmdet detectors as teachers; mmdet 3.3.0 accepts mmcv <2.2.0 (so does mmseg 1.2.2).
        'mmdet': ['mmdet==3.3.0', 'mmcv>=2.0.0rc4,<2.2.0', 'pycocotools', 'shapely', 'terminaltables', 'scipy'],
        'plot': ['matplotlib'],
        'tests': ['pytest'],
    },
    license='Apache-2.0',
)
