# The converging quick-start student with the teacher-free spectral regulariser (no teacher is built or run)
# on its last backbone stage: the fraction of feature energy outside its own 90%-energy subspace.
_base_ = ['./fcn_r18w16-d8_scenes-64px.py']
model = dict(
    _delete_=True,
    type='CrossTaskDistiller',
    student={{_base_.model}},
    distill=[
        dict(name='tail', student='backbone[3]',
             loss=dict(type='SpectralTailLoss', energy=0.9, normalized=True, loss_weight=0.01)),
    ])
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook')]
