# Cross-task KD on Cityscapes: the PSPNet-R18 student, an mmseg depth estimator (ResNetV1c-50 + VPD depth head) trained on NYU depth as the teacher,
# inverted projector (switch with model.distill.0.projector=...).
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(t=dict(config='configs/nyu/depth_r50-vpdhead_4xb8-25k_nyu-480x480.py', checkpoint='checkpoints/depth_r50-vpdhead_nyu.pth')),
    distill=[
        dict(name='c4', student='backbone[3]', teacher='t:backbone[3]', projector='inverted',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'),
                dict(type='ProjectorSpectrumHook', interval=500)]
