"""The package imports, registers its modules, and its compatibility shims work."""
import io
import os.path as osp
import subprocess
import sys

import numpy as np
import torch


def test_modules_are_registered():
    import mmcrosskd  # noqa: F401
    from mmengine.registry import DATASETS, HOOKS, MODELS
    for name in ('CrossTaskDistiller', 'FeatureL2Loss', 'FeatureL1Loss', 'FeatureSmoothL1Loss',
                 'FeatureCosineLoss'):
        assert MODELS.get(name) is not None, name
    assert HOOKS.get('ExportStudentHook') is not None
    assert DATASETS.get('FashionMNISTDataset') is not None and DATASETS.get('GarmentScenesDataset') is not None


def test_found_from_mmseg_and_mmpretrain_scopes():
    import mmcrosskd  # noqa: F401
    from mmpretrain.registry import MODELS as CLS_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    assert SEG_MODELS.get('CrossTaskDistiller') is CLS_MODELS.get('CrossTaskDistiller') is not None


def test_custom_imports_in_a_config(tmp_path):
    cfg = tmp_path / 'c.py'
    cfg.write_text("custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)\n"
                   "model = dict(type='FeatureL2Loss')\n")
    code = ('from mmengine.config import Config; from mmengine.registry import MODELS; '
            f'c = Config.fromfile({str(cfg)!r}); print(type(MODELS.build(c.model)).__name__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'FeatureL2Loss'


def test_import_is_light():
    """Importing mmcrosskd does not import mmseg or mmpretrain (heavy, optional)."""
    code = "import sys, mmcrosskd; print('mmseg' in sys.modules, 'mmpretrain' in sys.modules)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['False', 'False']


def _mmengine_checkpoint():
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('allow_list_test')
    hub.update_scalar('train/loss', np.float64(1.5))
    hub.update_scalar('train/acc', 0.25)
    ckpt = dict(meta=dict(seed=np.int64(3), dtype=np.dtype('float32'), arr=np.arange(3)),
                message_hub=hub.state_dict(), state_dict={'w': torch.ones(2)})
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    buf.seek(0)
    return buf


def _check_loaded(loaded):
    from mmengine.logging import HistoryBuffer
    history = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(history, HistoryBuffer) and history.current() == 1.5
    assert loaded['meta']['seed'] == 3 and list(loaded['meta']['arr']) == [0, 1, 2]
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))


def test_checkpoint_allow_list_loads_mmengine_content():
    """safe_load reads an mmengine checkpoint without pickled code on every supported torch: through
    torch's allow-list (torch >= 2.4, where plain weights_only loads work too) or our restricted unpickler."""
    import mmcrosskd  # noqa: F401
    from mmcrosskd.compat.checkpoint_globals import safe_load
    _check_loaded(safe_load(_mmengine_checkpoint()))
    if hasattr(torch.serialization, 'add_safe_globals'):
        _check_loaded(torch.load(_mmengine_checkpoint(), weights_only=True))


def test_restricted_unpickler_reads_mmengine_checkpoints_on_any_torch():
    """The loader torch < 2.4 gets, tested on this torch too."""
    import mmcrosskd  # noqa: F401
    from mmcrosskd.compat.checkpoint_globals import restricted_pickle
    _check_loaded(torch.load(_mmengine_checkpoint(), weights_only=False, pickle_module=restricted_pickle))


def test_allow_list_still_refuses_arbitrary_code():
    import pickle

    import pytest

    import mmcrosskd  # noqa: F401
    from mmcrosskd.compat.checkpoint_globals import restricted_pickle, safe_load

    class Evil:
        def __reduce__(self):
            return (print, ('pwned', ))

    buf = io.BytesIO()
    torch.save({'x': Evil()}, buf)
    for load in (lambda f: torch.load(f, weights_only=True), safe_load,
                 lambda f: torch.load(f, weights_only=False, pickle_module=restricted_pickle)):
        buf.seek(0)
        with pytest.raises(pickle.UnpicklingError, match='print'):
            load(buf)


def test_restricted_unpickler_never_calls_what_getattr_fetched():
    """getattr is allow-listed (HistoryBuffer pickles its methods that way): what it fetches may be stored,
    never called. The pickle: getattr(HistoryBuffer, 'mean'), then a call of the fetched function."""
    import pickle

    import pytest

    from mmcrosskd.compat.checkpoint_globals import restricted_pickle
    fetch = b'cbuiltins\ngetattr\n(cmmengine.logging.history_buffer\nHistoryBuffer\nVmean\ntR'
    stored = restricted_pickle.Unpickler(io.BytesIO(fetch + b'.')).load()
    assert stored.__name__ == 'mean'
    with pytest.raises(pickle.UnpicklingError, match='called'):
        restricted_pickle.Unpickler(io.BytesIO(fetch + b'(tR.')).load()
    with pytest.raises(pickle.UnpicklingError, match='GLOBAL os.system'):
        restricted_pickle.Unpickler(io.BytesIO(b'cos\nsystem\n(Vecho\ntR.')).load()


def test_torchvision_guard_in_a_fresh_interpreter():
    """In this environment plain `import torchvision` works (the .pth guard), and mmpretrain imports."""
    code = ('import torch, torchvision, torchvision.transforms; '
            'from torchvision.ops import box_iou; '
            'print(box_iou(torch.tensor([[0., 0, 2, 2]]), torch.tensor([[1., 1, 3, 3]])).item())')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert abs(float(out.stdout) - 1 / 7) < 1e-6


def test_torchvision_guard_defines_only_what_is_missing():
    """Loaded by path, without the .pth hook: defines the two schemas when the C++ library cannot
    load, and nothing when torchvision is already imported."""
    guard = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'mmcrosskd', 'compat',
                     'torchvision_guard.py')
    code = ('import importlib.util as u; s = u.spec_from_file_location("g", %r); g = u.module_from_spec(s); '
            's.loader.exec_module(g); import sys; g.uninstall_import_hook(); '
            'import torch; defined = g.ensure_torchvision_ops(); '
            'import torchvision; print(sorted(defined), g.ensure_torchvision_ops())' % guard)
    out = subprocess.run([sys.executable, '-S', '-c', code], capture_output=True, text=True,
                         env={'PYTHONPATH': ':'.join(p for p in sys.path if p)})
    assert out.returncode == 0, out.stderr[-2000:]
    try:
        torch.ops.load_library(osp.join(osp.dirname(__import__('torchvision').__file__), '_C.so'))
        expected = "[] []"
    except OSError:
        expected = "['nms', 'qnms'] []"
    assert out.stdout.strip() == expected
