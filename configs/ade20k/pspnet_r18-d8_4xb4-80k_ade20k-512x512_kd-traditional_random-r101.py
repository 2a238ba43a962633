# Cross-task KD on ADE20K: the PSPNet-R18 student, a randomly initialised mmpretrain ResNet-101 (built from a seed, no weights) as the teacher,
# traditional projector.
_base_ = ['./pspnet_r18-d8_4xb4-80k_ade20k-512x512.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(t=dict(config='mmpretrain::resnet/resnet101_8xb32_in1k.py', seed=0)),
    distill=[
        dict(name='c4', student='backbone[3]', teacher='t:backbone.layer3', projector='traditional',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
