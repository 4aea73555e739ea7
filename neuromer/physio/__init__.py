"""Physiological features (EDA, PPG/HR/HRV, respiration, temperature, EMG, EOG) via neurokit2."""

from .features import FEATURE_KEYS, PHYSIO_KINDS, physio_trial_features, physio_window_features

__all__ = ["FEATURE_KEYS", "PHYSIO_KINDS", "physio_trial_features", "physio_window_features"]
