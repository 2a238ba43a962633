# DIST (Huang et al. 2022) - SAME TASK ONLY: the teacher is a segmentor predicting the same 11 scene
# classes (train it with configs/quickstart/fcn_r18-d8_scenes-64px.py and set its checkpoint).
_base_ = ['../quickstart/fcn_r18-d8_scenes-64px.py']
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(seg=dict(config='mmcrosskd::quickstart/fcn_r18-d8_scenes-64px.py',
                           checkpoint='work_dirs/quickstart/student_plain/iter_500.pth')),
    distill=[
        dict(name='dist', student='decode_head.conv_seg', teacher='seg:decode_head.conv_seg', projector='identity',
             same_task=True, loss=dict(type='DISTLoss', beta=1.0, gamma=1.0, tau=1.0, loss_weight=1.0)),
    ],
    # Same-task logit distillation is meant to weigh as much as the task loss; the distiller's size check
    # (max_kd_ratio) was set from feature terms (docs/tuning.md).
    max_kd_ratio=None)
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
