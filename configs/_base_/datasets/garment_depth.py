# Depth scenes (real Fashion-MNIST garments at random depths, perspective and occlusion, 64x64;
# tools/prepare_data.py writes them to data/fashion_mnist/depth in mmseg's NYU layout), read by mmseg's
# own NYUDataset, LoadDepthAnnotation and DepthMetric. Depth PNGs hold millimetres, as NYU's do.
dataset_type = 'NYUDataset'
data_root = 'data/fashion_mnist/depth'
far_depth = 8.0  # metres: the background plane (mmcrosskd.datasets.garment_depth.FAR_DEPTH)
meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, img_suffix='.png',
                 data_prefix=dict(img_path='images/train', depth_map_path='annotations/train'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, img_suffix='.png', test_mode=True,
                 data_prefix=dict(img_path='images/test', depth_map_path='annotations/test'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
# The metrics score the garments: pixels of the far plane (exactly far_depth, a constant any student learns
# at once) are left out, as NYU's evaluation leaves out pixels outside its depth range. Garments lie in 1-6 m.
val_evaluator = dict(type='DepthMetric', min_depth_eval=0.5, max_depth_eval=far_depth - 1.0)
test_evaluator = val_evaluator
