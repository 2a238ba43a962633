# The tiny FCN student of seg_fcn_r18_tiny.py, distilled from a randomly initialised mmpretrain
# ResNet-18 (inverted projector) and an mmseg depth estimator (traditional projector).
_base_ = './seg_fcn_r18_tiny.py'
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(
        cls=dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', seed=1),
        depth=dict(config=dict(
            _scope_='mmseg',
            type='DepthEstimator',
            data_preprocessor=dict(type='SegDataPreProcessor', mean=[127.5, 127.5, 127.5],
                                   std=[127.5, 127.5, 127.5], bgr_to_rgb=True),
            backbone=dict(type='ResNetV1c', depth=18, norm_cfg=dict(type='BN')),
            decode_head=dict(type='VPDDepthHead', max_depth=10, in_channels=[64, 128, 256, 512],
                             embed_dim=16, feature_dim=128, fmap_border=0)), seed=2)),
    distill=[
        dict(name='cls_c4', student='backbone[3]', teacher='cls:backbone.layer4', projector='inverted',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
        dict(name='depth_c3', student='backbone[2]', teacher='depth:backbone[2]', projector='traditional',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
