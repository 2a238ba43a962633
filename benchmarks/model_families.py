"""Any model, measured: one config per model family of mmseg's and mmpretrain's shipped configs, each checked
as a randomly initialised teacher into a fixed student and as a student under a fixed teacher (one training
step each, small input, CPU), with the time each family took. Writes docs/model_families.md.

    nice -n 10 python benchmarks/model_families.py [--only FAMILY ...] [--size 64] [--timeout 300]
        [--out docs/model_families.md] [--results benchmarks/results/model_families/results.jsonl]

* teacher: the fixed student is the quick-start FCN-ResNetV1c-18 (``configs/quickstart/fcn_r18-d8_scenes-64px.py``,
  tap ``backbone[3]``); the family's model is the teacher, tapped where a user taps it (below);
* student: the family's model is the student (its own task's loss on a random batch), tapped where a user taps
  it, under a random mmpretrain ResNet-18 teacher tapped at ``backbone.layer4``.

The tap is the one docs/teachers.md tells users to start from: the backbone's last output, ``backbone[-1]``
(``backbone`` when it returns one tensor), whatever its layout (a map, tokens, channel-first tokens or a pooled
vector); inside a nested last output (a pair per stage), the first map in it (``backbone[-1][0]``). Only a model
without a ``backbone`` is tapped elsewhere (its deepest feature map), and the table says so
(:func:`user_tap`, from the model's dry run, what ``tools/list_taps.py`` prints). Every family runs in its own process with a time limit; results are appended
to ``--results`` as they come (a rerun skips families already there; ``--fresh`` starts over).
Models that need a fixed input size are retried at 224 x 224 (``--retry-size``), then at the size the model is built
for, if it says (its backbone's ``img_size``, or the fixed size of its test pipeline).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

PACKAGES = ('mmseg', 'mmpretrain')
FIXED_STUDENT = osp.join(ROOT, 'configs', 'quickstart', 'fcn_r18-d8_scenes-64px.py')
FIXED_STUDENT_TAP = 'backbone[3]'
FIXED_TEACHER = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
FIXED_TEACHER_TAP = 'backbone.layer4'
# Config names that are not the family's plain model (other hardware, precision or dataset plumbing; LEVIR-CD
# change detection takes 6-channel image pairs).
_SKIP_NAME = re.compile(r'ipu|fp16|amp|dsdl|lora|deploy|headless|-test|_test|levir')
# Smaller models first: the sweep measures whether a family works, not how large it gets.
_SIZE_WORDS = ['atto', 'femto', 'pico', 'nano', 'tiny', 'mit-b0', 'r18', '18', 'xs', 'mini', 'small', 's-', '-s',
               '_s', 'b0', 'base', 'r50', '50', 'b-', '-b']


def family_dirs(package):
    """``{family: [config paths]}`` of a package's shipped configs (top-level files of each family folder)."""
    from mmcrosskd.utils.config import resolve_config_path
    root = osp.dirname(resolve_config_path(f'{package}::_base_/default_runtime.py'))
    root = osp.dirname(root)
    out = {}
    for fam in sorted(os.listdir(root)):
        d = osp.join(root, fam)
        if fam.startswith('_') or not osp.isdir(d):
            continue
        files = sorted(f for f in os.listdir(d) if f.endswith('.py'))
        if files:
            out[fam] = files
    return out


def pick_config(files):
    """The family's representative: a plain config, the smallest model by its name, the shortest name."""
    plain = [f for f in files if not _SKIP_NAME.search(f)] or files

    def rank(name):
        for i, word in enumerate(_SIZE_WORDS):
            if word in name:
                return i
        return len(_SIZE_WORDS)
    return min(plain, key=lambda f: (rank(f), len(f), f))


def all_families(packages=PACKAGES):
    """``[(family id, config)]`` for every family, e.g. ``('mmseg/pspnet', 'mmseg::pspnet/pspnet_r18...py')``,
    the packages taken in turn (a sweep cut short still covers both)."""
    per_package = [[(f'{pkg}/{fam}', f'{pkg}::{fam}/{pick_config(files)}') for fam, files in family_dirs(pkg).items()]
                   for pkg in packages]
    out = []
    for i in range(max(len(x) for x in per_package)):
        out += [x[i] for x in per_package if i < len(x)]
    return out


