# A plain mmseg config (no mmcrosskd type in it) used by the tests: FCN on ResNetV1c-18, tiny data.
_base_ = ['mmseg::_base_/models/fcn_r50-d8.py', 'mmseg::_base_/default_runtime.py']
norm_cfg = dict(type='BN', requires_grad=True)
data_root = 'data/tiny_seg'  # the tests pass the real path with --cfg-options
crop_size = (64, 64)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=512, channels=32, num_convs=1, concat_input=False, num_classes=3,
                     norm_cfg=norm_cfg),
    auxiliary_head=None)
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
metainfo = dict(classes=('bg', 'square', 'disk'), palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0]])


def _dataset(split):
    return dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.png',
                seg_map_suffix='.png', pipeline=pipeline,
                data_prefix=dict(img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'))


train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=_dataset('train'))
val_dataloader = dict(batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=_dataset('val'))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
                     logger=dict(type='LoggerHook', interval=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
