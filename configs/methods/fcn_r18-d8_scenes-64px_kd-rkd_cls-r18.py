# Relational KD, distance + angle (Park et al. 2019) from the Fashion-MNIST classifier, inverted projector.
_base_ = ['../quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py']
model = dict(distill=[
    dict(name='rkd', student='backbone[3]', teacher='cls:backbone.layer3', projector='inverted',
         loss=dict(type='RelationalKDLoss', distance_weight=1.0, angle_weight=2.0)),
])
