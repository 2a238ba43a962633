from .export_student import ExportStudentHook, export_student

__all__ = ['ExportStudentHook', 'export_student']
