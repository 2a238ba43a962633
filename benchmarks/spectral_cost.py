"""CPU time of the teacher-free loss against the student's training step, on a busy machine.

    .venv/bin/python benchmarks/spectral_cost.py [--repeats 20] [--student-repeats 3]

``benchmarks/speed.py`` times whole steps in wall-clock time; on a shared machine whose cores are taken by
other jobs, wall-clock time measures the scheduler. This script measures *process CPU time* with one thread
(which on an idle core equals wall time): ``SpectralTailLoss(energy=0.9, normalized=True)`` forward + backward
on the features speed.py's teacher-free variants tap (ResNet-18 layer4, batch 8 at 224x224: 392 positions x
512 channels; FCN-ResNetV1c-18 layer4, batch 4 at 256x256: 4096 x 512), interleaved with the previous
formulation (the 512 x 512 Gram matrix and the top-k directions at every size) for comparison, and the cls
student's own training step. The teacher-free overhead is then ``1 + loss / student step`` (the distiller's
own per-step work for a teacher-free entry is not included).
"""
import argparse
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def previous_tail_loss(x, energy=0.9):
    """The formulation before the smaller-Gram change: d x d Gram, eigh, top-k directions (reference)."""
    import torch

    from mmcrosskd.losses.spectral import flatten_features, resolve_k
    z = flatten_features(x).float()
    with torch.no_grad():
        evals, evecs = torch.linalg.eigh(z.T @ z)
        evals = evals.flip(0).clamp_min(0)
        top = evecs.flip(1)[:, :resolve_k(evals, energy=energy)]
    total = (z * z).sum()
    return (total - (z @ top).pow(2).sum()).clamp_min(0) / total


def cpu_time(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--repeats', type=int, default=20)
    p.add_argument('--student-repeats', type=int, default=3)
    a = p.parse_args(argv)
    import torch

    import mmcrosskd  # noqa: F401
    from mmcrosskd.losses import SpectralTailLoss
    torch.set_num_threads(1)
    loss = SpectralTailLoss(energy=0.9, normalized=True)
    out = {}
    for name, shape in (('cls', (8, 512, 7, 7)), ('seg', (4, 512, 32, 32))):
        g = torch.Generator().manual_seed(0)
        # a decaying spectrum, as trained features have (k for 90% energy is then well inside 1..512)
        x = (torch.randn(*shape, generator=g) * torch.linspace(3, 0.1, 512).view(1, -1, 1, 1)).requires_grad_()
        new = cpu_time(lambda: loss(x).backward(), a.repeats)
        old = cpu_time(lambda: previous_tail_loss(x).backward(), a.repeats)
        diff = abs(loss(x).item() - previous_tail_loss(x).item()) / previous_tail_loss(x).item()
        out[name] = dict(new_ms=new * 1e3, previous_ms=old * 1e3, rel_value_difference=diff)
        print(name, out[name], flush=True)
    from benchmarks.speed import SUITES, build_variant, make_batch
    _, step = build_variant('student', SUITES['cls'], 'cpu')
    batch = make_batch(SUITES['cls'])
    student = cpu_time(lambda: step(batch), a.student_repeats)
    print(f'cls student step: {student:.3f} s CPU (1 thread)')
    for name in out:
        print(f"{name}: loss {out[name]['new_ms']:.1f} ms (previous {out[name]['previous_ms']:.1f} ms)", end='')
        if name == 'cls':
            print(f" -> teacher-free / student ~ {1 + out[name]['new_ms'] / 1e3 / student:.4f} "
                  f"(previous {1 + out[name]['previous_ms'] / 1e3 / student:.4f})", end='')
        print()
    return out, student


if __name__ == '__main__':
    main()
