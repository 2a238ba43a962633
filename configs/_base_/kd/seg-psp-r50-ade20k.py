# Teacher: An mmseg PSPNet-R50 segmentor trained on ADE20K (OpenMMLab model-zoo weights:
# checkpoint='zoo' takes the ones mmseg's metafile publishes for this config; docs/teachers.md).
# One entry on the student's last stage; the projector comes from the distiller (`model.projector`).
teachers = dict(t=dict(config='mmseg::pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py', checkpoint='zoo'))
distill = [
    dict(name='c4', student='backbone[3]', teacher='t:backbone[3]',
         loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
]
