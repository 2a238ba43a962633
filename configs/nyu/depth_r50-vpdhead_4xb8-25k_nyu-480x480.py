# A depth-estimation model on NYU: mmseg DepthEstimator, ResNetV1c-50 + VPD depth head. Trained, it is the
# cross-task (depth) teacher of the Cityscapes configs.
_base_ = [
    '../_base_/models/depth_resnet_vpdhead.py', 'mmseg::_base_/datasets/nyu.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_25k.py'
]
crop_size = (480, 480)
model = dict(data_preprocessor=dict(size=crop_size))
default_hooks = dict(checkpoint=dict(save_best='rmse', rule='less', max_keep_ckpts=1))
