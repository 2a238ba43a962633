"""Run a grid of training settings x seeds through tools/train.py, resumably, and tabulate the metric.

    .venv/bin/python benchmarks/sweep.py SPEC.py --out work_dirs/sweeps/NAME [--seeds 0 1 2] [--report FILE.md]
        [--jobs 2] [--only 'inv_*' no_distillation] [--report-only] [--prune]

SPEC.py defines ``settings``: a list of dicts with ``name``, ``config`` and optional ``options`` (a list of
``--cfg-options`` strings), plus optional ``baseline`` (a setting name), ``metric`` (default ``'mIoU'``),
``higher_is_better`` (default True; False for errors such as depth's ``'abs_rel'``: the gain column is then
the baseline minus the setting, so a positive gain is always an improvement), ``digits`` (decimals in the
table, default 2), ``common_options`` (added to every run), ``title`` and ``prepare(settings)`` (called with
the settings about to be trained, e.g. to train a teacher they need); a setting may name its own
``baseline``. Each run goes to ``<out>/<name>/seed<k>/`` and writes
``result.json`` when it finishes; a finished run is never redone, so an interrupted sweep resumes where it
stopped. The report holds mean +- std per setting, the gain over the baseline with its standard error, every
seed's value, and a PNG chart next to it.

``result.json`` holds the metric, seed, command, time and the projectors' spectra (from the last checkpoint,
and the first/last values logged by a ``ProjectorSpectrumHook``). With ``--out benchmarks/results/NAME`` the
result files are tracked by git (everything else there is ignored), so a sweep resumes on another machine and
every table is rebuilt with ``--report-only`` without retraining; ``--prune`` deletes the checkpoints of
finished runs.
"""
import argparse
import datetime
import fnmatch
import glob
import json
import math
import os
import os.path as osp
import platform
import re
import runpy
import shutil
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)  # mmcrosskd from this clone; imported lazily (a report needs no torch)


def metric_curve(work_dir, metric):
    """The metric of every validation of a run, in order (mmengine logs validations of an iteration-based
    run without their iteration: they are every ``val_interval`` iterations)."""
    from mmcrosskd.runner_utils import read_scalars
    return [e[metric] for e in read_scalars(work_dir) if metric in e]


def last_metric(work_dir, metric):
    curve = metric_curve(work_dir, metric)
    return curve[-1] if curve else None


def loss_curve(work_dir, metric):
    """The mean of every training loss over each validation interval, one dict per validation (aligned
    with :func:`metric_curve`), e.g. ``{'loss_kd_c4': 0.31, 'decode.loss_ce': 0.95, ...}``: how large the
    distillation term was against the task loss as training went on. Lines after the last validation
    (none in a run that validates at its end) are left out."""
    from mmcrosskd.runner_utils import read_scalars
    curve, sums, counts = [], {}, {}
    for entry in read_scalars(work_dir):
        if metric in entry:
            curve.append({k: round(sums[k] / counts[k], 6) for k in sorted(sums)})
            sums, counts = {}, {}
            continue
        for key, value in entry.items():
            if 'loss' in key.split('.')[-1] and isinstance(value, (int, float)):
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
    return curve


def summarise_run(run_dir, metric):
    """What a result.json keeps of a run besides its metric: the validation curve, the training losses
    over it and the projectors."""
    return dict(curve=metric_curve(run_dir, metric), loss_curve=loss_curve(run_dir, metric),
                projectors=projector_summary(run_dir))


