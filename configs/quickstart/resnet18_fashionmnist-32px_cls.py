# The quick start's teacher: an mmpretrain ResNet-18 classifier trained on Fashion-MNIST (another task
# than the student's segmentation).
_base_ = [
    'mmpretrain::_base_/models/resnet18.py',
    '../_base_/datasets/fashion_mnist_cls.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(head=dict(num_classes=10, topk=(1, )))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=False, T_max=600, eta_min=1e-4)
train_cfg = dict(by_epoch=False, max_iters=600, val_interval=600)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=600),
                     logger=dict(type='LoggerHook', interval=50))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
