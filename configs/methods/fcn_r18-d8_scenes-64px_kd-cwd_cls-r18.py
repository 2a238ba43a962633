# Channel-wise distillation (Shu et al. 2021) from the Fashion-MNIST classifier, inverted projector.
_base_ = ['../quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py']
model = dict(distill=[
    dict(name='cwd', student='backbone[3]', teacher='cls:backbone.layer3', projector='inverted',
         loss=dict(type='ChannelWiseDistillLoss', tau=4.0, loss_weight=1.0)),
])
