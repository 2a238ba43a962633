# Cross-task KD on ADE20K: PSPNet-R18 student, teacher cls-r50-in1k (see its file under _base_/kd), inverted projector.
_base_ = ['./pspnet_r18-d8_4xb4-80k_ade20k-512x512.py', '../_base_/kd/cls-r50-in1k.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers={{_base_.teachers}},
    distill={{_base_.distill}},
    projector='inverted')
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'), dict(type='ProjectorSpectrumHook', interval=500)]
