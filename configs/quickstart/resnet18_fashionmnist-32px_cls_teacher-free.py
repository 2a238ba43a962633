# A Fashion-MNIST classification student with the teacher-free spectral regulariser (no teacher).
_base_ = ['./resnet18_fashionmnist-32px_cls.py']
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    distill=[
        dict(name='tail', student='backbone.layer4',
             loss=dict(type='SpectralTailLoss', energy=0.9, normalized=True, loss_weight=0.1)),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
