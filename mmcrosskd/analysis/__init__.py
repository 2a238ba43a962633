from .decomposition import kd_decomposition, projector_rank, spectrum_stats

__all__ = ['kd_decomposition', 'projector_rank', 'spectrum_stats']
