"""The one check of a distillation loss's weight, and the one way the distiller builds a loss."""
import math

from ..registry import MODELS


def check_loss_weight(weight, owner):
    """Refuse a loss weight that is not a finite number >= 0.

    Every mmcrosskd loss calls this in its constructor, so ``FeatureL2Loss(loss_weight=-1)`` raises however
    the loss is built; :func:`build_loss` also checks the configs of losses registered by users.

    Args:
        weight: the ``loss_weight`` given.
        owner (str): who it belongs to, for the message (a loss class, ``"distill entry 'c4'"``).

    Returns:
        float | int: ``weight``.
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise TypeError(f'{owner}: loss_weight must be a number, got {type(weight).__name__} {weight!r}; '
                        'e.g. loss_weight=1.0')
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f'{owner}: loss_weight must be a finite number >= 0, got {weight!r}: a negative weight '
                         'rewards moving away from the teacher, so the loss diverges. Use a small positive '
                         'weight (0 turns the term off)')
    return weight


def build_loss(cfg, owner):
    """Build a registered loss from its config, after checking the config's form and weight.

    Args:
        cfg (dict): ``dict(type=..., loss_weight=..., ...)``.
        owner (str): who asks, for messages (``"distill entry 'c4'"``).

    Returns:
        nn.Module: the loss.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'{owner}: `loss` must be a loss config dict with `type`, got {cfg!r}')
    if 'loss_weight' in cfg:
        check_loss_weight(cfg['loss_weight'], owner)
    return MODELS.build(cfg)
