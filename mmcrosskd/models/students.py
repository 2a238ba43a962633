"""What a student needs: a task loss of its own, computed from images and their labels.

A headless model (a backbone built as an ``ImageClassifier`` without ``head``, as mmpretrain's DINOv2,
SAM and GLIP ``*_headless.py`` configs do), a self-supervised algorithm (trained on augmented views) or a
retriever can be a teacher, but not a student: :func:`check_student` refuses it at build, saying what it
lacks and which config key gives it.
"""

_CLS_HEAD = ("head=dict(type='LinearClsHead', num_classes=<classes>, in_channels=<channels of the backbone's last "
             "output>, loss=dict(type='CrossEntropyLoss'))")


class NotAStudent(ValueError):
    """The model cannot be trained as a student."""


def check_student(model):
    """Raise :class:`NotAStudent` when ``model`` has no task loss to train on labelled images.

    Args:
        model (nn.Module): the built student.
    """
    name = type(model).__name__
    kind = type(model).__module__
    if kind.startswith('mmpretrain.models.selfsup'):
        raise NotAStudent(
            f'the student {name} is a self-supervised algorithm: it trains on augmented views without labels, '
            'not on labelled images, so it has no task loss for a distillation step. Distil into a task model '
            "built on the same backbone: model.student=dict(type='ImageClassifier', backbone=<its backbone>, "
            f"neck=dict(type='GlobalAveragePooling'), {_CLS_HEAD}) (or an mmseg segmentor), or use {name} as a "
            'teacher')
    if kind.startswith('mmpretrain.models.retrievers'):
        raise NotAStudent(
            f'the student {name} is a retriever: it has no task loss on labelled images. Distil into its '
            "classifier instead: model.student=dict(type='ImageClassifier', backbone=..., neck=..., "
            f'{_CLS_HEAD}), or use {name} as a teacher')
    if not callable(getattr(model, 'loss', None)):
        raise NotAStudent(f'the student {name} has no `loss` method: a student must be an OpenMMLab task model '
                          '(an mmseg segmentor, an mmpretrain classifier...) that computes its own loss from images '
                          'and labels; a bare backbone can only be a teacher')
    if hasattr(model, 'head') and getattr(model, 'head') is None and getattr(model, 'decode_head', None) is None:
        raise NotAStudent(
            f'the student {name} has no head (its config sets none, as the headless DINOv2 / SAM / GLIP configs '
            f'do), so it has no task loss to train. Add one to the student\'s model config: {_CLS_HEAD} (for a '
            'segmentation student use an mmseg segmentor with decode_head), or use the model as a teacher')
