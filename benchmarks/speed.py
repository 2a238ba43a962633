"""Training-step time and memory of distillation variants, against the student alone and a hand-written floor.

    .venv/bin/python benchmarks/speed.py [--suite cls seg mnv2 growth] [--repeats 15] [--device cpu|cuda] [--amp]
                                         [--size H W] [--batch N] [--processes 1 2] [--out docs/performance.md]

For each suite (an mmpretrain classifier pair; an mmseg segmentor student with a larger teacher of another
task; ``mnv2``: the demo's student with its ImageNet MobileNetV2 teacher), in ONE process, interleaving the variants round-robin and repeating, it measures the median time of a
full training step (forward, backward, optimizer step):

1. ``student``      - the student alone (its own ``train_step``);
2. ``teacher-free`` - the student with ``SpectralTailLoss`` (no teacher; ``teacher-free-fp64``: with its
                      float64 eigen-decomposition, not in the default list);
3. ``inverted``     - ``CrossTaskDistiller``, inverted projector;
4. ``traditional``  - ``CrossTaskDistiller``, traditional projector;
5. ``ideal``        - by hand in plain PyTorch: the student step plus one teacher forward truncated after its
                      tapped layer (under no_grad), a 1x1 projector and an MSE: the floor;
6. ``mmrazor``      - mmrazor 1.0.0's SingleTeacherDistill, if it can be imported (else its exact error).

A variant name may end in ``@N`` (e.g. ``inverted@128``): the same, with the teacher's input resized to NxN.

``--suite growth`` measures how cost grows, on the cls pair (ResNet-18 student): ``entries-N`` is the student
with N = 1, 2, 4 distill entries from one ResNet-50 classifier teacher whose forward always stops after
``layer3`` (so only projectors and losses are added); ``teachers-N`` adds N = 1, 2, 3 teachers of different
tasks (that classifier, an mmseg FCN segmentor, an mmseg depth estimator), one entry each
(``teachers-1`` is ``entries-1``). ``--processes 1 2`` also times the student and ``entries-1`` under DDP
(mmengine's MMDistributedDataParallel; gloo on CPU, NCCL on CUDA) with 1 and 2 processes, each process with
the suite's batch and ``cores / processes`` threads, launched with ``torch.distributed.run``.

``--amp``: the forward under autocast (float16 with mmengine's AmpOptimWrapper on CUDA, bfloat16 on CPU).

Peak memory is measured per variant in a fresh subprocess (CPU: the peak RSS of three steps above the RSS
before them, after one warm-up step, read from /proc/self/status with the peak mark reset, with glibc's mmap
threshold fixed so that the RSS follows the live tensors (``memory_env``); CUDA: max
allocated above the allocated memory before them, exact from the CUDA caching allocator's counters), since one
process' peak cannot be split between interleaved variants. Under DDP each rank measures its own peak the same
way, one variant per launch, and the largest rank's is reported.
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

DEMO_IMAGENET_CONFIG = 'configs/quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-mnv2-in1k.py'

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
    # The demo's pair (``--suite mnv2``): the quick-start FCN-R18 student on 64x64 scenes, batch 8, and the
    # ImageNet MobileNetV2 teacher as the demo runs it (its input resized to 224x224, tapped where the demo's
    # config taps it, read from that config so the two cannot drift apart; the weights do not change the time,
    # so they are seeded); ``inverted@128``: its input at 128x128; ``inverted+cache``: with ``cache_mb``, every
    # timed step a cache hit (the teacher's forward of a later epoch skipped); ``+channels_last``: the teacher
    # channels-last (the demo config's setting; ``+channels_last+cache`` is the demo's). No ``ideal``: its hand-written
    # teacher is a ResNet.
    'mnv2': dict(
        student='mmcrosskd::quickstart/fcn_r18-d8_scenes-64px.py',
        teacher='mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py', teacher_options=dict(input_size=(224, 224)),
        student_tap='backbone.layer4', teacher_tap_from=DEMO_IMAGENET_CONFIG, tf_tap='backbone.layer4',
        size=(64, 64), batch=8, kind='seg', num_classes=11,
        variants=['student', 'inverted', 'traditional', 'inverted@128', 'inverted+cache',
                  'inverted+channels_last', 'inverted+channels_last+cache']),
}

# How cost grows (``--suite growth``): (student tap, teacher tap) of the entries from the one classifier
# teacher: its forward stops after layer3 whatever the number of entries.
GROWTH_ENTRIES = [('backbone.layer4', 'backbone.layer3'), ('backbone.layer3', 'backbone.layer2'),
                  ('backbone.layer2', 'backbone.layer1'), ('backbone.layer3', 'backbone.layer3')]
# Teachers of different tasks, each distilled into the student's layer4 from its own layer3.
GROWTH_TEACHERS = [
    ('cls', dict(config='mmpretrain::resnet/resnet50_8xb32_in1k.py', seed=0)),
    ('seg', dict(config='mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py', seed=0)),
    ('depth', dict(config=dict(
        _scope_='mmseg', type='DepthEstimator',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True),
        backbone=dict(type='ResNetV1c', depth=18, norm_cfg=dict(type='BN')),
        decode_head=dict(type='VPDDepthHead', max_depth=10, in_channels=[64, 128, 256, 512], embed_dim=16,
                         feature_dim=128, fmap_border=0)), seed=0)),
]
SUITES['growth'] = dict(SUITES['cls'], variants=['student', 'entries-1', 'entries-2', 'entries-4', 'teachers-2',
                                                 'teachers-3'])


def with_overrides(suite, size=None, batch=None):
    """The suite with another image size (H, W) and/or batch."""
    suite = dict(suite)
    if size:
        suite['size'] = tuple(size)
    if batch:
        suite['batch'] = batch
    return suite


def student_cfg(suite):
    from mmcrosskd.utils.config import load_model_spec
    cfg, scope = load_model_spec(suite['student'])
    cfg = cfg.to_dict()
    if suite['kind'] == 'seg':
        bn = dict(type='BN', requires_grad=True)
        cfg['pretrained'] = None
        cfg['backbone']['norm_cfg'] = bn
        cfg['decode_head']['norm_cfg'] = bn
        if cfg.get('auxiliary_head'):
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
            s.gt_sem_seg = PixelData(data=torch.randint(0, suite.get('num_classes', 19), (1, h, w), generator=g))
            s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
            samples.append(s)
    return dict(inputs=imgs, data_samples=samples)


def make_optim_wrapper(params, device, amp):
    """SGD in mmengine's OptimWrapper; with ``amp``, its AMP wrapper (CUDA, float16) or ours (CPU, bfloat16)."""
    import torch
    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    from mmcrosskd.optim import CPUAutocastOptimWrapper
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if not amp:
        return OptimWrapper(optimizer)
    if str(device).startswith('cuda'):
        return AmpOptimWrapper(optimizer=optimizer)
    return CPUAutocastOptimWrapper(optimizer=optimizer)


