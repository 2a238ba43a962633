# Cross-task KD on Cityscapes: the PSPNet-R18 student, an mmpretrain ResNet-50 ImageNet classifier as the teacher,
# inverted projector (switch with model.distill.0.projector=...).
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(t=dict(config='mmpretrain::resnet/resnet50_8xb32_in1k.py', checkpoint='checkpoints/resnet50_8xb32_in1k.pth')),
    distill=[
        dict(name='c4', student='backbone[3]', teacher='t:backbone.layer3', projector='inverted',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'),
                dict(type='ProjectorSpectrumHook', interval=500)]
