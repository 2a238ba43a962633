# Cross-task KD on ADE20K: PSPNet-R18 segmentation student, instance-segmentation teacher (mmdet Mask R-CNN R50-FPN,
# COCO; see _base_/kd/maskrcnn-r50-coco.py), inverted projector. Needs mmdet (`MMDET=1 make install`).
_base_ = ['./pspnet_r18-d8_4xb4-80k_ade20k-512x512.py', '../_base_/kd/maskrcnn-r50-coco.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers={{_base_.teachers}},
    distill={{_base_.distill}},
    projector='inverted')
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
