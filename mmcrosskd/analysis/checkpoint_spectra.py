"""Projector matrices and their spectra, read from CrossTaskDistiller training checkpoints."""
from ..utils.checkpoint import read_checkpoint
from ..utils.distiller_state import projector_weights
from .decomposition import spectrum_stats


def projector_matrices(path):
    """The projectors of a checkpoint as matrices.

    Args:
        path (str): a ``CrossTaskDistiller`` training checkpoint.

    Returns:
        tuple[dict, int | None]: ``{entry name: (out, in) matrix}`` (a rank-limited projector's two
        factors multiplied) and the checkpoint's iteration.
    """
    ckpt = read_checkpoint(path, 'projector spectra')
    state = ckpt.get('state_dict', ckpt)
    layers = {name: {layer: w.reshape(w.shape[0], -1) for layer, w in found.items()}
              for name, found in projector_weights(state).items()}
    if not layers:
        raise KeyError(f'{path!r} has no projector weights (entries.<name>.projector.proj.weight): is it a '
                       'CrossTaskDistiller checkpoint with a projector entry?')
    found = {name: (w['proj'] @ w['reduce'] if 'reduce' in w else w['proj']) for name, w in layers.items()}
    return found, ckpt.get('meta', {}).get('iter')


def spectrum_summary(matrix):
    """JSON-ready spectrum statistics of one projector (see :func:`spectrum_stats`)."""
    st = spectrum_stats(matrix)
    summary = {k: (float(v) if isinstance(v, float) else v) for k, v in st.items() if k != 'singular_values'}
    summary['shape'] = list(matrix.shape)
    summary['top_singular_values'] = [round(v, 6) for v in st['singular_values'][:5].tolist()]
    return summary
