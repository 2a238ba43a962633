"""Training-step time and memory of distillation variants, against the student alone and a hand-written floor.

    .venv/bin/python benchmarks/speed.py [--suite cls seg] [--repeats 15] [--device cpu|cuda]
                                         [--out docs/performance.md]

For each suite (an mmpretrain classifier pair; an mmseg segmentor student with a larger teacher of another
task), in ONE process, interleaving the variants round-robin and repeating, it measures the median time of a
full training step (forward, backward, optimizer step):

1. ``student``      - the student alone (its own ``train_step``);
2. ``teacher-free`` - the student with ``SpectralTailLoss`` (no teacher; ``teacher-free-fp64``: with its
                      float64 eigen-decomposition, not in the default list);
3. ``inverted``     - ``CrossTaskDistiller``, inverted projector;
4. ``traditional``  - ``CrossTaskDistiller``, traditional projector;
5. ``ideal``        - by hand in plain PyTorch: the student step plus one teacher forward truncated after its
                      tapped layer (under no_grad), a 1x1 projector and an MSE: the floor;
6. ``mmrazor``      - mmrazor 1.0.0's SingleTeacherDistill, if it can be imported (else its exact error).

Peak memory is measured per variant in a fresh subprocess (CPU: the peak RSS of three steps above the RSS
before them, after one warm-up step, read from /proc/self/status with the peak mark reset; CUDA: max
allocated above the allocated memory before them), since one process' peak cannot be split between
interleaved variants.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

SUITES = {
    # mmpretrain: ResNet-18 student, ResNet-50 teacher (tapped at layer3), 224x224, batch 8.
    'cls': dict(
        student='mmpretrain::resnet/resnet18_8xb32_in1k.py',
        teacher='mmpretrain::resnet/resnet50_8xb32_in1k.py',
        student_tap='backbone.layer4', teacher_tap='backbone.layer3', tf_tap='backbone.layer4',
        size=(224, 224), batch=8, kind='cls'),
    # mmseg: FCN ResNetV1c-18 (d8) student, ResNet-50 ImageNet classifier as the cross-task teacher, 256x256.
    'seg': dict(
        student='mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py',
        teacher='mmpretrain::resnet/resnet50_8xb32_in1k.py',
        student_tap='backbone.layer4', teacher_tap='backbone.layer3', tf_tap='backbone.layer4',
        size=(256, 256), batch=4, kind='seg'),
}


def student_cfg(suite):
    from mmcrosskd.utils.config import load_model_spec
    cfg, scope = load_model_spec(suite['student'])
    cfg = cfg.to_dict()
    if suite['kind'] == 'seg':
        bn = dict(type='BN', requires_grad=True)
        cfg['pretrained'] = None
        cfg['backbone']['norm_cfg'] = bn
        cfg['decode_head']['norm_cfg'] = bn
        cfg['auxiliary_head']['norm_cfg'] = bn
        cfg['data_preprocessor']['size'] = suite['size']
    cfg['_scope_'] = scope
    return cfg


def make_batch(suite, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    b, (h, w) = suite['batch'], suite['size']
    imgs = [torch.randint(0, 255, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(b)]
    if suite['kind'] == 'cls':
        from mmpretrain.structures import DataSample
        samples = [DataSample().set_gt_label(int(i % 10)) for i in range(b)]
    else:
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        samples = []
        for _ in range(b):
            s = SegDataSample()
            s.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, h, w), generator=g))
            s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
            samples.append(s)
    return dict(inputs=imgs, data_samples=samples)


def build_variant(name, suite, device):
    """Return (model, step_fn) where step_fn(batch) runs one training step."""
    import torch
    from mmengine.optim import OptimWrapper
    from mmengine.registry import MODELS

    import mmcrosskd  # noqa: F401
    torch.manual_seed(0)
    teacher = dict(config=suite['teacher'], seed=0)
    entry = dict(name='kd', student=suite['student_tap'], teacher=suite['teacher_tap'],
                 loss=dict(type='FeatureL2Loss', normalize='l2'))
    if name == 'student':
        model = MODELS.build(student_cfg(suite))
    elif name in ('teacher-free', 'teacher-free-fp64'):
        eigh = 'float64' if name.endswith('fp64') else 'float32'
        model = MODELS.build(dict(type='CrossTaskDistiller', student=student_cfg(suite), distill=[
            dict(name='tail', student=suite['tf_tap'],
                 loss=dict(type='SpectralTailLoss', energy=0.9, normalized=True, eigh_dtype=eigh))]))
    elif name in ('inverted', 'traditional'):
        model = MODELS.build(dict(type='CrossTaskDistiller', student=student_cfg(suite), teachers=dict(t=teacher),
                                  distill=[dict(entry, projector=name)]))
    elif name == 'ideal':
        return build_ideal(suite, device)
    elif name == 'mmrazor':
        return build_mmrazor(suite, device)
    else:
        raise KeyError(name)
    model.to(device).train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    return model, lambda batch: model.train_step(batch, optim)


def build_ideal(suite, device):
    """Plain PyTorch: the student's own train_step plus a truncated teacher forward, a 1x1 projector
    and an MSE, with no wrapper, hooks or re-normalisation."""
    import torch
    import torch.nn.functional as F
    from mmengine.optim import OptimWrapper
    from mmengine.registry import MODELS

    from mmcrosskd.utils.config import build_model_from_spec
    torch.manual_seed(0)
    student = MODELS.build(student_cfg(suite)).to(device).train()
    teacher, _ = build_model_from_spec(suite['teacher'])
    teacher = teacher.to(device).eval().requires_grad_(False)
    tb = teacher.backbone
    s_layer = dict(student.named_modules())[suite['student_tap']]
    feats = {}
    s_layer.register_forward_hook(lambda m, a, o: feats.__setitem__('s', o))
    c_s = {'cls': 512, 'seg': 512}[suite['kind']]
    proj = torch.nn.Conv2d(1024, c_s, 1, bias=False).to(device)
    optim = OptimWrapper(torch.optim.SGD(list(student.parameters()) + list(proj.parameters()), lr=1e-3, momentum=0.9))

    def step(batch):
        with optim.optim_context(student):
            data = student.data_preprocessor(batch, True)
            x = data['inputs']
            with torch.no_grad():  # the teacher up to layer3, by hand
                t = tb.maxpool(tb.relu(tb.norm1(tb.conv1(x))))
                t = tb.layer3(tb.layer2(tb.layer1(t)))
            losses = student(**data, mode='loss')
            t = F.interpolate(t, size=feats['s'].shape[-2:], mode='bilinear', align_corners=False)
            losses['loss_kd'] = F.mse_loss(F.normalize(feats['s'], dim=1), F.normalize(proj(t), dim=1))
            loss, log = student.parse_losses(losses)
        optim.update_params(loss)
        return log
    return student, step


def build_mmrazor(suite, device):
    """mmrazor 1.0.0 (installed beside our stack with `pip install --no-deps --target DIR mmrazor==1.0.0`,
    passed as --mmrazor-site DIR). Its import fails with torch 2.x here; the error is recorded."""
    from mmrazor.models import SingleTeacherDistill  # noqa: F401  (raises the exact error)
    raise NotImplementedError('mmrazor imported: wire SingleTeacherDistill here to time it')


def time_variants(names, suite, device, repeats, warmup=2):
    import torch
    built, errors = {}, {}
    for name in names:
        try:
            built[name] = build_variant(name, suite, device)
        except Exception as exc:  # record why a variant cannot run (mmrazor)
            errors[name] = f'{type(exc).__name__}: {str(exc).splitlines()[0][:300]}'
    batch = make_batch(suite)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    times = {n: [] for n in built}
    for r in range(warmup + repeats):
        for name, (_, step) in built.items():
            sync()
            t0 = time.perf_counter()
            step(batch)
            sync()
            if r >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {n: statistics.median(v) for n, v in times.items()}, errors


def peak_memory(name, suite_name, device):
    """Peak memory growth of a few steps of one variant, in a fresh process."""
    code = (f'import sys; sys.path.insert(0, {ROOT!r}); import benchmarks.speed as b; '
            f'print("MEM", b._measure_memory({name!r}, {suite_name!r}, {device!r}))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    for line in out.stdout.splitlines():
        if line.startswith('MEM '):
            return float(line.split()[1])
    return float('nan')


def _status_mb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def _measure_memory(name, suite_name, device):
    import torch
    suite = SUITES[suite_name]
    model, step = build_variant(name, suite, device)
    batch = make_batch(suite)
    if device == 'cuda':
        step(batch)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(3):
            step(batch)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    step(batch)  # first step: lazy allocations (optimizer state, caches) happen here
    _reset_peak_rss()
    base = _status_mb('VmRSS')
    for _ in range(3):
        step(batch)
    return _status_mb('VmHWM') - base


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--suite', nargs='+', default=['cls', 'seg'], choices=list(SUITES))
    p.add_argument('--variants', nargs='+',
                   default=['student', 'teacher-free', 'inverted', 'traditional', 'ideal', 'mmrazor'])
    p.add_argument('--repeats', type=int, default=15)
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-memory', action='store_true')
    p.add_argument('--out', default=osp.join(ROOT, 'docs', 'performance.md'))
    p.add_argument('--json', default=None, help='also write the raw numbers here')
    p.add_argument('--mmrazor-site', default=osp.join(ROOT, '.mmrazor'),
                   help='folder where mmrazor 1.0.0 was installed with pip --target (see docstring)')
    a = p.parse_args(argv)
    if osp.isdir(a.mmrazor_site):
        sys.path.append(a.mmrazor_site)
    import torch
    results = {}
    for s in a.suite:
        suite = SUITES[s]
        med, errors = time_variants(a.variants, suite, a.device, a.repeats)
        mem = {} if a.no_memory else {n: peak_memory(n, s, a.device) for n in med}
        results[s] = dict(median_s=med, errors=errors, peak_mem_mb=mem)
        print(s, json.dumps(results[s], indent=1), flush=True)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=1)
    write_report(results, a, torch)
    return results


def write_report(results, a, torch):
    cmd = 'python benchmarks/speed.py ' + ' '.join(sys.argv[1:])
    dev = torch.cuda.get_device_name(0) if a.device == 'cuda' else f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores'
    lines = [f'## {a.device.upper()}: {dev} ({datetime.date.today()})', '',
             f'Command: `{cmd}`  (torch {torch.__version__}, {torch.get_num_threads()} threads, '
             f'{a.repeats} interleaved repeats, median step time)', '']
    for s, r in results.items():
        suite = SUITES[s]
        med = r['median_s']
        base = med.get('student')
        lines += [f'### {s}: student `{suite["student"]}`, teacher `{suite["teacher"]}` (tap '
                  f'`{suite["teacher_tap"]}`), {suite["size"][0]}x{suite["size"][1]}, batch {suite["batch"]}', '',
                  '| variant | median step (s) | / student | peak memory growth (MB) |', '|---|---|---|---|']
        for n, t in med.items():
            m = r['peak_mem_mb'].get(n, float('nan'))
            lines.append(f'| {n} | {t:.4f} | {t / base:.3f} | {m:.0f} |' if base else f'| {n} | {t:.4f} | | {m:.0f} |')
        for n, e in r['errors'].items():
            lines.append(f'| {n} | could not run: `{e}` | | |')
        ratios = []
        if 'inverted' in med and 'traditional' in med:
            ratios.append(f"inverted / traditional = **{med['inverted'] / med['traditional']:.3f}** (target <= 1.02)")
        for tf in ('teacher-free', 'teacher-free-fp64'):
            if tf in med and base:
                ratios.append(f"{tf} / student = **{med[tf] / base:.3f}** (target <= 1.05)")
        if 'inverted' in med and 'ideal' in med:
            ratios.append(f"inverted / ideal = **{med['inverted'] / med['ideal']:.3f}** (target <= 1.05)")
        lines += [''] + [f'- {x}' for x in ratios] + ['']
    block = '\n'.join(lines) + '\n'
    header = ('# Performance\n\nMeasured by `benchmarks/speed.py` (its docstring lists the variants). '
              'Each section is one run; ratios compare variants of the same run.\n\n')
    # One section per device kind: this run replaces its own device's section and keeps the others.
    sections, head = {}, header
    if osp.isfile(a.out):
        chunks = re.split(r'(?m)^(?=## )', open(a.out).read())
        head = chunks[0]
        sections = {c.split(':', 1)[0]: c for c in chunks[1:]}
    sections[f'## {a.device.upper()}'] = block + '\n'
    os.makedirs(osp.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        f.write(head + ''.join(sections.values()))

if __name__ == '__main__':
    main()
