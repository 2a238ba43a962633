# Figure 1's comparison: the same as the inverted config, with the usual student -> teacher projector.
_base_ = ['./depth_r18-vpdhead_4xb8-25k_nyu-480x480_kd-inverted_maskrcnn-r50-coco.py']
model = dict(projector='traditional')
