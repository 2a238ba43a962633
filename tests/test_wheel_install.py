"""mmcrosskd's wheel added to an existing OpenMMLab environment, then used the way mmseg's own tools use a
config: ``Config.fromfile`` + ``Runner.from_cfg``, with ``custom_imports=['mmcrosskd']`` and none of our tools.

The "existing environment" is the one running this test (on CI: the main and the reference stack): a new,
empty environment sees all of its packages through a ``.pth`` line, the way a conda or system environment
would hold them, and our wheel is installed into the new one with pip resolving its requirements against
them. So we can check that installing mmcrosskd adds nothing but mmcrosskd (torch, mmcv and numpy stay the
environment's own) without ever modifying the environment the suite runs in.
"""
import glob
import os
import os.path as osp
import re
import site
import subprocess
import sys
import zipfile

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = 'mmcrosskd/.mim/configs'
KD_CONFIG = 'quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py'
STUDENT_CONFIG = 'quickstart/fcn_r18-d8_scenes-64px.py'

TRAIN = '''import sys
from mmengine.config import Config
from mmengine.runner import Runner
cfg = Config.fromfile(sys.argv[1])
runner = Runner.from_cfg(cfg)
print('mmcrosskd from', sys.modules['mmcrosskd'].__file__)
runner.train()
'''
TEST = '''import sys
import torch
from mmengine.config import Config
from mmengine.runner import Runner
cfg = Config.fromfile(sys.argv[1])
runner = Runner.from_cfg(cfg)
metrics = runner.test()
exported = torch.load(cfg.load_from, map_location='cpu')['state_dict']
own = runner.model.state_dict()
same = exported.keys() == own.keys() and all(torch.equal(exported[k], own[k].cpu()) for k in own)
print('student weights equal the exported ones:', same)
print('metrics:', metrics)
'''


def _run(cmd, cwd, env=None):
    proc = subprocess.run([str(c) for c in cmd], cwd=str(cwd), capture_output=True, text=True, timeout=900,
                          env=env)
    assert proc.returncode == 0, f'{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc.stdout + proc.stderr


def _data(root):
    loader = f"dict(num_workers=0, persistent_workers=False, dataset=dict(data_root={root!r}))"
    return (f'train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, '
            f'dataset=dict(data_root={root!r}))\nval_dataloader = {loader}\ntest_dataloader = {loader}\n')


def test_wheel_into_an_existing_environment_trains_through_plain_mmengine(tiny_seg, tmp_path):
    # 1. the wheel, with the configs inside it
    dist = tmp_path / 'dist'
    _run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', ROOT, '-w', dist],
         cwd=tmp_path)
    (wheel,) = glob.glob(str(dist / 'mmcrosskd-*.whl'))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert f'{CONFIGS}/{KD_CONFIG}' in names and f'{CONFIGS}/_base_/datasets/garment_scenes.py' in names

    # 2. an environment that holds this one's packages, and pip install of the wheel into it
    env_dir = tmp_path / 'env'
    _run([sys.executable, '-m', 'venv', '--without-pip', env_dir], cwd=tmp_path)
    py = env_dir / 'bin' / 'python'
    env_site = _run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], cwd=tmp_path).strip()
    with open(osp.join(env_site, 'existing-openmmlab-environment.pth'), 'w') as f:
        f.write('\n'.join(site.getsitepackages()) + '\n')
    clean = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    log = _run([py, '-m', 'pip', 'install', '--disable-pip-version-check', wheel], cwd=tmp_path, env=clean)
    assert 'Successfully installed mmcrosskd-' in log
    added = sorted(n for n in os.listdir(env_site) if n != 'existing-openmmlab-environment.pth')
    # nothing but mmcrosskd was installed: torch, mmcv, numpy, mmengine are the environment's own
    assert [n for n in added if not n.startswith('mmcrosskd')] == [], added
    where = _run([py, '-c', 'import torch, mmcv, numpy, mmengine; '
                  'print(*(m.__file__ for m in (torch, mmcv, numpy, mmengine)))'], cwd=tmp_path, env=clean)
    assert env_site not in where and all(p.startswith(tuple(site.getsitepackages())) for p in where.split())

    # 3. from a folder outside the repository: the quick-start distillation config, as a user inherits it
    user = tmp_path / 'user'
    user.mkdir()
    installed = osp.join(env_site, CONFIGS)
    (user / 'train.py').write_text(TRAIN)
    (user / 'test.py').write_text(TEST)
    (user / 'my_kd.py').write_text(
        f"_base_ = [{osp.join(installed, KD_CONFIG)!r}]\n"
        "custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)\n"
        "model = dict(teachers=dict(cls=dict(checkpoint=None, seed=0)))  # a random teacher: no file needed\n"
        + _data(tiny_seg) +
        "train_cfg = dict(max_iters=4, val_interval=4)\n"
        "default_hooks = dict(checkpoint=dict(interval=4), logger=dict(interval=1))\n"
        "work_dir = 'work'\n")
    log = _run([py, 'train.py', 'my_kd.py'], cwd=user, env=clean)
    assert f'mmcrosskd from {osp.join(env_site, "mmcrosskd")}' in log
    assert 'loss_kd_c4' in log, log[-4000:]
    val_miou = re.findall(r'Iter\(val\).*mIoU: ([\d.]+)', log)[-1]
    assert (user / 'work' / 'iter_4.pth').exists() and (user / 'work' / 'student_last.pth').exists()

    # 4. the exported student, with the student's own plain config
    (user / 'my_student.py').write_text(
        f"_base_ = [{osp.join(installed, STUDENT_CONFIG)!r}]\n" + _data(tiny_seg) +
        "load_from = 'work/student_last.pth'\nwork_dir = 'work_test'\n")
    log = _run([py, 'test.py', 'my_student.py'], cwd=user, env=clean)
    assert 'student weights equal the exported ones: True' in log
    # the bare student scores exactly what the distiller's student scored in training's validation
    assert re.findall(r'Iter\(test\).*mIoU: ([\d.]+)', log) == [val_miou], log[-3000:]
