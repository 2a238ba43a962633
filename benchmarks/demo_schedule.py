"""How long ``tools/demo.py`` takes with its two students side by side (the default) and one at a time.

    .venv/bin/python benchmarks/demo_schedule.py [--student-iters 150] [--repeats 1] [--out docs/demo_schedule.md]

Runs the demo itself (ImageNet teacher, the demo's data and configs, a shorter schedule so that both ways fit
in minutes), alternating the two ways so that a machine that slows down during the run does not favour one;
each way's wall time comes from the demo's own ``[demo] total`` line and each student's ``done in`` line. The
ratio is what a user of the full demo saves; the mIoUs are there to show both ways train the same recipe
(they differ only by the float rounding of the thread count).
"""
import argparse
import os.path as osp
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
from demo import usable_cpus  # noqa: E402  (the CPUs the demo splits between its students)

WAYS = {'side by side': [], 'one at a time': ['--one-at-a-time']}


def parse(out):
    """The demo's total seconds, each student's seconds (in the runs' order) and the two mIoUs."""
    total = float(re.search(r'\[demo\] total (\d+) s', out).group(1))
    students = [float(s) for s in re.findall(r'\[demo\] (?:\[\d\] )?student .* done in (\d+) s', out)]
    miou = [float(m) for m in re.findall(r'\| student FCN-R18[^|]*\| segmentation \| mIoU ([\d.]+) \|', out)]
    return dict(total=total, students=students, miou=miou)


def run_demo(extra, iters, data, work_dir):
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'demo.py'), '--student-iters', str(iters), '--data', data,
           '--work-dir', work_dir, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f'{" ".join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return parse(proc.stdout)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--student-iters', type=int, default=150)
    p.add_argument('--repeats', type=int, default=1)
    p.add_argument('--data', default=osp.join(ROOT, 'data', 'fashion_mnist'))
    p.add_argument('--out', default=osp.join(ROOT, 'docs', 'demo_schedule.md'))
    a = p.parse_args(argv)
    results = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeats):
            order = list(WAYS) if r % 2 == 0 else list(WAYS)[::-1]
            for way in order:
                res = run_demo(WAYS[way], a.student_iters, a.data, osp.join(tmp, f'{r}_{len(results[way])}'))
                print(way, res, flush=True)
                results[way].append(res)
    import torch
    med = {way: statistics.median(x['total'] for x in rs) for way, rs in results.items()}
    lines = [
        '# The demo\'s schedule: two students side by side or one at a time', '',
        f'Command: `python benchmarks/demo_schedule.py --student-iters {a.student_iters} --repeats {a.repeats}` '
        f'({time.strftime("%Y-%m-%d")}, torch {torch.__version__}, {usable_cpus()} '
        'CPUs; the ways alternate, the first one first on even repeats).', '',
        '| way | demo total (s), median | students (s) per repeat | mIoU alone / distilled per repeat |',
        '|---|---|---|---|']
    for way, rs in results.items():
        lines.append(f'| {way} | {med[way]:.0f} | ' + '; '.join(' / '.join(f'{s:.0f}' for s in x['students'])
                                                           for x in rs)
                     + ' | ' + '; '.join(' / '.join(f'{m:.2f}' for m in x['miou']) for x in rs) + ' |')
    lines += ['', f'- side by side / one at a time = **{med["side by side"] / med["one at a time"]:.3f}**', '']
    with open(a.out, 'w') as f:
        f.write('\n'.join(lines))
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
