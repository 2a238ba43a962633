import os
import os.path as osp
import shutil

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version():
    scope = {}
    with open(osp.join(HERE, 'mmcrosskd', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def ensure_mim_configs():
    """``mmcrosskd/.mim/configs`` is a link to ``configs/``: mmengine reads ``mmcrosskd::`` configs there, as it
    reads ``mmseg::`` ones in mmseg's ``.mim/configs``. A checkout without symlinks holds a plain file in its
    place: make it a link again, or a copy where links are not allowed."""
    link = osp.join(HERE, 'mmcrosskd', '.mim', 'configs')
    if osp.isdir(link):
        return
    if osp.lexists(link):
        os.remove(link)
    try:
        os.symlink(osp.join('..', '..', 'configs'), link)
    except OSError:
        shutil.copytree(osp.join(HERE, 'configs'), link)


ensure_mim_configs()

setup(
    name='mmcrosskd',
    version=read_version(),
    description='Cross-task knowledge distillation with an inverted projector for OpenMMLab models',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmcrosskd', 'mmcrosskd.*']),
    # The configs travel inside the package (copied into a built wheel), for `mmcrosskd::` paths.
    package_data={'mmcrosskd': ['.mim/model-index.yml', '.mim/configs/**/*.py']},
    python_requires='>=3.8',
    # The tested ranges: their lower ends are the OpenMMLab reference stack (requirements/pinned-reference.txt),
    # their upper ends the main stack (requirements/pinned.txt); `import mmcrosskd` refuses a stack outside them
    # (mmcrosskd/compat/stack_check.py). No torch or mmcv is pulled in when the environment already has one.
    install_requires=[
        'torch>=2.1',
        'mmengine>=0.10,<1.0',
        'numpy>=1.26',
    ],
    extras_require={
        'seg': ['mmsegmentation>=1.2.2,<2.0', 'mmcv>=2.1.0,<2.2.0', 'ftfy', 'regex'],
        'cls': ['mmpretrain>=1.2.0,<2.0', 'mmcv>=2.1.0,<2.2.0', 'torchvision>=0.16'],
        # mmdet detectors as teachers; mmdet 3.3.0 accepts mmcv <2.2.0 (so does mmseg 1.2.2).
        'mmdet': ['mmdet==3.3.0', 'mmcv>=2.1.0,<2.2.0', 'pycocotools', 'shapely', 'terminaltables', 'scipy'],
        'plot': ['matplotlib'],
        'tests': ['pytest'],
    },
    license='Apache-2.0',
)
