# The tiny mmpretrain ResNet-18 with the teacher-free spectral regulariser: no teacher at all.
_base_ = './cls_resnet18_tiny.py'
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    distill=[dict(name='tail', student='backbone[0]', loss=dict(type='SpectralTailLoss', k=8, loss_weight=0.1))])
