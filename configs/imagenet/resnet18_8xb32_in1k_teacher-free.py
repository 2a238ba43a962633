# ImageNet classification with the teacher-free spectral regulariser on the last stage (no teacher).
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    distill=[
        dict(name='tail', student='backbone.layer4',
             loss=dict(type='SpectralTailLoss', energy=0.9, normalized=True, loss_weight=0.1)),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
