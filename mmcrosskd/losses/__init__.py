from .feature_distance import (FeatureCosineLoss, FeatureDistance, FeatureL1Loss, FeatureL2Loss,
                               FeatureSmoothL1Loss, normalize_features)

__all__ = ['FeatureDistance', 'FeatureL2Loss', 'FeatureL1Loss', 'FeatureSmoothL1Loss',
           'FeatureCosineLoss', 'normalize_features']
