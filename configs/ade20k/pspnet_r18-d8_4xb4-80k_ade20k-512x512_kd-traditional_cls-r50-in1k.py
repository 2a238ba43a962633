# Cross-task KD on ADE20K: a PSPNet-R18 student, an mmpretrain
# ResNet-50 ImageNet classifier as the teacher, traditional projector.
_base_ = ['./pspnet_r18-d8_4xb4-80k_ade20k-512x512.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(cls=dict(config='mmpretrain::resnet/resnet50_8xb32_in1k.py',
                           checkpoint='checkpoints/resnet50_8xb32_in1k.pth')),
    distill=[
        dict(name='c4', student='backbone[3]', teacher='cls:backbone.layer3', projector='traditional',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
