# The same as fcn_r18-d8_scenes-64px_kd-inverted_cls-mnv2-in1k.py, with the traditional
# (student -> teacher) projector.
_base_ = ['./fcn_r18-d8_scenes-64px_kd-inverted_cls-mnv2-in1k.py']
model = dict(projector='traditional')
