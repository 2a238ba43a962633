# Fashion-MNIST classification (prepared by tools/prepare_data.py), mmpretrain pipeline, 32x32.
dataset_type = 'FashionMNISTDataset'
data_root = 'data/fashion_mnist/cls'
data_preprocessor = dict(num_classes=10, mean=[72.94, 72.94, 72.94], std=[90.02, 90.02, 90.02], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]
train_dataloader = dict(batch_size=64, num_workers=2, persistent_workers=True,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(batch_size=256, num_workers=2, persistent_workers=True,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