def projector_summary(run_dir):
    """The projectors' spectra at the end of a run (from its last checkpoint) and, where the run had a
    ``ProjectorSpectrumHook``, the first and last logged spectrum scalars (effective rank, spread, SR terms)
    and the singular values it recorded over training."""
    from mmcrosskd.analysis import projector_matrices, spectrum_summary
    from mmcrosskd.runner_utils import read_scalars
    summary = {}
    pointer = osp.join(run_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            ckpt = f.read().strip()
        matrices = {}
        if osp.isfile(ckpt):  # not when --prune removed it
            try:
                matrices, _ = projector_matrices(ckpt)
            except KeyError:  # no projector (a plain student or a teacher-free loss)
                pass
        summary = {name: dict(final=spectrum_summary(w)) for name, w in matrices.items()}
    spectra = osp.join(run_dir, 'projector_spectrum.json')
    if osp.isfile(spectra):
        with open(spectra) as f:
            for name, steps in json.load(f).items():
                summary.setdefault(name, {})['singular_values'] = steps
    logged = [e for e in read_scalars(run_dir) if any(k.startswith('spectrum/') for k in e)]
    for when, record in (('first_logged', logged[:1]), ('last_logged', logged[-1:])):
        for key, value in (record[0].items() if record else ()):
            if key.startswith('spectrum/'):
                _, name, stat = key.split('/', 2)
                summary.setdefault(name, {}).setdefault(when, {'step': record[0].get('step')})[stat] = value
    return summary


def _take_lock(path):
    """Several sweep processes may share an output folder (e.g. one per seed): one run, one owner.
    A lock whose process is gone (an interrupted sweep) is taken over."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            return True
        except FileExistsError:
            try:
                os.kill(int(open(path).read() or 0), 0)
                return False  # its owner is alive
            except (ProcessLookupError, ValueError):
                os.remove(path)
    return False


def _clear_stale_attempt(run_dir):
    """Remove what an interrupted attempt of a run left (logs, checkpoints, spectra): a run starts from the
    beginning, and its validation curve and first logged spectrum would otherwise begin with the dead
    attempt's entries (``read_scalars`` reads every timestamped log of a work dir)."""
    for path in glob.glob(osp.join(run_dir, '*')):
        name = osp.basename(path)
        if osp.isdir(path) and re.fullmatch(r'\d{8}_\d{6}', name):
            shutil.rmtree(path)
        elif name.endswith('.pth') or name in ('last_checkpoint', 'projector_spectrum.json'):
            os.remove(path)


def _write_json(path, obj):
    """Written whole or not at all: a finished run is never redone, so a half-written result.json (a
    crash, a full disk) would stand for a run forever."""
    from mmcrosskd.utils.checkpoint import atomic_write_json
    atomic_write_json(obj, path, indent=1)


def run_one(setting, seed, out, common, metric, log, prune=False):
    """Train one (setting, seed) unless it is finished or another sweep process holds it."""
    run_dir = osp.join(out, setting['name'], f'seed{seed}')
    result_file = osp.join(run_dir, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            return json.load(f)
    os.makedirs(run_dir, exist_ok=True)
    if not _take_lock(osp.join(run_dir, '.lock')):
        log(f"[sweep] {setting['name']} seed {seed}: running in another sweep process")
        return None
    _clear_stale_attempt(run_dir)
    options = list(common) + list(setting.get('options', [])) + [f'randomness.seed={seed}']
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), setting['config'], '--work-dir', run_dir,
           '--cfg-options', *options]
    t0 = time.time()
    with open(osp.join(run_dir, 'train.log'), 'w') as fh:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                              env=dict(os.environ, PYTHONUNBUFFERED='1'))
    value = last_metric(run_dir, metric) if proc.returncode == 0 else None
    if value is None:  # a run that logged no metric is not finished: no result.json, checkpoints kept
        os.remove(osp.join(run_dir, '.lock'))
        why = 'failed' if proc.returncode else f'exited 0 but logged no {metric!r} validation'
        raise RuntimeError(f"{setting['name']} seed {seed} {why}; see {osp.join(run_dir, 'train.log')}")
    result = dict(setting=setting['name'], seed=seed, metric=metric, value=value, seconds=time.time() - t0,
                  command=' '.join(osp.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd[1:]),
                  **summarise_run(run_dir, metric))
    _write_json(result_file, result)
    if prune:  # the summary above is what the tables need; checkpoints are 10s of MB per run
        for ckpt in glob.glob(osp.join(run_dir, '*.pth')):
            os.remove(ckpt)
    os.remove(osp.join(run_dir, '.lock'))
    log(f"[sweep] {setting['name']} seed {seed}: {metric} {value} ({result['seconds']:.0f} s)")
    return result


def collect(out, settings):
    """Every finished run of these settings under ``out`` (also those of other sweep processes)."""
    results = []
    for s in settings:
        for f in sorted(glob.glob(osp.join(out, s['name'], 'seed*', 'result.json'))):
            with open(f) as fh:
                results.append(json.load(fh))
    return results


