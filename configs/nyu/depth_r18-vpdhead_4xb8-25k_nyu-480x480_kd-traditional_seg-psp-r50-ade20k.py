# The same as depth_r18-vpdhead_4xb8-25k_nyu-480x480_kd-inverted_seg-psp-r50-ade20k.py, with the traditional (student -> teacher) projector.
_base_ = ['./depth_r18-vpdhead_4xb8-25k_nyu-480x480_kd-inverted_seg-psp-r50-ade20k.py']
model = dict(projector='traditional')
