# The depth-estimation student without distillation: DepthEstimator, ResNetV1c-18 + VPD depth head, NYU.
_base_ = ['./depth_r50-vpdhead_4xb8-25k_nyu-480x480.py']
model = dict(
    pretrained='open-mmlab://resnet18_v1c',
    backbone=dict(depth=18),
    decode_head=dict(in_channels=[64, 128, 256, 512], embed_dim=16, feature_dim=128))
