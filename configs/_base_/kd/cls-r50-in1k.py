# Teacher: An mmpretrain ResNet-50 ImageNet classifier (OpenMMLab model-zoo weights:
# checkpoint='zoo' takes the ones mmpretrain's metafile publishes for this config; docs/teachers.md).
# One entry on the student's last stage; the projector comes from the distiller (`model.projector`).
teachers = dict(t=dict(config='mmpretrain::resnet/resnet50_8xb32_in1k.py', checkpoint='zoo'))
distill = [
    dict(name='c4', student='backbone[3]', teacher='t:backbone.layer3',
         loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
]