def refresh(out, settings, metric):
    """Rewrite the summaries (curves, projector spectra) of finished runs from their run folders, keeping
    their metric, seed and command: for results written by an older version of this script."""
    for s in settings:
        for f in sorted(glob.glob(osp.join(out, s['name'], 'seed*', 'result.json'))):
            with open(f) as fh:
                result = json.load(fh)
            fresh = summarise_run(osp.dirname(f), metric)
            result['curve'] = fresh['curve'] or result.get('curve', [])
            losses = fresh['loss_curve'] or result.get('loss_curve')
            if losses:  # a run whose logs are gone keeps its result.json as it was
                result['loss_curve'] = losses
            old = result.setdefault('projectors', {})
            for name, parts in fresh['projectors'].items():  # a pruned checkpoint leaves the old 'final'
                old.setdefault(name, {}).update(parts)
            _write_json(f, result)


def summarise(values):
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float('nan')
    return mean, std, n


def difference(values, reference, higher=True):
    """Gain of ``values`` over ``reference`` (positive = better; for an error metric, reference minus
    values) and its standard error ``sqrt(s_a^2/n_a + s_b^2/n_b)`` (a single value counts as exact)."""
    (ma, sa, na), (mb, sb, nb) = summarise(values), summarise(reference)
    se = math.sqrt((sa ** 2 if na > 1 else 0) / na + (sb ** 2 if nb > 1 else 0) / nb)
    return (ma - mb) * (1 if higher else -1), se


def report(spec, results, out, report_path, command):
    metric = spec.get('metric', 'mIoU')
    higher = spec.get('higher_is_better', True)
    digits = spec.get('digits', 2)
    names = [s['name'] for s in spec['settings']]
    rows = {n: [r['value'] for r in results if r['setting'] == n and r['value'] is not None] for n in names}
    base = spec.get('baseline')
    own = any('baseline' in s for s in spec['settings'])
    gain_head = 'gain over its baseline' if own else f'gain over `{base}`'
    lines = [f"## {spec.get('title', 'Sweep')}", '',
             f'Command: `{command}`  ', f'Machine: {platform.machine()}, {os.cpu_count()} cores; '
             f'{datetime.date.today()}. Runs: `{osp.relpath(out, ROOT)}/<setting>/seed<k>/`.', '',
             f"| setting | {metric} mean +- std{'' if higher else ' (lower is better)'} | n | {gain_head} "
             f"(+- s.e.{'' if higher else '; baseline minus setting'}) | seeds |",
             '|---|---|---|---|---|']
    for s in spec['settings']:
        vals = rows[s['name']]
        if not vals:
            lines.append(f"| {s['name']} | (not run) | 0 | | |")
            continue
        mean, std, n = summarise(vals)
        gain = ''
        ref = s.get('baseline', base)  # a setting may name its own (e.g. one baseline per data regime)
        if ref and rows.get(ref) and s['name'] != ref:
            diff, se = difference(vals, rows[ref], higher)
            gain = f'{diff:+.{digits}f} +- {se:.{digits}f}'
        lines.append(f"| {s['name']} | {mean:.{digits}f} +- {std:.{digits}f} | {n} | {gain} | "
                     f"{', '.join(f'{v:.{digits}f}' for v in vals)} |")
    lines.append('')
    for s in spec['settings']:
        if s.get('description'):
            lines.append(f"- `{s['name']}`: {s['description']}")
    png = osp.splitext(report_path)[0] + '.png'
    plot(rows, names, metric if higher else f'{metric} (lower is better)', png, spec.get('title', 'Sweep'))
    lines += ['', f'![chart]({osp.basename(png)})', '']
    os.makedirs(osp.dirname(osp.abspath(report_path)), exist_ok=True)
    with open(report_path, 'w') as f:
        f.write('\n'.join(lines))
    return '\n'.join(lines)


def plot(rows, names, metric, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4))
    for i, n in enumerate(names):
        vals = rows[n]
        if not vals:
            continue
        mean, std, _ = summarise(vals)
        ax.bar(i, mean, yerr=0 if math.isnan(std) else std, color='tab:blue', alpha=0.6, capsize=4)
        ax.scatter([i] * len(vals), vals, color='k', s=10, zorder=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha='right', fontsize=8)
    lo = min((min(v) for v in rows.values() if v), default=0)
    hi = max((max(v) for v in rows.values() if v), default=1)
    ax.set_ylim(lo - 0.15 * (hi - lo + 1e-6) - 0.5, hi + 0.15 * (hi - lo + 1e-6) + 0.5)
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def select(settings, only):
    """The settings whose names match one of the shell patterns ``only`` (all when it is empty)."""
    names = [s['name'] for s in settings]
    for pattern in only or ():
        if not fnmatch.filter(names, pattern):
            raise ValueError(f'--only {pattern!r} matches no setting; the settings are: {", ".join(names)}')
    return [s for s in settings if not only or any(fnmatch.fnmatchcase(s['name'], p) for p in only)]