# -- one check, in this process ---------------------------------------------------------------------------
def _model_spec(config):
    """(model config, scope) as the Runner would build it, with the input size left to the caller."""
    from mmcrosskd.runner_utils import load_config
    from mmcrosskd.utils.config import load_model_spec
    cfg = load_config(config)
    spec, scope = load_model_spec(cfg.model, cfg.get('default_scope'))
    if spec.get('data_preprocessor') is None and cfg.get('data_preprocessor') is not None:
        spec['data_preprocessor'] = cfg.data_preprocessor
    return spec, scope or cfg.get('default_scope')


def _set_size(spec, size):
    """mmseg preprocessors pad to a fixed crop size: make it the test size."""
    pre = spec.get('data_preprocessor')
    if isinstance(pre, dict) and pre.get('size') is not None:
        pre['size'] = (size, size)
    return spec


def user_tap(rows):
    """The tap a user starts from, from a dry run's rows: ``(tap, why)``, ``why`` saying why it is not plain
    ``backbone[-1]`` / ``backbone`` (None when it is)."""
    by_tap = {r['tap']: r for r in rows}
    top = by_tap.get('backbone')
    if top is None:
        tap = deepest_map(rows) or deepest_map(rows, 'tokens')
        return tap, None if tap is None else 'no `backbone` module: its deepest feature map'
    if top['shape'] is not None:  # one tensor
        return 'backbone', None
    count = int(top['layout'].split()[-1])
    last = by_tap.get(f'backbone[{count - 1}]')
    if last is not None and last['layout'] == 'index':  # MAE-style (features, mask, ids): the features
        first = next((i for i in range(count) if by_tap.get(f'backbone[{i}]', {}).get('layout')
                      in ('map', 'tokens', 'vector')), None)
        if first is not None:
            return f'backbone[{first}]', f'`backbone[-1]` is an integer tensor {last["shape"]} (mask or ids), not a feature'
    if last is None or last['shape'] is not None:
        return 'backbone[-1]', None
    inner = [r for r in rows if r['tap'].startswith(f'backbone[{count - 1}][') and r['shape'] is not None]
    pick = next((r for r in inner if r['layout'] == 'map'), inner[0] if inner else None)
    if pick is None:
        return 'backbone[-1]', None
    tap = 'backbone[-1]' + pick['tap'][len(f'backbone[{count - 1}]'):]
    shapes = ', '.join(f"{r['tap'][len(f'backbone[{count - 1}]'):]} {r['layout']} {r['shape']}" for r in inner)
    first = 'the first map in it' if pick['layout'] == 'map' else 'its first tensor (no map in it)'
    return tap, f'nested: `backbone[-1]` is a {last["layout"]} ({shapes}); {first}'


def deepest_map(rows, layout='map'):
    """The tap of a model's deepest backbone feature map (B, C, H, W), else its last map anywhere (``layout``:
    the same for another layout, e.g. ``'tokens'``)."""
    maps = [r for r in rows if r['layout'] == layout]
    in_backbone = [r for r in maps if r['tap'].split('.')[0].split('[')[0] == 'backbone']
    pick = (in_backbone or maps or [None])[-1]
    return None if pick is None else pick['tap']


