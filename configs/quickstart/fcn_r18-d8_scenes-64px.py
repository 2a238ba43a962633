# The quick start's student without distillation: mmseg FCN on ResNetV1c-18 (dilated, output
# stride 8), trained from scratch on the garment scenes.
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py',
    '../_base_/datasets/garment_scenes.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN in mmseg's base; BN runs on one CPU
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(64, 64), mean=[40.0, 40.0, 40.0], std=[60.0, 60.0, 60.0]),
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=512, channels=128, num_convs=1, concat_input=False, num_classes=11,
                     norm_cfg=norm_cfg),
    auxiliary_head=None)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=500, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=500, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500),
                     logger=dict(type='LoggerHook', interval=50))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
train_dataloader = dict(batch_size=8)
custom_hooks = [dict(type='RandomStateHook')]  # exact --resume
