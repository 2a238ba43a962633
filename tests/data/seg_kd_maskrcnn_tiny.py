# The tiny FCN student of seg_fcn_r18_tiny.py, distilled from a randomly initialised mmdet Mask R-CNN (R50-FPN)
# tapped at its stride-8 FPN level: the paper's Figure 1 kind of teacher, at test scale. Needs mmdet.
_base_ = './seg_fcn_r18_tiny.py'
custom_imports = dict(imports=['mmcrosskd'], allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(det=dict(config='mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', seed=0)),
    distill=[
        dict(name='fpn8', student='backbone[3]', teacher='det:neck[1]', projector='inverted',
             loss=dict(type='FeatureL2Loss', loss_weight=1.0, normalize='l2')),
    ])