def find_tap(spec, scope, size, train=False):
    """Build the model (random), dry-run it on images alone (with its own channel count) and pick its tap.

    ``train=True`` dry-runs in training mode, as a student's taps are read (DDRNet's backbone returns one map
    in eval mode and a tuple with its auxiliary branch in training).

    A model whose head needs data samples even in tensor mode (MaskFormer, Mask2Former, SAN) stops after
    its backbone on images alone: that is enough, since a teacher's forward stops at its tap and a
    student trains with data samples. Any other early stop means the model cannot run at this size.
    """
    import torch
    from mmcrosskd.models.channels import input_channels
    from mmcrosskd.models.taps import images_only_forward, tappable_outputs
    from mmcrosskd.utils.config import build_model_from_spec
    model, _ = build_model_from_spec(dict(spec), scope)
    model.train(train)
    x = torch.randn(2 if train else 1, input_channels(model), size, size)  # BatchNorm trains on 2 or more
    rows, error = tappable_outputs(model, lambda: images_only_forward(model, x))
    if error is not None and not any(r['tap'] == 'backbone' for r in rows):
        raise error
    tap, why = user_tap(rows)
    if tap is None:
        raise ValueError(f'no backbone and no feature map (B, C, H, W) or tokens in an images-only forward at '
                         f'{size}x{size}')
    return tap if why is None else f'{tap} ({why})'


def _bare(tap):
    """The tap of :func:`find_tap`'s answer, without its note."""
    return tap.split(' (', 1)[0]


def make_batch(model, size, n=2):
    """A random training batch for the student's own task (mmseg segmentor or depth estimator,
    mmpretrain classifier); raises ``NotImplementedError`` for other model kinds."""
    import torch
    from mmcrosskd.models.channels import input_channels
    g = torch.Generator().manual_seed(0)
    channels = input_channels(model)
    imgs = [torch.randint(0, 255, (channels, size, size), generator=g, dtype=torch.uint8) for _ in range(n)]
    kind = type(model).__module__
    if kind.startswith('mmpretrain.models.classifiers'):
        if getattr(model, 'head', None) is None:  # a headless config (DINOv2, SAM): nothing to train
            raise NotImplementedError(f'{type(model).__name__} is headless: no task head to train as a student')
        from mmpretrain.structures import DataSample
        return dict(inputs=imgs, data_samples=[DataSample().set_gt_label(i % 2) for i in range(n)])
    if kind.startswith('mmseg.models.segmentors'):
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        samples = []
        for _ in range(n):
            s = SegDataSample()
            s.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, size, size), generator=g))
            s.gt_depth_map = PixelData(data=torch.rand(1, size, size, generator=g) * 5 + 0.5)
            # PIDNet also trains on class edges (mmseg's GenerateEdge transform makes them)
            s.gt_edge_map = PixelData(data=torch.randint(0, 2, (1, size, size), generator=g))
            s.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
            samples.append(s)
        return dict(inputs=imgs, data_samples=samples)
    raise NotImplementedError(f'{type(model).__name__} ({kind}) trains on inputs other than images with '
                              'segmentation, depth or class labels (e.g. multi-view self-supervision)')


def train_step(student, teachers, distill, size, scope):
    """Build a CrossTaskDistiller as the Runner would (SyncBN reverted on one process) and run one
    training step; return its log dict."""
    import torch
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import OptimWrapper
    from mmengine.registry import DefaultScope

    from mmcrosskd.models import CrossTaskDistiller
    with DefaultScope.overwrite_default_scope(scope):
        torch.manual_seed(0)
        model = CrossTaskDistiller(student=student, teachers=teachers, distill=distill,
                                   dry_run_size=(size, size), max_kd_ratio=None)
        model = revert_sync_batchnorm(model)
        batch = make_batch(model.student, size)
        model.train()
        optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-4))
        log = model.train_step(batch, optim)
    if not torch.isfinite(log['loss']):
        raise FloatingPointError(f'non-finite loss {log}')
    if 'loss_kd_kd' not in log:
        raise AssertionError(f'no distillation term in {sorted(log)}')
    return {k: float(v) for k, v in log.items()}