def run_sweep(spec, out, seeds, report_path, command, log=lambda msg: print(msg, flush=True), only=None,
              prune=False, prepare=True):
    """Train every (setting, seed) not yet finished, seed-major, and write the report after each run.

    ``only`` (shell patterns of setting names) restricts what is trained, e.g. more seeds for a few settings;
    the report still covers every setting of the spec.
    """
    common = spec.get('common_options', [])
    metric = spec.get('metric', 'mIoU')
    chosen = select(spec['settings'], only)
    if prepare and spec.get('prepare'):
        spec['prepare'](chosen)
    for seed in seeds:  # seed-major: a partial sweep already covers every setting
        for s in chosen:
            run_one(s, seed, out, common, metric, log, prune)
            report(spec, collect(out, spec['settings']), out, report_path, command)
    return report(spec, collect(out, spec['settings']), out, report_path, command)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('spec')
    p.add_argument('--out', required=True)
    p.add_argument('--seeds', type=int, nargs='+', default=None, help='default 0 1 2')
    p.add_argument('--report', default=None)
    p.add_argument('--only', nargs='+', default=None, metavar='PATTERN',
                   help='train only the settings whose names match (shell patterns); the report keeps them all')
    p.add_argument('--report-only', action='store_true',
                   help='train nothing: write the table and chart from the runs already finished (of the '
                        'given --seeds and --only settings)')
    p.add_argument('--jobs', type=int, default=1,
                   help='runs trained at once (worker processes sharing the output folder through its locks); '
                        'each gets cpu_count/jobs threads unless OMP_NUM_THREADS is set')
    p.add_argument('--refresh', action='store_true',
                   help='train nothing: rewrite the curve and projector summaries of finished runs from their '
                        'folders (logs and projector_spectrum.json; pruned checkpoints give no final spectrum)')
    p.add_argument('--prune', action='store_true',
                   help='delete each finished run\'s checkpoints once its result.json (with the projector '
                        'spectra) is written')
    p.add_argument('--no-prepare', action='store_true',
                   help="skip the spec's prepare() (the worker processes of --jobs: the first process ran it)")
    a = p.parse_args(argv)
    seeds_given = a.seeds is not None
    a.seeds = a.seeds if seeds_given else [0, 1, 2]
    spec = runpy.run_path(a.spec)
    report_path = a.report or osp.join(a.out, 'report.md')
    command = 'python benchmarks/sweep.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    if a.refresh:
        refresh(a.out, select(spec['settings'], a.only), spec.get('metric', 'mIoU'))
        return
    if a.report_only:  # of the given --seeds (all finished ones when --seeds is not given) and --only
        chosen = select(spec['settings'], a.only)
        seeds = set(a.seeds) if seeds_given else None
        results = [r for r in collect(a.out, chosen) if seeds is None or r['seed'] in seeds]
        print(report(dict(spec, settings=chosen), results, a.out, report_path, command))
        return
    if spec.get('prepare') and not a.no_prepare:  # once, before any worker starts (each would train the teacher)
        spec['prepare'](select(spec['settings'], a.only))
    helpers = []
    if a.jobs > 1:
        os.environ.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1) // a.jobs)))
        me = [sys.executable, osp.abspath(__file__), a.spec, '--out', a.out, '--report', report_path,
              '--seeds', *map(str, a.seeds), '--no-prepare']
        me += (['--only', *a.only] if a.only else []) + (['--prune'] if a.prune else [])
        # the workers log to their runs' train.log; their tables would repeat this one
        helpers = [subprocess.Popen(me, stdout=subprocess.DEVNULL) for _ in range(a.jobs - 1)]
    text = run_sweep(spec, a.out, a.seeds, report_path, command, only=a.only, prune=a.prune, prepare=False)
    if helpers:
        failed = [h for h in helpers if h.wait() != 0]
        text = report(spec, collect(out=a.out, settings=spec['settings']), a.out, report_path, command)
        if failed:
            raise SystemExit(f'{len(failed)} sweep worker(s) failed; see the train.log of the unfinished runs')
    print(text)


if __name__ == '__main__':
    main()
