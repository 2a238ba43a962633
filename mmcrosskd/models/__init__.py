from .distiller import CrossTaskDistiller, DistillEntry
from .projectors import FeatureProjector, align_to_student, build_projector
from .taps import TapSet, TapSpec
from .teacher import FrozenTeacher

__all__ = ['CrossTaskDistiller', 'DistillEntry', 'FeatureProjector', 'align_to_student',
           'build_projector', 'TapSet', 'TapSpec', 'FrozenTeacher']
