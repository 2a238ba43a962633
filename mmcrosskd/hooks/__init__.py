from .export_student import ExportStudentHook, export_student
from .projector_spectrum import ProjectorSpectrumHook
from .random_state import RandomStateHook

__all__ = ['ExportStudentHook', 'export_student', 'ProjectorSpectrumHook', 'RandomStateHook']
