from .checkpoint_spectra import projector_matrices, spectrum_summary
from .decomposition import kd_decomposition, projector_rank, spectrum_stats, student_energy_outside

__all__ = ['kd_decomposition', 'projector_rank', 'spectrum_stats', 'student_energy_outside', 'projector_matrices',
           'spectrum_summary']
