# Cross-task KD for depth estimation on NYU: the DepthEstimator-R18 student, an mmseg PSPNet-R50 segmentor trained on ADE20K
# as the teacher, traditional projector.
_base_ = ['./depth_r18-vpdhead_4xb8-25k_nyu-480x480.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(t=dict(config='mmseg::pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py', checkpoint='checkpoints/pspnet_r50-d8_512x512_80k_ade20k.pth')),
    distill=[
        dict(name='c4', student='backbone[3]', teacher='t:backbone[3]', projector='traditional',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