def check_as_teacher(config, size, tap=None):
    """The family model as a random teacher into the fixed quick-start student (``tap``: found if None)."""
    from mmcrosskd.utils.config import load_model_spec
    spec, scope = _model_spec(config)
    tap = tap or find_tap(spec, scope, size)
    student, s_scope = load_model_spec(FIXED_STUDENT)
    student['data_preprocessor']['size'] = (size, size)
    student['_scope_'] = s_scope
    teacher = dict(config=config, seed=0)
    if size != 64:
        teacher['input_size'] = (size, size)
    distill = [dict(name='kd', student=FIXED_STUDENT_TAP, teacher=f't:{_bare(tap)}',
                    loss=dict(type='FeatureL2Loss', normalize='l2'))]
    try:
        log = train_step(student, dict(t=teacher), distill, 64, s_scope)
    except ValueError as exc:  # a token-only ViT: what the error advises, its backbone's maps instead
        if 'cannot pair a feature map with tokens' not in str(exc) or 'out_type' not in _backbone_args(spec, scope):
            raise
        teacher['model'] = dict(backbone=dict(out_type='featmap'))
        spec['backbone']['out_type'] = 'featmap'
        tap = find_tap(spec, scope, size)
        distill[0]['teacher'] = f't:{_bare(tap)}'
        log = train_step(student, dict(t=teacher), distill, 64, s_scope)
        tap = f"{tap} (model=dict(backbone=dict(out_type='featmap')))"
    return dict(tap=tap, loss_kd=log['loss_kd_kd'])


def _backbone_args(spec, scope):
    """The argument names of the spec's backbone class (empty when it cannot be found)."""
    import inspect

    from mmengine.registry import MODELS
    try:
        cls = MODELS.get(f"{scope}.{spec['backbone']['type']}")
        return set(inspect.signature(cls.__init__).parameters)
    except Exception:  # noqa: BLE001
        return set()


def check_as_student(config, size, tap=None):
    """The family model as the student (its own task) under the fixed random ResNet-18 teacher (``tap``:
    found if None)."""
    spec, scope = _model_spec(config)
    _set_size(spec, size)
    tap = tap or find_tap(spec, scope, size, train=True)
    spec['_scope_'] = scope
    distill = [dict(name='kd', student=_bare(tap), teacher=f't:{FIXED_TEACHER_TAP}',
                    loss=dict(type='FeatureL2Loss', normalize='l2'))]
    log = train_step(spec, dict(t=dict(config=FIXED_TEACHER, seed=0)), distill, size, scope)
    return dict(tap=tap, loss_kd=log['loss_kd_kd'])


def check_family(config, size=64, retry_size=224):
    """Both checks for one config; each retried once at ``retry_size`` if the small size fails.

    Returns:
        dict: ``teacher`` and ``student`` results (``ok``, ``tap``, ``size``, ``error``), ``seconds``.
    """
    import warnings

    from mmcrosskd.models.students import NotAStudent
    t0 = time.time()
    result = dict(config=config)
    taps = {}  # one dry run per size and mode

    def checked(fn, s):
        train = fn is check_as_student  # a student's taps are read in training mode
        if (s, train) not in taps:
            spec, scope = _model_spec(config)
            taps[s, train] = find_tap(_set_size(spec, s), scope, s, train)
        return fn(config, s, taps[s, train])

    native = _native_size(config)
    for role, fn in (('teacher', check_as_teacher), ('student', check_as_student)):
        sizes = [size] + ([retry_size] if retry_size and retry_size != size else [])
        sizes += [native] if native and native not in sizes else []
        for s in sizes:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')
                    out = checked(fn, s)
                result[role] = dict(ok=True, size=s, **out)
                break
            except (NotImplementedError, NotAStudent) as exc:  # not a model kind a student can be
                result[role] = dict(ok=None, size=s, error=f'{type(exc).__name__}: {exc}')
                break
            except Exception as exc:  # noqa: BLE001 - recorded in the table
                result[role] = dict(ok=False, size=s, error=f'{type(exc).__name__}: {_short(exc)}')
    result['seconds'] = round(time.time() - t0, 1)
    result['tap_rule'] = 'user'  # tapped as a user would (rows of older sweeps lack this)
    return result


def _square(size):
    if isinstance(size, (tuple, list)) and len(size) == 2 and size[0] == size[1]:
        size = size[0]
    return size if isinstance(size, int) else None


