from .feature_distance import (FeatureCosineLoss, FeatureDistance, FeatureL1Loss, FeatureL2Loss,
                               FeatureLogLpLoss, FeatureSmoothL1Loss, normalize_features)
from .kd_methods import (AttentionTransferLoss, ChannelWiseDistillLoss, DISTLoss, LogitKLLoss, PKTLoss,
                         RelationalKDLoss, SimilarityPreservingLoss)
from .spectral import (RandomSubspaceLoss, SpectralTailLoss, effective_rank, energy_rank,
                       flatten_features)
from .weight import build_loss, check_loss_weight

__all__ = ['FeatureDistance', 'FeatureL2Loss', 'FeatureL1Loss', 'FeatureSmoothL1Loss',
           'FeatureCosineLoss', 'FeatureLogLpLoss', 'normalize_features', 'SpectralTailLoss', 'RandomSubspaceLoss',
           'effective_rank', 'energy_rank', 'flatten_features', 'AttentionTransferLoss',
           'SimilarityPreservingLoss', 'ChannelWiseDistillLoss', 'RelationalKDLoss', 'PKTLoss', 'LogitKLLoss',
           'DISTLoss', 'build_loss', 'check_loss_weight']
