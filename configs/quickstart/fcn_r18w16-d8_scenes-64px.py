# The converging quick-start student: the quick start's FCN on ResNetV1c-18 at a quarter of the width
# (stages of 16/32/64/128 channels), batch 16, trained until its validation mIoU plateaus
# (docs/results.md measures the curve). Small enough to repeat over seeds on 2 CPU cores, so the
# distillation settings of the paper can be compared on a converged student (benchmarks/sweeps/seg_converged.py).
_base_ = ['./fcn_r18-d8_scenes-64px.py']
iters = 2000
model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    decode_head=dict(in_channels=128, channels=32))
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=iters))
train_dataloader = dict(batch_size=16)
