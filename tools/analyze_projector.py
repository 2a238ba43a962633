"""Spectra of the projectors saved in CrossTaskDistiller checkpoints.

    python tools/analyze_projector.py CHECKPOINT [CHECKPOINT ...] [--out spectrum.png]

Prints, per projector entry of the last checkpoint: its matrix shape, numerical rank, effective rank
(entropy), the ranks holding 90% / 99% of the energy, and its largest singular values; draws the singular
values of every given checkpoint (e.g. iter_1000.pth iter_2000.pth ...) into one PNG, to show the
projector dropping teacher directions over training. (The KT/SR split of the loss needs features: the
``ProjectorSpectrumHook`` logs it during training.)
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcrosskd  # noqa: E402,F401  (checkpoint allow-list)
from mmcrosskd.analysis import spectrum_stats  # noqa: E402
from mmcrosskd.analysis.checkpoint_spectra import projector_matrices  # noqa: E402
from mmcrosskd.analysis.plot import plot_spectra  # noqa: E402


def table(matrices):
    rows = ['| entry | matrix (out x in) | rank | effective rank | rank 90% | rank 99% | top singular values |',
            '|---|---|---|---|---|---|---|']
    for name, w in matrices.items():
        st = spectrum_stats(w)
        top = ', '.join(f'{v:.3g}' for v in st['singular_values'][:5].tolist())
        rows.append(f"| {name} | {w.shape[0]} x {w.shape[1]} | {st['rank']} | {st['effective_rank']:.1f} | "
                    f"{st['rank90']} | {st['rank99']} | {top} |")
    return '\n'.join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description='Spectra of CrossTaskDistiller projectors')
    p.add_argument('checkpoints', nargs='+')
    p.add_argument('--out', default=None, help='PNG path (default: next to the last checkpoint)')
    a = p.parse_args(argv)
    histories = {}
    for i, path in enumerate(a.checkpoints):
        matrices, it = projector_matrices(path)
        for name, w in matrices.items():
            histories.setdefault(name, []).append((it if it is not None else i, spectrum_stats(w)['singular_values'].numpy()))
    print(table(matrices))
    out = a.out or osp.join(osp.dirname(osp.abspath(a.checkpoints[-1])), 'projector_spectrum_analysis.png')
    plot_spectra(histories, out, title=f'projector singular values ({len(a.checkpoints)} checkpoint(s))')
    print(f'plot: {out}')
    return out


if __name__ == '__main__':
    main()
