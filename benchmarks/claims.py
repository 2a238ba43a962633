"""docs/results.md from the committed sweep results: the paper's claims, our measurement, a verdict.

    .venv/bin/python benchmarks/claims.py            # reads benchmarks/results/*/.../result.json, trains nothing

Each claim compares two settings of one sweep (tracked under ``benchmarks/results/<sweep>/``): the gain of
``a`` over ``b`` (for an error metric such as depth's ``abs_rel``, b minus a, so a positive gain is always an
improvement) with its standard error ``sqrt(s_a^2/n_a + s_b^2/n_b)``. Verdict: *reproduced* when the gain is
positive by at least 2 standard errors, *reversed* when it is negative by at least 2, *not reproduced* in
between (the effect, if any, is smaller than this measurement resolves), *not run yet* without seeds.
The mechanism table reads the projectors' spectra that every KD run records (first and last logged values
of the ``ProjectorSpectrumHook``). The figure compares the singular values over training of the best
inverted run and its traditional twin.
"""
import argparse
import glob
import json
import math
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS = osp.join(ROOT, 'benchmarks', 'results')

# (sweep folder, metric, higher is better, label)
SWEEPS = dict(
    seg=('seg_converged', 'mIoU', True, 'segmentation, mIoU'),
    depth=('depth_converged', 'abs_rel', False, 'depth, abs rel'),
)
# (claim, its figure in the paper, task, a, b)
CLAIMS = [
    ('Inverted beats traditional projector with a teacher of another task', 'up to +1.9%',
     [('seg', 'inv_cls', 'trad_cls'), ('depth', 'inv_cls', 'trad_cls'), ('depth', 'inv_seg', 'trad_seg')]),
    ('A randomly initialised teacher helps (inverted projector)', 'up to +7% (depth, translation, seg)',
     [('seg', 'inv_random', 'no_distillation'), ('depth', 'inv_random', 'no_distillation')]),
    ('With a random teacher, inverted beats traditional', '(implied)',
     [('seg', 'inv_random', 'trad_random'), ('depth', 'inv_random', 'trad_random')]),
    ('A teacher of another task helps through the inverted projector', 'gains over the student',
     [('seg', 'inv_cls', 'no_distillation'), ('depth', 'inv_cls', 'no_distillation'),
      ('depth', 'inv_seg', 'no_distillation')]),
    ("The authors' log-L4 recipe (BN-standardised features, log of the summed 4th powers) helps", '(their 2024 projector study)',
     [('seg', 'inv_cls_logl4', 'no_distillation'), ('seg', 'inv_cls_logl4', 'inv_cls'),
      ('seg', 'inv_random_logl4', 'no_distillation')]),
    ('The spectral-regularisation half acts once rank(P) < C_s (rank-16 projector)', '(the decomposition)',
     [('seg', 'inv_random_rank16', 'no_distillation'), ('seg', 'inv_random_rank16', 'inv_random'),
      ('seg', 'inv_cls_rank16', 'inv_cls')]),
    ('A projector that learns faster (lr x10) helps', '(our hypothesis 1)',
     [('seg', 'inv_cls_lr10', 'inv_cls')]),
    ('The teacher-free spectral regulariser helps', '+2.3% ImageNet (v2 abstract)',
     [('seg', 'teacher_free', 'no_distillation')]),
]


def load(sweep):
    """``{setting: [result dicts]}`` of one sweep folder."""
    out = {}
    for f in sorted(glob.glob(osp.join(RESULTS, sweep, '*', 'seed*', 'result.json'))):
        with open(f) as fh:
            r = json.load(fh)
        if r.get('value') is not None:
            out.setdefault(r['setting'], []).append(r)
    return out


def mean_std(values):
    n = len(values)
    m = sum(values) / n
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else float('nan')
    return m, s, n


def compare(rows, a, b, higher):
    """Gain of a over b (+ = better), its standard error, and the two n."""
    va = [r['value'] for r in rows.get(a, [])]
    vb = [r['value'] for r in rows.get(b, [])]
    if not va or not vb:
        return None
    (ma, sa, na), (mb, sb, nb) = mean_std(va), mean_std(vb)
    gain = (ma - mb) if higher else (mb - ma)
    se = math.sqrt((sa ** 2 / na if na > 1 else 0) + (sb ** 2 / nb if nb > 1 else 0))
    return gain, se, na, nb


def verdict(cmp):
    if cmp is None:
        return 'not run yet'
    gain, se, na, nb = cmp
    if min(na, nb) < 2:
        return 'open (1 seed)'
    if gain >= 2 * se and gain > 0:
        return '**reproduced**'
    if gain <= -2 * se and gain < 0:
        return '**reversed**'
    return 'not reproduced'


def fmt(x, digits):
    return f'{x:+.{digits}f}'


def claim_table(data):
    lines = ['| paper\'s claim | paper | our setting (task: a vs b) | measured gain +- s.e. (n_a, n_b) | verdict |',
             '|---|---|---|---|---|']
    for claim, paper, tests in CLAIMS:
        for i, (task, a, b) in enumerate(tests):
            _, metric, higher, label = SWEEPS[task]
            cmp = compare(data[task], a, b, higher)
            digits = 2 if higher else 4
            measured = '' if cmp is None else f'{fmt(cmp[0], digits)} +- {cmp[1]:.{digits}f} ({cmp[2]}, {cmp[3]})'
            lines.append(f"| {claim if i == 0 else ''} | {paper if i == 0 else ''} | {label}: `{a}` vs `{b}` | "
                         f'{measured} | {verdict(cmp)} |')
    return '\n'.join(lines)


