# The ImageNet teacher's architecture without its knowledge: mmpretrain's MobileNetV2 randomly initialised
# (seed 0), otherwise as fcn_r18-d8_scenes-64px_kd-inverted_cls-mnv2-in1k.py (same tap, input size, weight,
# inverted projector). Against that config it separates what the teacher knows from what its architecture gives.
_base_ = ['./fcn_r18-d8_scenes-64px_kd-inverted_cls-mnv2-in1k.py']
model = dict(teachers=dict(cls=dict(checkpoint=None, key_map=None, seed=0)))
