# Cross-task KD for depth estimation on NYU: the DepthEstimator-R18 student, a randomly initialised mmpretrain ResNet-101 (built from a seed, no weights)
# as the teacher, traditional projector.
_base_ = ['./depth_r18-vpdhead_4xb8-25k_nyu-480x480.py']
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
