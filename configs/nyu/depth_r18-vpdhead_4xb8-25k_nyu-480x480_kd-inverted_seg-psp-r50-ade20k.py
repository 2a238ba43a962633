# Cross-task KD for depth estimation on NYU: DepthEstimator-R18 student, teacher seg-psp-r50-ade20k (see its file under _base_/kd), inverted projector.
_base_ = ['./depth_r18-vpdhead_4xb8-25k_nyu-480x480.py', '../_base_/kd/seg-psp-r50-ade20k.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers={{_base_.teachers}},
    distill={{_base_.distill}},
    projector='inverted')
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
