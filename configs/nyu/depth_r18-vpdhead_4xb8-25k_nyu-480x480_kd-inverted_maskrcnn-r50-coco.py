# The paper's Figure 1 setting: an instance-segmentation teacher (mmdet Mask R-CNN R50-FPN, COCO) distilled into a
# monocular-depth student (DepthEstimator-R18, NYU) through an inverted projector. Needs mmdet (`MMDET=1 make install`).
_base_ = ['./depth_r18-vpdhead_4xb8-25k_nyu-480x480.py', '../_base_/kd/maskrcnn-r50-coco.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers={{_base_.teachers}},
    # This student's backbone is not dilated: its stride-8 stage is backbone[1] (128 channels), beside the FPN's
    # stride-8 level, so the teacher's map needs no resizing.
    distill=[
        dict(name='fpn8', student='backbone[1]', teacher='t:neck[1]',
             loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
    ],
    projector='inverted')
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
