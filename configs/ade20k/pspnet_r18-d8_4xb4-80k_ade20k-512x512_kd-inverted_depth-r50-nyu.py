# Cross-task KD on ADE20K: the PSPNet-R18 student, an mmseg depth estimator (ResNetV1c-50 + VPD depth head) trained on NYU depth as the teacher,
# inverted projector.
_base_ = ['./pspnet_r18-d8_4xb4-80k_ade20k-512x512.py']
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
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
