from .export_student import ExportStudentHook, export_student
from .projector_spectrum import ProjectorSpectrumHook

__all__ = ['ExportStudentHook', 'export_student', 'ProjectorSpectrumHook']