def settings_table(data, task):
    sweep, metric, higher, label = SWEEPS[task]
    rows = data[task]
    if not rows:
        return f'(no {label} runs yet)'
    digits = 2 if higher else 4
    lines = [f'| setting | {metric} mean +- std | n | seeds |', '|---|---|---|---|']
    for name, rs in rows.items():
        m, s, n = mean_std([r['value'] for r in rs])
        seeds = ', '.join(f"{r['value']:.{digits}f}" for r in rs)
        lines.append(f'| `{name}` | {m:.{digits}f} +- {s:.{digits}f} | {n} | {seeds} |')
    return '\n'.join(lines)


def _avg(rs, entry, when, key):
    vals = [r['projectors'][entry][when][key] for r in rs
            if entry in r.get('projectors', {}) and key in r['projectors'][entry].get(when, {})]
    return (sum(vals) / len(vals), len(vals)) if vals else (None, 0)


def mechanism_table(data):
    """Per KD setting with a projector: how its spectrum moved, and how large the SR half was."""
    lines = ['| task | setting | P (out x in) | effective rank first -> last | rank90 first -> last | '
             'spread (sv_max/sv_min) first -> last | SR / total (exact, last) | student energy outside P\'s '
             '90% directions (soft SR, last) |',
             '|---|---|---|---|---|---|---|---|']
    for task in SWEEPS:
        for name, rs in data[task].items():
            entries = sorted({e for r in rs for e in r.get('projectors', {})})
            for entry in entries:
                shape = next((r['projectors'][entry]['final']['shape'] for r in rs
                              if 'final' in r['projectors'].get(entry, {})), None)
                cells = []
                for key in ('effective_rank', 'rank90', 'spread'):
                    (f, _), (l, n) = _avg(rs, entry, 'first_logged', key), _avg(rs, entry, 'last_logged', key)
                    cells.append('' if f is None or l is None else f'{f:.1f} -> {l:.1f}')
                sr, _ = _avg(rs, entry, 'last_logged', 'sr_fraction')
                soft, _ = _avg(rs, entry, 'last_logged', 'sr_soft90')
                lines.append(f"| {task} | `{name}` | {'' if shape is None else f'{shape[0]} x {shape[1]}'} | "
                             + ' | '.join(cells) + f" | {'' if sr is None else f'{sr:.3g}'} | "
                             f"{'' if soft is None else f'{soft:.3g}'} |")
    return '\n'.join(lines)


def best_pair_figure(data, path):
    """Singular values over training: the best inverted seg run vs its traditional twin (same seed)."""
    sys.path.insert(0, ROOT)
    from mmcrosskd.analysis.plot import plot_spectra
    rows = data['seg']
    candidates = [(r['value'], r) for name, rs in rows.items() if name.startswith('inv_') for r in rs
                  if any('singular_values' in p for p in r.get('projectors', {}).values())]
    if not candidates:
        return None
    _, best = max(candidates, key=lambda x: x[0])
    twin_name = 'trad_' + best['setting'][len('inv_'):]
    twin = next((r for r in rows.get(twin_name, []) if r['seed'] == best['seed']), None)
    histories = {}
    for r in (best, twin):
        if r is None:
            continue
        for entry, p in r['projectors'].items():
            if 'singular_values' in p:
                histories[f"{r['setting']} seed {r['seed']} ({r['value']:.2f} mIoU)"] = p['singular_values']
    plot_spectra(histories, path, title='projector singular values over training: best inverted vs traditional')
    return best, twin


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=osp.join(ROOT, 'docs', 'results.md'))
    a = p.parse_args(argv)
    data = {task: load(sweep) for task, (sweep, *_rest) in SWEEPS.items()}
    fig = osp.join(osp.dirname(a.out), 'results_spectrum.png')
    pair = best_pair_figure(data, fig)
    text = [HEADER, '## The claims', '', claim_table(data), '', '## Every setting', '']
    for task, (sweep, metric, higher, label) in SWEEPS.items():
        text += [f'### {label} (`benchmarks/results/{sweep}/`)', '', settings_table(data, task), '']
    text += ['## The mechanism: what the projectors did', '', mechanism_table(data), '']
    if pair:
        best, twin = pair
        text += [f"![spectra]({osp.basename(fig)})", '',
                 f"Best inverted run: `{best['setting']}` seed {best['seed']} ({best['value']:.2f} mIoU); "
                 + (f"its traditional twin `{twin['setting']}` ({twin['value']:.2f})." if twin else 'no twin run.'), '']
    with open(a.out, 'w') as f:
        f.write('\n'.join(text))
    print('\n'.join(text))


HEADER = '''# Results: the paper's claims, measured

Generated by `.venv/bin/python benchmarks/claims.py` from the `result.json` of every finished run under
`benchmarks/results/` (tracked in git; the sweeps that produced them are `benchmarks/sweeps/seg_converged.py`
and `benchmarks/sweeps/depth_converged.py`, run through `benchmarks/sweep.py`, resumable). Gains are
a minus b for mIoU and b minus a for abs rel, so positive is always better; the standard error is that of a
difference of two independent means. See docs/tuning.md for the earlier 500-iteration quick-start tables.
'''

if __name__ == '__main__':
    main()
