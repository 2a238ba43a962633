# FitNets-style regression with an L1 distance from the Fashion-MNIST classifier, inverted projector.
_base_ = ['../quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py']
model = dict(distill=[
    dict(name='fit', student='backbone[3]', teacher='cls:backbone.layer3', projector='inverted',
         loss=dict(type='FeatureL1Loss', normalize='bn', loss_weight=0.1)),
])
