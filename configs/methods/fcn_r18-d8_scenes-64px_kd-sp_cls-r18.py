# Similarity-preserving KD (Tung & Mori 2019) from the Fashion-MNIST classifier, inverted projector.
_base_ = ['../quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py']
model = dict(distill=[
    dict(name='sp', student='backbone[3]', teacher='cls:backbone.layer3', projector='inverted',
         loss=dict(type='SimilarityPreservingLoss', loss_weight=10.0)),
])
