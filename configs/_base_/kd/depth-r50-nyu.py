# Teacher: An mmseg depth estimator (ResNetV1c-50 + VPD depth head) trained on NYU depth (train it with
# configs/nyu/depth_r50-vpdhead_4xb8-25k_nyu-480x480.py).
# One entry on the student's last stage; the projector comes from the distiller (`model.projector`).
teachers = dict(t=dict(config='mmcrosskd::nyu/depth_r50-vpdhead_4xb8-25k_nyu-480x480.py', checkpoint='checkpoints/depth_r50-vpdhead_nyu.pth'))
distill = [
    dict(name='c4', student='backbone[3]', teacher='t:backbone[3]',
         loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
]
