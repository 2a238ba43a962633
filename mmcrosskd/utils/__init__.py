from .config import build_model_from_spec, load_model_spec, resolve_config_path
from .checkpoint import atomic_torch_save, load_teacher_checkpoint
from .distiller_state import student_state_dict

__all__ = ['build_model_from_spec', 'load_model_spec', 'resolve_config_path',
           'atomic_torch_save', 'load_teacher_checkpoint', 'student_state_dict']
