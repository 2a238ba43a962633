"""The supported-stack check at ``import mmcrosskd``: one clear error naming versions and ranges."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmcrosskd.compat.stack_check import parse_version, problems

REFERENCE = dict(torch='2.1.2+cu121', numpy='1.26.4', mmengine='0.10.7', mmcv='2.1.0')
MAIN = dict(torch='2.13.0+cpu', numpy='2.4.6', mmengine='0.10.7', mmcv='2.1.0')
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_parse_version_reads_the_leading_release():
    assert parse_version('2.1.2+cu121') == (2, 1, 2)
    assert parse_version('2.0.0rc4') == (2, 0, 0)
    assert parse_version('0.10.7') == (0, 10, 7)
    assert parse_version('') == ()


@pytest.mark.parametrize('stack', [REFERENCE, MAIN], ids=['reference', 'main'])
def test_both_tested_stacks_pass(stack):
    assert problems(stack, mmcv_ops=True) == []


def test_each_unsupported_combination_is_named():
    assert problems(dict(REFERENCE, torch='2.0.1'), True) == ['torch 2.0.1 is older than 2.1']
    assert problems(dict(REFERENCE, numpy='1.24.4'), True) == ['numpy 1.24.4 is older than 1.26']
    (msg,) = problems(dict(REFERENCE, numpy='2.1.0'), True)
    assert msg.startswith('numpy 2.1.0 beside torch 2.1.2+cu121') and 'numpy<2' in msg
    assert problems(dict(REFERENCE, numpy='2.1.0', torch='2.3.0'), True) == []  # torch 2.3 is built for numpy 2
    (msg,) = problems(dict(REFERENCE, mmcv=None, **{'mmcv-lite': '2.1.0'}), False)
    assert 'mmcv 2.1.0 (mmcv-lite) has no compiled ops' in msg
    assert problems(dict(REFERENCE, mmcv=None), None) == []  # no mmcv at all: not our check's business


def _import(tmp_path, extra_env=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]), **(extra_env or {}))
    return subprocess.run([sys.executable, '-c', 'import mmcrosskd'], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=300)


def test_import_refuses_mmcv_without_compiled_ops(tmp_path):
    (tmp_path / 'mmcv').mkdir()  # an mmcv package with no _ext, found before the real one
    (tmp_path / 'mmcv' / '__init__.py').write_text("__version__ = '2.1.0'\n")
    out = _import(tmp_path)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()
    err = '\n'.join(last[-3:])
    assert 'UnsupportedStackError: mmcrosskd does not support this stack' in err, out.stderr[-2000:]
    assert 'has no compiled ops' in err and 'Installed: torch ' in err and 'Supported: torch >= 2.1' in err
    assert _import(tmp_path, {'MMCROSSKD_SKIP_STACK_CHECK': '1'}).returncode == 0


def test_import_refuses_a_torch_older_than_the_reference(tmp_path):
    # importlib.metadata reads the first distribution of that name on sys.path
    info = tmp_path / 'torch-2.0.1.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: torch\nVersion: 2.0.1\n')
    out = _import(tmp_path)
    assert out.returncode != 0
    assert 'torch 2.0.1 is older than 2.1' in out.stderr and 'Installed: torch 2.0.1' in out.stderr
