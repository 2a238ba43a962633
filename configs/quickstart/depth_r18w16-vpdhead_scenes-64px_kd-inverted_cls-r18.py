# Cross-task KD into the depth quick-start student from the Fashion-MNIST classifier (another task: the
# quick start's teacher, configs/quickstart/resnet18_fashionmnist-32px_cls.py; `python tools/demo.py` or
# benchmarks/demo_teacher.py trains it). Inverted projector: teacher layer4 -> student's last stage.
_base_ = ['./depth_r18w16-vpdhead_scenes-64px.py']
teacher_checkpoint = 'work_dirs/quickstart/teacher/iter_600.pth'
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(t=dict(config='configs/quickstart/resnet18_fashionmnist-32px_cls.py',
                         checkpoint=teacher_checkpoint)),
    distill=[
        # as the random-teacher config: student stage 4 (128 ch, 2x2) <- teacher layer4 (512 ch, 2x2)
        dict(name='c4', student='backbone[3]', teacher='t:backbone.layer4',
             loss=dict(type='FeatureL2Loss', loss_weight=10.0, normalize='l2')),
    ],
    projector='inverted')
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'),
                dict(type='ProjectorSpectrumHook', interval=250)]
