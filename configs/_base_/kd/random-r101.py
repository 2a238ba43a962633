# Teacher: A randomly initialised mmpretrain ResNet-101: no weights, built from a seed.
# One entry on the student's last stage; the projector comes from the distiller (`model.projector`).
teachers = dict(t=dict(config='mmpretrain::resnet/resnet101_8xb32_in1k.py', seed=0))
distill = [
    dict(name='c4', student='backbone[3]', teacher='t:backbone.layer3',
         loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
]
