# The ADE20K student without distillation: mmseg's PSPNet ADE20K config with a ResNetV1c-18 backbone
# (mmseg ships R18 PSPNet configs for Cityscapes, not for ADE20K).
_base_ = ['mmseg::pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py']
model = dict(
    pretrained='open-mmlab://resnet18_v1c',
    backbone=dict(depth=18),
    decode_head=dict(in_channels=512, channels=128),
    auxiliary_head=dict(in_channels=256, channels=64))
