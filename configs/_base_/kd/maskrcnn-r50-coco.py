# Teacher: an mmdet Mask R-CNN (ResNet-50 + FPN) instance segmentor trained on COCO, the teacher of the paper's
# Figure 1. Needs the optional mmdet extra (`MMDET=1 make install`, or `pip install -e .[mmdet]`).
# Weights: the file that mmdet's metafile names (COCO box AP 38.2, mask AP 34.7), saved as the checkpoint below:
#   https://download.openmmlab.com/mmdetection/v2.0/mask_rcnn/mask_rcnn_r50_fpn_1x_coco/mask_rcnn_r50_fpn_1x_coco_20200205-d4b0c5d6.pth
# The teacher runs on the student's images alone, re-normalised to its own mean/std (RGB), and its forward stops
# after the FPN, so the RPN and RoI heads never run. Tap: the FPN level of stride 8 (`neck[1]`, 256 channels),
# the same stride as the dilated (d8) students' last stage. `python tools/list_taps.py CONFIG` lists the others.
# The images are not padded to the detector's pad_size_divisor (32): its FPN resizes the top-down path to each level,
# and padding would shift the teacher's feature grid against the student's pixels.
teachers = dict(t=dict(config='mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                       checkpoint='checkpoints/mask_rcnn_r50_fpn_1x_coco_20200205-d4b0c5d6.pth'))
distill = [
    dict(name='fpn8', student='backbone[3]', teacher='t:neck[1]',
         loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
]