def growth_distill(name, suite):
    """(teachers, distill) of an ``entries-N`` / ``teachers-N`` variant."""
    kind, n = name.split('-')
    n = int(n)
    loss = dict(type='FeatureL2Loss', normalize='l2')
    if kind == 'entries':
        if n > len(GROWTH_ENTRIES):
            raise KeyError(f'{name}: at most entries-{len(GROWTH_ENTRIES)}')
        return dict(cls=GROWTH_TEACHERS[0][1]), [
            dict(name=f'e{i}', student=s_tap, teacher=f'cls:{t_tap}', loss=loss)
            for i, (s_tap, t_tap) in enumerate(GROWTH_ENTRIES[:n])]
    if n > len(GROWTH_TEACHERS):
        raise KeyError(f'{name}: at most teachers-{len(GROWTH_TEACHERS)}')
    teachers = dict(GROWTH_TEACHERS[:n])
    return teachers, [dict(name=t, student=suite['student_tap'], teacher=f'{t}:backbone.layer3', loss=loss)
                      for t in teachers]


def teacher_tap(suite):
    """The suite's teacher tap: its own, or the first entry's of the config named by ``teacher_tap_from``."""
    if 'teacher_tap' in suite:
        return suite['teacher_tap']
    from mmengine.config import Config
    entry = Config.fromfile(osp.join(ROOT, suite['teacher_tap_from'])).model.distill[0]
    return entry['teacher'].split(':', 1)[1]  # 'cls:backbone.layer5' -> 'backbone.layer5'


