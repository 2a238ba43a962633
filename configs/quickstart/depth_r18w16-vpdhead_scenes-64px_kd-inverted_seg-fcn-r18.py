# Cross-task KD into the depth quick-start student from a segmentation teacher (the paper's seg -> depth
# direction): the quick start's FCN-ResNetV1c-18 garment-scene segmentor (configs/quickstart/
# fcn_r18-d8_scenes-64px.py), trained by benchmarks/demo_teacher.py's ensure_seg_teacher() or with
#   python tools/train.py configs/quickstart/fcn_r18-d8_scenes-64px.py --work-dir work_dirs/quickstart/seg_teacher
# Inverted projector: the segmentor's last backbone stage -> the student's last stage.
_base_ = ['./depth_r18w16-vpdhead_scenes-64px.py']
teacher_checkpoint = 'work_dirs/quickstart/seg_teacher/iter_500.pth'
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(t=dict(config='configs/quickstart/fcn_r18-d8_scenes-64px.py', checkpoint=teacher_checkpoint)),
    distill=[
        # student stage 4 (128 ch, 2x2) <- teacher backbone[3] (512 ch, 8x8: dilated, output stride 8),
        # area-pooled to 2x2 (align='pool'); loss as in the random-teacher config
        dict(name='c4', student='backbone[3]', teacher='t:backbone[3]', align='pool',
             loss=dict(type='FeatureL2Loss', loss_weight=10.0, normalize='l2')),
    ],
    projector='inverted')
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'),
                dict(type='ProjectorSpectrumHook', interval=250)]
