# Probabilistic knowledge transfer (Passalis & Tefas 2018) from the Fashion-MNIST classifier, inverted projector.
_base_ = ['../quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py']
model = dict(distill=[
    dict(name='pkt', student='backbone[3]', teacher='cls:backbone.layer3', projector='inverted',
         loss=dict(type='PKTLoss', loss_weight=1.0)),
])
