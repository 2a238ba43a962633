"""Plot projector singular-value spectra (matplotlib, imported only when drawing)."""
import textwrap

# characters of a panel title per line: a 5-inch panel holds about this many at font size 9
_TITLE_WIDTH = 48


def panel_title(name, count, first, last):
    """A panel's title, wrapped so that it stays inside its 5-inch panel: the entry's name (on as many lines
    as it needs), then its size and the iterations drawn."""
    return '\n'.join(textwrap.wrap(name, _TITLE_WIDTH) + [f'{count} singular values, iters {first}..{last}'])


def plot_spectra(histories, path, title='projector singular values'):
    """Draw one panel per projector: its normalised singular values at each logged step.

    Args:
        histories (dict[str, list[tuple[int, array]]]): per entry, ``(step, singular values)`` pairs.
        path (str): the PNG to write.
        title (str): the figure title.

    Returns:
        str: ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    names = [n for n in histories if histories[n]]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5 * max(1, len(names)), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        hist = histories[name]
        steps = [h[0] for h in hist]
        cmap = plt.get_cmap('viridis')
        for i, (step, sv) in enumerate(hist):
            sv = np.sort(np.asarray(sv, dtype=float))[::-1]
            frac = i / max(1, len(hist) - 1)
            ax.semilogy(np.arange(1, len(sv) + 1), sv / max(sv[0], 1e-30), color=cmap(frac), lw=1.2,
                        label=f'iter {step}' if i in (0, len(hist) - 1) else None)
        ax.set_title(panel_title(name, len(hist[-1][1]), steps[0], steps[-1]), fontsize=9)
        ax.set_xlabel('index')
        ax.set_ylabel('singular value / largest')
        ax.set_ylim(bottom=1e-4)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
