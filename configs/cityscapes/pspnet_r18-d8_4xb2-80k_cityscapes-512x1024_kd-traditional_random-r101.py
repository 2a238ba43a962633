# Cross-task KD on Cityscapes: the PSPNet-R18 student, a randomly initialised mmpretrain ResNet-101 (no weights: built from a seed) as the teacher,
# traditional projector (switch with model.distill.0.projector=...).
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']
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
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'),
                dict(type='ProjectorSpectrumHook', interval=500)]