def _native_size(config):
    """The square input size a model is built for, tried after the small sizes: its backbone's ``img_size``
    (ViT position tables, e.g. mmseg's BEiT at 640 and MAE at 512), else the fixed size its test pipeline
    resizes or crops to (LeNet: 32, for the fully connected layer in its backbone); None when neither says."""
    from mmcrosskd.runner_utils import load_config
    try:
        cfg = load_config(config)
    except Exception:  # noqa: BLE001 - the checks themselves report a config that does not load
        return None
    size = _square((cfg.model.get('backbone') or {}).get('img_size'))
    if size:
        return size
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    for step in (loader.get('dataset') or {}).get('pipeline') or []:
        if step.get('type') == 'Resize' and not step.get('keep_ratio'):
            size = _square(step.get('scale')) or size
        elif step.get('type') == 'CenterCrop':
            size = _square(step.get('crop_size')) or size
    return size


def _short(exc, n=300):
    text = ' '.join(str(exc).split())
    return text if len(text) <= n else text[:n] + '...'


# -- the sweep ----------------------------------------------------------------------------------------------
def _worker(config, size, retry_size):
    import mmcrosskd  # noqa: F401  (torchvision guard, registries)
    print('RESULT ' + json.dumps(check_family(config, size, retry_size)), flush=True)


def _limit_memory():
    """Cap a worker's address space, so a family whose model is too large fails alone (6 GiB)."""
    import resource
    limit = 6 * 1024 ** 3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_one(family, config, size, retry_size, timeout):
    t0 = time.time()
    cmd = [sys.executable, osp.abspath(__file__), '--worker', config, '--size', str(size),
           '--retry-size', str(retry_size)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=ROOT), preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        return dict(family=family, config=config, seconds=round(time.time() - t0, 1),
                    timeout=f'no result within {timeout} s', tap_rule='user')
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if not lines:
        tail = ' '.join(proc.stderr.strip().splitlines()[-3:])
        return dict(family=family, config=config, seconds=round(time.time() - t0, 1),
                    crash=f'worker exited with {proc.returncode}: {tail[-400:]}', tap_rule='user')
    out = json.loads(lines[-1][len('RESULT '):])
    out.update(family=family, wall_seconds=round(time.time() - t0, 1))
    return out


# Failures whose cause lies outside mmcrosskd, by the words of their message.
_OUTSIDE = [
    (re.compile(r'No module named|not installed|ModuleNotFoundError|ImportError'), 'needs a package that is not installed'),
    (re.compile(r'https?://|download|urlopen|connection|huggingface|hf_hub', re.I), 'needs a download (offline)'),
    (re.compile(r'CUDA|cuda|GPU', re.I), 'needs CUDA'),
    (re.compile(r"can't allocate memory|Cannot allocate memory"),
     "needs more than the check's 6 GiB memory cap (at its native input size)"),
    (re.compile(r'Output size is too small|smaller than the window size'),
     'needs a larger input than the checked sizes (a fixed pooling kernel or attention window)'),
    (re.compile(r"SideAdapterCLIPHead.forward\(\) missing 1 required positional argument"),
     "mmseg's own images-only forward (mode='tensor') of SAN calls its head without a required argument"),
    (re.compile(r'configuration file type in the inheritance chain must match'),
     "the shipped config does not load in mmengine (it mixes lazy-import and plain config files)"),
    (re.compile(r'To use VPD model, please install'), 'needs packages mmseg lists as optional (VPD: Stable Diffusion)'),
    (re.compile(r'only one of size and size_divisor should be valid'),
     "the shipped config gives its preprocessor neither size nor size_divisor (mmseg's own training fails too)"),
]


# Failures traced by hand to the family's own model (the error alone does not say so).
_TRIAGED = {
    'mmpretrain/spark': "SparK's pre-training wrapper needs its sparse masks: its backbone gets None on images alone",
}


# Failures traced to mmcrosskd and not fixed yet: what is missing (listed under the summary while they fail).
_OURS_OPEN = {}


