"""Shared fixtures: tiny on-disk datasets and a helper that runs our tools in a subprocess."""
import gzip
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(ROOT, 'tests', 'data')
sys.path.insert(0, osp.join(ROOT, 'tests'))  # our helpers, not mmseg's installed `tests` package


def _write(path, array):
    import cv2
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, array)


def make_tiny_seg(root, n_train=4, n_val=2, size=64, seed=0):
    """Images with a square (class 1) and a disk (class 2) on a dark background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for split, n in (('train', n_train), ('val', n_val)):
        for i in range(n):
            seg = np.zeros((size, size), np.uint8)
            y, x = rng.integers(4, size // 2, 2)
            seg[y:y + 16, x:x + 16] = 1
            cy, cx = rng.integers(size // 2, size - 8, 2)
            seg[(yy - cy) ** 2 + (xx - cx) ** 2 < 36] = 2
            img = rng.integers(0, 40, (size, size, 3)).astype(np.uint8)
            img[seg == 1] = (200, 40, 40)
            img[seg == 2] = (40, 200, 40)
            _write(osp.join(root, 'img_dir', split, f'{i}.png'), img)
            _write(osp.join(root, 'ann_dir', split, f'{i}.png'), seg)
    return root


def make_tiny_cls(root, n_per_class=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    for split in ('train', 'val'):
        for c in range(3):
            for i in range(n_per_class):
                img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
                img[..., c] += 150
                _write(osp.join(root, split, f'class{c}', f'{i}.png'), img)
    return root


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(int(d).to_bytes(4, 'big') for d in array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(autouse=True)
def _restore_environment():
    """Each test leaves os.environ as it found it: tools run in-process (tools/train.py's main, the slurm
    launcher) export RANK / WORLD_SIZE / LOCAL_RANK, which would make a later test's training think it is
    rank 3 of a distributed job."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope='session')
def fashion_source(tmp_path_factory):
    """Real Fashion-MNIST if installed, else a small stand-in in the same idx format."""
    real = '/usr/share/datasets/fashion-mnist'
    if osp.isfile(osp.join(real, 'train-images-idx3-ubyte.gz')):
        return real
    d = tmp_path_factory.mktemp('idx')
    rng = np.random.default_rng(0)
    for split, n in (('train', 300), ('t10k', 100)):
        imgs = (rng.random((n, 28, 28)) > 0.5) * rng.integers(50, 255, (n, 28, 28))
        _write_idx(d / f'{split}-images-idx3-ubyte.gz', imgs)
        _write_idx(d / f'{split}-labels-idx1-ubyte.gz', rng.integers(0, 10, n))
    return str(d)


@pytest.fixture(scope='session')
def tiny_seg(tmp_path_factory):
    return make_tiny_seg(str(tmp_path_factory.mktemp('tiny_seg')))


@pytest.fixture(scope='session')
def tiny_cls(tmp_path_factory):
    return make_tiny_cls(str(tmp_path_factory.mktemp('tiny_cls')))


def seg_data_options(root):
    from mmcrosskd.runner_utils import data_root_options
    return data_root_options(root)


def cls_data_options(root):
    return seg_data_options(root)


def config_with_hooks(base, folder, *hooks):
    """A config that adds test hooks of ``tests/probe_hooks.py`` to ``base``'s own hooks.

    Args:
        base (str): the config to extend (a file).
        folder (str): where to write the new config.
        *hooks (dict): hook configs, e.g. ``dict(type='RankWeightsDump', out_dir=...)``.

    Returns:
        tuple[str, dict]: the config's path, and the environment a subprocess needs to import the hooks.
    """
    from mmengine.config import Config
    own = [dict(h) for h in Config.fromfile(base).get('custom_hooks') or []]
    path = osp.join(folder, 'probed_' + osp.basename(base))
    os.makedirs(folder, exist_ok=True)
    with open(path, 'w') as f:
        f.write(f"_base_ = {base!r}\n"
                "custom_imports = dict(imports=['mmcrosskd', 'probe_hooks'], allow_failed_imports=False)\n"
                f"custom_hooks = {own + list(hooks)!r}\n")
    env = dict(PYTHONPATH=os.pathsep.join(p for p in (osp.join(ROOT, 'tests'), os.environ.get('PYTHONPATH')) if p))
    return path, env


def run_tool(tool, *args, check=True, timeout=600, env=None):
    """Run ``tools/<tool>.py`` with this interpreter, from the repository root; return the result."""
    cmd = [sys.executable, osp.join(ROOT, 'tools', f'{tool}.py'), *map(str, args)]
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n'
                             f'{proc.stderr[-6000:]}')
    return proc
