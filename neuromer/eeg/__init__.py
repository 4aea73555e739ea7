"""EEG features on the shared window grid (band power, DE, asymmetry, Hjorth, entropy)."""

from .features import (DEAP_PAIRS, DEFAULT_BANDS, FAA_PAIR, eeg_trial_features, eeg_window_features,
                       trial_feature_arrays, window_band_power, window_feature_arrays,
                       window_psd)
from .transformers import EEGTrialFeatures, EEGWindowFeatures

__all__ = ["DEAP_PAIRS", "DEFAULT_BANDS", "FAA_PAIR", "EEGTrialFeatures", "EEGWindowFeatures",
           "eeg_trial_features", "eeg_window_features", "trial_feature_arrays", "window_feature_arrays",
           "window_band_power", "window_psd"]
