# Attention transfer (Zagoruyko & Komodakis 2017) from the Fashion-MNIST classifier, inverted projector.
_base_ = ['../quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py']
model = dict(distill=[
    dict(name='at', student='backbone[3]', teacher='cls:backbone.layer3', projector='inverted',
         loss=dict(type='AttentionTransferLoss', loss_weight=100.0)),
])
