"""List every module path of a model that a distill entry can tap, with its output shape and layout.

    python tools/list_taps.py CONFIG [--size H W] [--match TEXT] [--cfg-options k=v ...]

CONFIG is any mmseg / mmpretrain / mmdet config (a file or ``mmseg::...``), or a mmcrosskd KD config:
then the student and every teacher are listed, teacher paths as ``<teacher>:<path>``, exactly as a
distill entry's ``student=`` / ``teacher=`` takes them. One dry run per model on random images of
``--size`` (default 64 x 64, the distiller's own dry-run size; teachers with ``input_size`` use theirs).
Models are randomly initialised: shapes do not depend on the weights, so no checkpoint is read.

The stage outputs come first: what the top-level modules return (``backbone``, ``backbone[i]``, ``neck``,
``decode_head``...); start from ``backbone[-1]``. Then every module inside them, in the order they ran.
Attention probabilities (B, heads, N, N) are listed as ``attention``: they are not a feature map to distil.

Only modules that run when the model is called on images alone (``mode='tensor'``: no labels, no
loss-only heads such as mmseg's auxiliary head) can be tapped; that is the forward listed here. A
``tuple of N`` row needs an index: tap one of the ``path[i]`` rows under it. A module's input is
tapped with ``dict(path=..., io='input')``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone, too

import mmcrosskd  # noqa: E402,F401  (registers modules; torchvision guard)
from mmcrosskd.runner_utils import DictAction, load_config  # noqa: E402


def _student_spec(cfg):
    """The model config and scope of a plain config's model or of a KD config's student."""
    from mmcrosskd.utils.config import load_model_spec
    model = cfg.model
    is_kd = model.get('type') == 'CrossTaskDistiller'
    spec, scope = load_model_spec(model.student if is_kd else model, None)
    # As the Runner does: a top-level data_preprocessor (mmpretrain configs) belongs to the model.
    if spec.get('data_preprocessor') is None and cfg.get('data_preprocessor') is not None:
        spec['data_preprocessor'] = cfg.data_preprocessor
    return spec, scope or cfg.get('default_scope'), is_kd


def list_taps(cfg, size=(64, 64)):
    """Dry-run the models of a config and describe their tappable outputs.

    Args:
        cfg (mmengine.Config): a loaded config (see :func:`mmcrosskd.runner_utils.load_config`).
        size (tuple[int, int]): the (H, W) of the random input images.

    Returns:
        list[dict]: one section per model: ``dict(title=..., prefix=..., input=shape, rows=[...],
        error=Exception | None)``; rows as :func:`mmcrosskd.models.taps.tappable_outputs` gives them,
        their ``tap`` already written as a distill entry takes it (``prefix`` is ``'<teacher>:'``).
    """
    import torch
    from mmengine.registry import DefaultScope

    from mmcrosskd.models.channels import input_channels
    from mmcrosskd.models.taps import images_only_forward, tappable_outputs
    from mmcrosskd.models.teacher import FrozenTeacher
    from mmcrosskd.utils.config import build_model_from_spec

    sections = []

    def add(title, prefix, model, inputs):
        rows, error = tappable_outputs(model, lambda: images_only_forward(model, inputs), owner=title)
        rows = stages_first(rows)
        for r in rows:
            r['tap'] = prefix + r['tap']
        sections.append(dict(title=title, prefix=prefix, input=tuple(inputs.shape), rows=rows, error=error))

    spec, scope, is_kd = _student_spec(cfg)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        student, scope = build_model_from_spec(spec, scope)
        student.train()  # as the distiller reads a student's taps (DDRNet's backbone differs in eval mode)
        channels = input_channels(student)  # e.g. 1 for LeNet on MNIST
        # two images: BatchNorm in training mode needs more than one value per channel
        x = torch.randn(2, channels, *size, generator=torch.Generator().manual_seed(0))
        add(f'student ({scope}: {type(student).__name__})' if is_kd else f'{scope}: {type(student).__name__}',
            '', student, x)
        if is_kd:
            for name, opts in (cfg.model.get('teachers') or {}).items():
                # Shapes do not depend on the weights: build the teacher from its seed.
                opts = {k: v for k, v in dict(opts).items() if k != 'checkpoint'}
                teacher = FrozenTeacher(name, **opts)
                teacher.match_student_normalization(getattr(student, 'data_preprocessor', None), channels)
                add(f"teacher '{name}' ({teacher.scope}: {type(teacher.model).__name__})", f'{name}:',
                    teacher.model, teacher.prepare_inputs(x))
    return sections


def is_stage_output(tap):
    """Whether a tap reads what a top-level module (``backbone``, ``neck``, a head) returns."""
    return '.' not in tap.split('[', 1)[0]


def stages_first(rows):
    """The rows of the top-level modules' outputs first (in run order), then the rest (in run order)."""
    return [r for r in rows if is_stage_output(r['tap'])] + [r for r in rows if not is_stage_output(r['tap'])]


def format_sections(sections, match=None):
    """The text table printed by the tool."""
    lines = []
    for sec in sections:
        rows = [r for r in sec['rows'] if match is None or match in r['tap']]
        lines.append(f"== {sec['title']}, input {sec['input']}")
        width = max([len(r['tap']) for r in rows] + [3])
        lines.append(f"{'tap':<{width}}  {'layout':<12}  shape")
        prefix = sec.get('prefix', '')
        for i, r in enumerate(rows):
            if i == 0 and is_stage_output(r['tap'][len(prefix):]):
                lines.append('-- stage outputs (start from backbone[-1]) --')
            if i > 0 and is_stage_output(rows[i - 1]['tap'][len(prefix):]) and not is_stage_output(
                    r['tap'][len(prefix):]):
                lines.append('-- inside them --')
            shape = '' if r['shape'] is None else str(r['shape'])
            calls = '' if r['calls'] == 1 else f"  (runs {r['calls']}x: a truncated teacher reads the first call)"
            lines.append(f"{r['tap']:<{width}}  {r['layout']:<12}  {shape}{calls}")
        if sec['error'] is not None:
            err = sec['error']
            lines.append(f"(the images-only forward stopped early with {type(err).__name__}: {err}; the modules "
                         'listed ran before that point, later ones cannot be tapped)')
        lines.append('')
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description='List the tappable module paths of a config\'s model(s)')
    p.add_argument('config', help='config file, or mmseg::... / mmpretrain::... / mmdet::...')
    p.add_argument('--size', nargs=2, type=int, default=(64, 64), metavar=('H', 'W'),
                   help='input image size of the dry run (default 64 64)')
    p.add_argument('--match', help='only list taps whose path contains this text')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    a = p.parse_args(argv)
    cfg = load_config(a.config, a.cfg_options)
    sections = list_taps(cfg, tuple(a.size))
    print(format_sections(sections, a.match))
    return sections


if __name__ == '__main__':
    main()