def build_variant(name, suite, device, amp=False):
    """Return (model, step_fn) where step_fn(batch) runs one training step."""
    import torch
    from mmengine.registry import MODELS

    import mmcrosskd  # noqa: F401
    torch.manual_seed(0)
    teacher = dict(config=suite['teacher'], seed=0, **suite.get('teacher_options', {}))
    name, _, teacher_size = name.partition('@')  # 'inverted@128': the teacher's input resized to 128x128
    name, *extras = name.split('+')
    for extra in extras:
        if extra == 'cache':  # the teacher's feature cache on; the timed batch repeats, so every timed step
            teacher['cache_mb'] = 1024  # is a hit (a later epoch's steady state)
        elif extra == 'channels_last':  # the teacher and its input channels-last, as the demo config runs it
            teacher['channels_last'] = True
        else:
            raise KeyError(f"{'+'.join([name, *extras])}: unknown '+{extra}'")
    if teacher_size:
        teacher['input_size'] = (int(teacher_size), int(teacher_size))
    entry = dict(name='kd', student=suite['student_tap'], teacher=teacher_tap(suite),
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
    elif name.startswith(('entries-', 'teachers-')):
        teachers, distill = growth_distill(name, suite)
        model = MODELS.build(dict(type='CrossTaskDistiller', student=student_cfg(suite), teachers=teachers,
                                  distill=distill, max_kd_ratio=None))
    elif name == 'ideal':
        return build_ideal(suite, device, amp)
    elif name == 'mmrazor':
        return build_mmrazor(suite, device)
    else:
        raise KeyError(name)
    model.to(device).train()
    optim = make_optim_wrapper(model.parameters(), device, amp)
    return model, lambda batch: model.train_step(batch, optim)


def build_ideal(suite, device, amp=False):
    """Plain PyTorch: the student's own train_step plus a truncated teacher forward, a 1x1 projector
    and an MSE, with no wrapper, hooks or re-normalisation."""
    import torch
    import torch.nn.functional as F
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
    optim = make_optim_wrapper(list(student.parameters()) + list(proj.parameters()), device, amp)

    def step(batch):
        with optim.optim_context(student):
            data = student.data_preprocessor(batch, True)
            x = data['inputs']
            with torch.no_grad():  # the teacher up to layer3, by hand
                t = tb.maxpool(tb.relu(tb.norm1(tb.conv1(x))))
                t = tb.layer3(tb.layer2(tb.layer1(t)))
            losses = student(**data, mode='loss')
            with torch.autocast(x.device.type, enabled=False):  # float32, as the distiller does
                t = F.interpolate(t.float(), size=feats['s'].shape[-2:], mode='bilinear', align_corners=False)
                losses['loss_kd'] = F.mse_loss(F.normalize(feats['s'].float(), dim=1), F.normalize(proj(t), dim=1))
            loss, log = student.parse_losses(losses)
        optim.update_params(loss)
        return log
    return student, step


def build_mmrazor(suite, device):
    """mmrazor 1.0.0 (installed beside our stack with `pip install --no-deps --target DIR mmrazor==1.0.0`,
    passed as --mmrazor-site DIR). Its import fails with torch 2.x here; the error is recorded."""
    from mmrazor.models import SingleTeacherDistill  # noqa: F401  (raises the exact error)
    raise NotImplementedError('mmrazor imported: wire SingleTeacherDistill here to time it')


def time_variants(names, suite, device, repeats, warmup=2, amp=False):
    import torch
    built, errors = {}, {}
    for name in names:
        try:
            built[name] = build_variant(name, suite, device, amp)
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


def peak_memory(name, suite, device, amp=False):
    """Peak memory growth of a few steps of one variant, in a fresh process."""
    code = (f'import sys; sys.path.insert(0, {ROOT!r}); import benchmarks.speed as b; '
            f'print("MEM", b._measure_memory({name!r}, {suite!r}, {device!r}, {amp!r}))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT,
                         env=memory_env(device))
    for line in out.stdout.splitlines():
        if line.startswith('MEM '):
            return float(line.split()[1])
    return float('nan')


def memory_env(device, env=None):
    """The environment of a process that measures CPU peak memory from its RSS.

    glibc raises its mmap threshold as large blocks are freed, after which freed tensors stay in the heap:
    the RSS then follows the allocator's high-water mark, not the live tensors (entries-1 of the growth
    suite: 82.4 and 49.0 MB in two fresh processes). Fixing the threshold at 64 KiB returns every freed tensor
    to the kernel (the growth suite's student: 205.57 and 205.63 MB in two processes). Timing runs keep the
    default, as mmap per tensor is slower."""
    env = dict(os.environ if env is None else env)
    if device == 'cpu':
        env['MALLOC_MMAP_THRESHOLD_'] = '65536'
    return env


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


def _measure_memory(name, suite, device, amp=False):
    import torch
    if os.environ.get('MMCROSSKD_SPEED_THREADS'):
        torch.set_num_threads(int(os.environ['MMCROSSKD_SPEED_THREADS']))
    model, step = build_variant(name, suite, device, amp)
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


def ddp_worker(a):
    """One rank under ``torch.distributed.run``: time the variants (or measure one variant's peak memory)
    wrapped in mmengine's MMDistributedDataParallel; rank 0 prints ``DDP <json>``."""
    import torch
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    world, local = int(os.environ['WORLD_SIZE']), int(os.environ.get('LOCAL_RANK', 0))
    if a.device == 'cuda':
        torch.cuda.set_device(local)
        device, backend = f'cuda:{local}', 'nccl'
    else:  # the machine's cores (or --threads) shared between the processes
        torch.set_num_threads(max(1, (a.threads or os.cpu_count() or 1) // world))
        device, backend = 'cpu', 'gloo'
    dist.init_process_group(backend)
    suite = with_overrides(SUITES[a.suite[0]], a.size, a.batch)
    names = [a.ddp_memory] if a.ddp_memory else a.ddp_variants
    steps = {}
    for name in names:
        model, _ = build_variant(name, suite, device, a.amp)  # teachers follow the model's device
        wrapped = MMDistributedDataParallel(module=model, device_ids=[local] if a.device == 'cuda' else None)
        optim = make_optim_wrapper(model.parameters(), a.device, a.amp)
        steps[name] = (lambda w, o: (lambda batch: w.train_step(batch, o)))(wrapped, optim)
    batch = make_batch(suite, seed=dist.get_rank())
    sync = torch.cuda.synchronize if a.device == 'cuda' else (lambda: None)
    if a.ddp_memory:
        step = steps[a.ddp_memory]
        step(batch)
        sync()
        if a.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            _reset_peak_rss()
            base = _status_mb('VmRSS')
        for _ in range(3):
            step(batch)
        sync()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if a.device == 'cuda' else _status_mb('VmHWM') - base
        t = torch.tensor([peak], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        out = dict(peak_mem_mb=t.item())
    else:
        times = {n: [] for n in steps}
        for r in range(2 + a.repeats):
            for name, step in steps.items():
                dist.barrier()
                sync()
                t0 = time.perf_counter()
                step(batch)
                sync()
                if r >= 2:
                    times[name].append(time.perf_counter() - t0)
        out = dict(median_s={n: statistics.median(v) for n, v in times.items()}, threads=torch.get_num_threads())
    if dist.get_rank() == 0:
        print('DDP', json.dumps(out), flush=True)
    # Drop the DDP wrappers while the group still exists: their reducers hold gloo work, and tearing them
    # down after destroy_process_group left a rank hanging at exit (2 CPU processes, 2026-12-01).
    del steps, wrapped, model, optim
    dist.barrier()
    dist.destroy_process_group()


def run_ddp(a, processes, extra, timeout=3600, grace=60):
    """Launch ``ddp_worker`` on ``processes`` ranks; return its JSON.

    The launch runs in its own process group, killed ``timeout`` s after the start, or ``grace`` s after
    rank 0 printed its result (a rank that hangs at exit then costs a minute, not the benchmark)."""
    import signal
    import socket
    import tempfile
    import threading
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = str(sock.getsockname()[1])
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(processes), '--master_addr',
           '127.0.0.1', '--master_port', port, osp.abspath(__file__), '--suite', a.suite[0], '--device', a.device,
           '--repeats', str(a.repeats)] + (['--amp'] if a.amp else []) + \
        (['--threads', str(a.threads)] if a.threads else []) + \
        (['--size', *map(str, a.size)] if a.size else []) + (['--batch', str(a.batch)] if a.batch else []) + extra

    env = dict(os.environ, OMP_NUM_THREADS='1')
    if '--ddp-memory' in extra:
        env = memory_env(a.device, env)

    def kill_group():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # already gone
            pass

    with tempfile.TemporaryFile('w+') as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
                                env=env, start_new_session=True)
        watchdog = threading.Timer(timeout, kill_group)
        watchdog.start()
        lines, result = [], None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith('DDP ') and result is None:
                result = json.loads(line[4:])
                watchdog.cancel()
                watchdog = threading.Timer(grace, kill_group)
                watchdog.start()
        proc.wait()
        watchdog.cancel()
        if result is not None:
            return result
        err.seek(0)
        raise RuntimeError(f'DDP run with {processes} processes failed (exit {proc.returncode}):\n'
                           f'{"".join(lines)[-2000:]}\n{err.read()[-4000:]}')


def measure_processes(a):
    """Student and entries-1 under DDP with each number of processes: times, and peaks (one launch each)."""
    names = ['student', 'entries-1']
    out = {}
    for n in a.processes:
        r = run_ddp(a, n, ['--ddp-worker', '--ddp-variants', *names])
        if not a.no_memory:
            r['peak_mem_mb'] = {v: run_ddp(a, n, ['--ddp-worker', '--ddp-memory', v])['peak_mem_mb'] for v in names}
        out[n] = r
        print('processes', n, json.dumps(r), flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--suite', nargs='+', default=['cls', 'seg'], choices=list(SUITES))
    p.add_argument('--variants', nargs='+', default=None,
                   help='default: student teacher-free inverted traditional ideal mmrazor (growth: its own list)')
    p.add_argument('--repeats', type=int, default=15)
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--amp', action='store_true', help='forward under autocast (fp16 on CUDA, bf16 on CPU)')
    p.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'), help="override the suites' image size")
    p.add_argument('--batch', type=int, help="override the suites' batch size")
    p.add_argument('--processes', nargs='+', type=int, default=[],
                   help='also time student and entries-1 under DDP with these numbers of processes (first suite)')
    p.add_argument('--threads', type=int, default=None,
                   help="torch's intra-op threads (default: torch's choice; on a busy shared machine 1 is steadier)")
    p.add_argument('--no-memory', action='store_true')
    p.add_argument('--out', default=osp.join(ROOT, 'docs', 'performance.md'))
    p.add_argument('--json', default=None, help='also write the raw numbers here')
    p.add_argument('--mmrazor-site', default=osp.join(ROOT, '.mmrazor'),
                   help='folder where mmrazor 1.0.0 was installed with pip --target (see docstring)')
    p.add_argument('--ddp-worker', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--ddp-variants', nargs='+', default=[], help=argparse.SUPPRESS)
    p.add_argument('--ddp-memory', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            p.error('--device cuda: torch sees no CUDA device (torch.cuda.is_available() is False)')
    if a.ddp_worker:
        return ddp_worker(a)
    if osp.isdir(a.mmrazor_site):
        sys.path.append(a.mmrazor_site)
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
        os.environ['MMCROSSKD_SPEED_THREADS'] = str(a.threads)  # for the memory subprocesses
    results = {}
    for s in a.suite:
        suite = with_overrides(SUITES[s], a.size, a.batch)
        variants = a.variants or suite.get('variants') or ['student', 'teacher-free', 'inverted', 'traditional',
                                                           'ideal', 'mmrazor']
        med, errors = time_variants(variants, suite, a.device, a.repeats, amp=a.amp)
        mem = {} if a.no_memory else {n: peak_memory(n, suite, a.device, a.amp) for n in med}
        results[s] = dict(median_s=med, errors=errors, peak_mem_mb=mem, size=list(suite['size']),
                          batch=suite['batch'])
        print(s, json.dumps(results[s], indent=1), flush=True)
    if a.processes:
        results['processes'] = measure_processes(a)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=1)
    write_report(results, a, torch)
    return results


def write_report(results, a, torch):
    cmd = 'python benchmarks/speed.py ' + ' '.join(sys.argv[1:])
    dev = torch.cuda.get_device_name(0) if a.device == 'cuda' else f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores'
    # One section per device and suite set: a run replaces its own section and keeps the others.
    label = a.device.upper() + (' AMP' if a.amp else '') + \
        ('' if sorted(a.suite) == ['cls', 'seg'] else ' ' + '+'.join(a.suite))
    lines = [f'## {label}: {dev} ({datetime.date.today()})', '',
             f'Command: `{cmd}`  (torch {torch.__version__}, {torch.get_num_threads()} threads, '
             f'{a.repeats} interleaved repeats, median step time' + (', autocast' if a.amp else '') + ')', '']
    for s, r in results.items():
        if s == 'processes':
            continue
        suite = SUITES[s]
        med, mem = r['median_s'], r['peak_mem_mb']  # mem is empty with --no-memory
        base = med.get('student')
        teacher_input = suite.get('teacher_options', {}).get('input_size')
        teacher = (f'teacher `{suite["teacher"]}` (tap `{teacher_tap(suite)}`'
                   + (f', input resized to {teacher_input[0]}x{teacher_input[1]}' if teacher_input else '') + ')'
                   if s != 'growth' else
                   'teachers: ' + ', '.join(f'{n} `{t["config"] if isinstance(t["config"], str) else t["config"]["type"]}`'
                                           for n, t in GROWTH_TEACHERS))
        lines += [f'### {s}: student `{suite["student"]}`, {teacher}, {r["size"][0]}x{r["size"][1]}, '
                  f'batch {r["batch"]}', '',
                  '| variant | median step (s) | / student |'
                  + (' peak memory growth (MB) | / student |' if mem else ''),
                  '|---|---|---|' + ('---|---|' if mem else '')]
        for n, t in med.items():
            cells = [n, f'{t:.4f}', f'{t / base:.3f}' if base else '']
            if mem:
                m = mem.get(n, float('nan'))
                cells += [f'{m:.0f}', f'{m / mem["student"]:.2f}' if mem.get('student') and m == m else '']
            lines.append('| ' + ' | '.join(cells) + ' |')
        for n, e in r['errors'].items():
            lines.append(f'| {n} | could not run: `{e}` | |' + (' | |' if mem else ''))
        ratios = []
        if 'inverted' in med and 'traditional' in med:
            ratios.append(f"inverted / traditional = **{med['inverted'] / med['traditional']:.3f}** (target <= 1.02)")
        for tf in ('teacher-free', 'teacher-free-fp64'):
            if tf in med and base:
                ratios.append(f"{tf} / student = **{med[tf] / base:.3f}** (target <= 1.02)")
        if 'inverted' in med and 'ideal' in med:
            ratios.append(f"inverted / ideal = **{med['inverted'] / med['ideal']:.3f}** (target <= 1.05)")
        lines += [''] + [f'- {x}' for x in ratios] + ['']
    if results.get('processes'):
        procs = results['processes']
        one = procs.get(1, procs.get('1', {})).get('median_s', {}).get('student')
        lines += [f'### processes: `student` and `entries-1` of the {a.suite[0]} suite under DDP '
                  f'({"NCCL" if a.device == "cuda" else "gloo"}), the same batch per process', '',
                  '| processes | threads each | student step (s) | entries-1 step (s) | entries-1 / student | '
                  'student / 1-process student | peak memory growth per process, student / entries-1 (MB) |',
                  '|---|---|---|---|---|---|---|']
        for n, r in procs.items():
            st, kd = r['median_s']['student'], r['median_s']['entries-1']
            pm = r.get('peak_mem_mb', {})
            mem = f"{pm['student']:.0f} / {pm['entries-1']:.0f}" if pm else 'not measured'
            lines.append(f'| {n} | {r["threads"]} | {st:.4f} | {kd:.4f} | {kd / st:.3f} | '
                         f'{st / one:.3f} | {mem} |' if one else f'| {n} | | {st:.4f} | {kd:.4f} | {kd / st:.3f} | | {mem} |')
        lines.append('')
    block = '\n'.join(lines) + '\n'
    header = ('# Performance\n\nMeasured by `benchmarks/speed.py` (its docstring lists the variants). '
              'Each section is one run; ratios compare variants of the same run.\n\n')
    sections, head = {}, header
    if osp.isfile(a.out):
        chunks = re.split(r'(?m)^(?=## )', open(a.out).read())
        head = chunks[0]
        sections = {c.split(':', 1)[0]: c for c in chunks[1:]}
    sections[f'## {label}'] = block + '\n'
    os.makedirs(osp.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        f.write(head + ''.join(sections.values()))

if __name__ == '__main__':
    main()
