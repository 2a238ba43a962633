# Cross-task KD on Cityscapes: PSPNet-R18 student, teacher depth-r50-nyu (see its file under _base_/kd), inverted projector.
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py', '../_base_/kd/depth-r50-nyu.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers={{_base_.teachers}},
    distill={{_base_.distill}},
    projector='inverted')
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'), dict(type='ProjectorSpectrumHook', interval=500)]
