from .checkpoint_match import CheckpointMatchHook
from .export_student import ExportStudentHook, export_student
from .nonfinite_guard import NonFiniteGuardHook
from .projector_spectrum import ProjectorSpectrumHook
from .random_state import RandomStateHook

__all__ = ['CheckpointMatchHook', 'ExportStudentHook', 'export_student', 'NonFiniteGuardHook',
           'ProjectorSpectrumHook', 'RandomStateHook']
