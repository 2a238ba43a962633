# The same as pspnet_r18-d8_4xb2-80k_cityscapes-512x1024_kd-inverted_random-r101.py, with the traditional (student -> teacher) projector.
_base_ = ['./pspnet_r18-d8_4xb2-80k_cityscapes-512x1024_kd-inverted_random-r101.py']
model = dict(projector='traditional')
