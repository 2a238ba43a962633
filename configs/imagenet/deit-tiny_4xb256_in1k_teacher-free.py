# DeiT-tiny on ImageNet with the teacher-free spectral regulariser on the tokens of the last block.
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    distill=[
        dict(name='tail', student='backbone.layers.11',
             loss=dict(type='SpectralTailLoss', energy=0.9, normalized=True, loss_weight=0.1)),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
