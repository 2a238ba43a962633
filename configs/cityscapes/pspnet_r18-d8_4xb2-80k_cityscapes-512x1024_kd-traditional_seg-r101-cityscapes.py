# Same-task reference: the PSPNet-R18 student distilled from an mmseg PSPNet-R101 trained on Cityscapes,
# traditional projector (classic feature KD), plus logit KD on the shared 19 classes.
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(seg=dict(config='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py', checkpoint='zoo')),
    projector='traditional',
    distill=[
        dict(name='c4', student='backbone[3]', teacher='seg:backbone[3]',
             loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
        dict(name='logits', student='decode_head.conv_seg', teacher='seg:decode_head.conv_seg',
             projector='identity', same_task=True, loss=dict(type='LogitKLLoss', tau=1.0, loss_weight=1.0)),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
