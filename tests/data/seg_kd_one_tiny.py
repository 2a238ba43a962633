# The tiny FCN student of seg_fcn_r18_tiny.py with one randomly initialised mmpretrain ResNet-18 teacher
# (inverted projector) and the bare-student export: the cheapest distillation run for the Runner tests.
_base_ = './seg_fcn_r18_tiny.py'
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1)),
    distill=[
        dict(name='cls_c4', student='backbone[3]', teacher='cls:backbone.layer4', projector='inverted',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
    ])
custom_hooks = [dict(type='ExportStudentHook')]
