"""Physiological features (EDA, ECG/PPG heart rate and HRV, respiration, temperature, EMG, EOG) via neurokit2."""

from .features import (CONTEXT_S, FEATURE_KEYS, MIN_SCR_AMPLITUDE_US, PHYSIO_KINDS, physio_trial_features,
                       physio_window_features)

__all__ = ["CONTEXT_S", "FEATURE_KEYS", "MIN_SCR_AMPLITUDE_US", "PHYSIO_KINDS", "physio_trial_features",
           "physio_window_features"]
