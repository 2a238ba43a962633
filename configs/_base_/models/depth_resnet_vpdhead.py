# mmseg DepthEstimator on a ResNetV1c backbone with mmseg's VPDDepthHead (VPD's own stable-diffusion
# backbone needs weights and packages that are not on PyPI; the head works on any 4-stage backbone).
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         bgr_to_rgb=True, pad_val=0, seg_pad_val=0)
model = dict(
    type='DepthEstimator',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet50_v1c',
    backbone=dict(type='ResNetV1c', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), norm_cfg=norm_cfg,
                  norm_eval=False, style='pytorch', contract_dilation=True),
    decode_head=dict(type='VPDDepthHead', max_depth=10, in_channels=[256, 512, 1024, 2048], embed_dim=64,
                     feature_dim=512, fmap_border=0, loss_decode=dict(type='SiLogLoss')),
    test_cfg=dict(mode='whole'))
