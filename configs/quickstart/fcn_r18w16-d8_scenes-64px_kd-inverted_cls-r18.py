# The converging quick-start student (fcn_r18w16-d8_scenes-64px.py) distilled from the Fashion-MNIST
# classifier through an inverted projector: teacher layer4 (512 channels) -> student stage 4 (128 channels).
_base_ = ['./fcn_r18w16-d8_scenes-64px.py']
teacher_checkpoint = 'work_dirs/quickstart/teacher/iter_600.pth'
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(cls=dict(config='configs/quickstart/resnet18_fashionmnist-32px_cls.py',
                           checkpoint=teacher_checkpoint)),
    distill=[
        dict(name='c4', student='backbone[3]', teacher='cls:backbone.layer4',
             loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
    ],
    projector='inverted')  # for every entry: `--cfg-options model.projector=traditional` switches them all
# The projector's own learning rate and weight decay (mmengine paramwise_cfg; its parameters are
# `entries.<name>.projector.*`). 1.0 / 1.0: the student's, the default (docs/tuning.md).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'projector': dict(lr_mult=1.0, decay_mult=1.0)}))
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'),
                dict(type='ProjectorSpectrumHook', interval=250)]