def classify(res, family=None):
    """``'ok'`` / ``'n/a'`` / ``'outside: <reason>'`` / ``'FAIL'`` for one role's result."""
    if res is None:
        return 'FAIL'
    if res.get('ok'):
        return 'ok'
    if res.get('ok') is None:
        return 'n/a'
    for pattern, reason in _OUTSIDE:
        if pattern.search(res.get('error', '')):
            return f'outside: {reason}'
    if family in _TRIAGED:
        return f'outside: {_TRIAGED[family]}'
    return 'FAIL'


def write_report(results, path, cmd, not_run=()):
    """The markdown table of a sweep (``not_run``: ``[(family, config)]`` that have no result yet)."""
    rows, counts, failing = [], {}, set()
    for r in sorted(results, key=lambda r: r['family']):
        cells = []
        for role in ('teacher', 'student'):
            if 'timeout' in r:
                status, detail = 'timeout', r['timeout']
            elif 'crash' in r:
                status, detail = 'FAIL', r['crash']
            else:
                res = r.get(role)
                status = classify(res, r['family'])
                detail = (f"`{res['tap']}` @{res['size']}px" if status == 'ok' else res.get('error', ''))
            counts[(role, status.split(':')[0])] = counts.get((role, status.split(':')[0]), 0) + 1
            if status == 'FAIL':
                failing.add(r['family'])
            cells.append(f'{status} - {detail}'.replace('|', '/').replace('\n', ' '))
        old = '' if r.get('tap_rule') == 'user' else ' (earlier sweep: deepest map)'
        rows.append(f"| {r['family']}{old} | `{r['config'].split('::')[-1]}` | {cells[0]} | {cells[1]} | "
                    f"{r.get('seconds', '')} |")
    for family, config in not_run:
        rows.append(f"| {family} | `{config.split('::')[-1]}` | not run yet | not run yet | |")
    open_notes = [f'- FAIL, ours, open: {family}: {_OURS_OPEN[family]}' for family in sorted(failing & set(_OURS_OPEN))]
    summary = []
    for role in ('teacher', 'student'):
        parts = [f'{s}: {counts.get((role, s), 0)}' for s in ('ok', 'outside', 'n/a', 'FAIL', 'timeout')]
        summary.append(f'- as {role}: ' + ', '.join(parts))
    lines = ['# Model families: every mmseg / mmpretrain family as a teacher and as a student', '',
             'Generated by `benchmarks/model_families.py` (one config per family of the configs the two packages ship,',
             'randomly initialised, one training step each on CPU at a small input size). Reproduce with:', '',
             f'```bash\n{cmd}\n```', '',
             '* **teacher**: the family model (random, seed 0) is the teacher of the quick-start FCN-ResNetV1c-18 student',
             f'  (`{FIXED_STUDENT_TAP}`), inverted projector, `FeatureL2Loss`;',
             '* **student**: the family model is the student (its own task loss on a random batch), under a random',
             f'  mmpretrain ResNet-18 teacher (`{FIXED_TEACHER_TAP}`).',
             '* the family model is tapped where a user starts: its backbone\'s last output, `backbone[-1]` (`backbone`',
             '  when it returns one tensor), whatever its layout (a map, tokens, channel-first tokens, or the pooled',
             '  (B, C) vector of a classifier backbone, met with a map as the distill entry\'s `vector` default says). Where a',
             '  family is tapped elsewhere, the cell says which tap and why (a nested last output; no `backbone`).',
             '* `ok` - built, ran one step, finite loss with a distillation term; `outside: ...` - failed for a reason',
             '  outside mmcrosskd (the error says which); `n/a` - the model cannot be a student, and the distiller refuses it',
             '  with the message shown (no head; a self-supervised algorithm or retriever, trained on something else',
             '  than labelled images); `FAIL` - anything else, i.e. ours; `timeout` - no',
             '  result within the per-family time limit.',
             '* seconds: wall time of both checks for the family, in its own process, excluding imports (2 shared CPU',
             '  cores, `nice -n 10`, while other jobs ran: compare families with care; a timeout there is not a failure',
             '  of the model, and is tried again by the next run).',
             '* `tests/test_model_families.py` runs a fixed sample on every test run: ResNeXt, MobileNetV2, DeiT, Swin',
             '  (224 px), ConvNeXt (mmpretrain), SegFormer, DeepLabV3+, BiSeNetV2 (mmseg), both roles each; and one of',
             '  each layout pair at the user\'s tap: the pooled DeiT classifier (B, C) into the FCN student through both',
             '  projectors, MLP-Mixer\'s channel-first tokens (B, C, N), Conformer\'s nested `backbone[-1][0]`, and a',
             '  headless DINOv2 student, refused.', '',
             'Summary:', *summary, tapped_line(results)] + ([f'- not run yet: {len(not_run)} families (the sweep was cut short)']
                                      if not_run else []) + open_notes + ['',
             '| family | config | as teacher | as student | seconds |', '|---|---|---|---|---|', *rows]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def tapped_line(results):
    """The summary line on taps: how many families were tapped as a user would, and what the others are."""
    user = sum(r.get('tap_rule') == 'user' for r in results)
    line = f'- tapped as a user would (`backbone[-1]` / `backbone`): {user} of {len(results)} families'
    if user == len(results):
        return line
    return (line + '; the rows marked *(earlier sweep: deepest map)* are results of the sweep before that rule, '
            'not re-run since; they tapped the deepest backbone feature map, for each of them a `backbone[i]` '
            '(usually the last stage, i.e. `backbone[-1]`)')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', nargs='+', help='family ids (mmseg/pspnet) or names (pspnet) to run (again)')
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--retry-size', type=int, default=224)
    p.add_argument('--timeout', type=int, default=900, help='seconds per family')
    p.add_argument('--out', default=osp.join(ROOT, 'docs', 'model_families.md'))
    p.add_argument('--results', default=osp.join(ROOT, 'benchmarks', 'results', 'model_families', 'results.jsonl'),
                   help='one JSON line per family checked (tracked in git: the table regenerates from it)')
    p.add_argument('--fresh', action='store_true', help='forget earlier results')
    p.add_argument('--jobs', type=int, default=1, help='families checked at the same time')
    p.add_argument('--keep-timeouts', action='store_true', help='do not try timed-out families again')
    p.add_argument('--report-only', action='store_true', help='write the table from the results so far')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return _worker(a.worker, a.size, a.retry_size)
    import mmcrosskd  # noqa: F401
    families = all_families()
    if a.only:
        families = [f for f in families if f[0] in a.only or f[0].split('/')[1] in a.only]
    os.makedirs(osp.dirname(osp.abspath(a.results)), exist_ok=True)
    done = {}
    if osp.isfile(a.results) and not a.fresh:
        with open(a.results) as f:
            for line in f:  # the latest line of a family is its result
                r = json.loads(line)
                done[r['family']] = r
    # --only runs the named families again; a full run skips those with a result (a timeout on a loaded
    # machine is tried again, unless --keep-timeouts)
    todo = [] if a.report_only else [(family, config) for family, config in families
                                     if a.only or family not in done
                                     or ('timeout' in done[family] and not a.keep_timeouts)]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(a.jobs) as pool:  # each family runs in its own process
        futures = [pool.submit(run_one, family, config, a.size, a.retry_size, a.timeout) for family, config in todo]
        for i, future in enumerate(futures):
            r = future.result()
            done[r['family']] = r
            with open(a.results, 'a') as f:
                f.write(json.dumps(r) + '\n')
            print(f"[{i + 1}/{len(todo)}] {r['family']}: teacher {classify(r.get('teacher'), r['family'])}, student "
                  f"{classify(r.get('student'), r['family'])} ({r.get('seconds')} s)", flush=True)
    cmd = 'nice -n 10 .venv/bin/python benchmarks/model_families.py' + (f' --jobs {a.jobs}' if a.jobs != 1 else '') + (
        f' --size {a.size}' if a.size != 64 else '') + (f' --timeout {a.timeout}' if a.timeout != 900 else '')
    not_run = [(family, config) for family, config in families if family not in done]
    write_report(list(done.values()), a.out, cmd, not_run)
    print(f'{len(done)} families -> {a.out}')


if __name__ == '__main__':
    main()
