# The depth quick start's student without distillation: mmseg DepthEstimator, a narrow ResNetV1c-18 (16
# base channels, a quarter of the usual width) with mmseg's VPD depth head shrunk to match, trained from
# scratch on the garment depth scenes (real Fashion-MNIST garments placed at depths of 1-6 m, 64x64).
# Validation: mmseg's DepthMetric (abs_rel, rmse, d1 = delta < 1.25, ...) on the garments' pixels.
_base_ = [
    '../_base_/models/depth_resnet_vpdhead.py',
    '../_base_/datasets/garment_depth.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN in the base; BN runs on one CPU
data_preprocessor = dict(size=(64, 64), mean=[40.0, 40.0, 40.0], std=[60.0, 60.0, 60.0], bgr_to_rgb=True)
model = dict(
    pretrained=None,
    data_preprocessor=data_preprocessor,
    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),
    # the head's GroupNorm needs in_channels[0] and feature_dim = 8 * embed_dim divisible by 16; two deconv
    # layers bring its stride-16 aggregate to stride 4, then it upsamples to the input size
    decode_head=dict(in_channels=[16, 32, 64, 128], embed_dim=16, feature_dim=128, num_deconv_layers=2,
                     num_deconv_filters=(32, 32), max_depth=10))
# Schedule from a measured curve (docs/depth_quickstart.md): 3000 iterations of batch 16 (24 epochs of the
# 2000 training scenes), about 3 CPU-minutes on one core; validation stops improving after ~1500 iterations.
# AdamW reached in 1000 iterations what SGD (lr 0.01, momentum 0.9) had not in 1000.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01))
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=3000, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=3000),
                     logger=dict(type='LoggerHook', interval=100))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
custom_hooks = [dict(type='RandomStateHook')]  # exact --resume
