# The same as pspnet_r18-d8_4xb4-80k_ade20k-512x512_kd-inverted_depth-r50-nyu.py, with the traditional (student -> teacher) projector.
_base_ = ['./pspnet_r18-d8_4xb4-80k_ade20k-512x512_kd-inverted_depth-r50-nyu.py']
model = dict(projector='traditional')
