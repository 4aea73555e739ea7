"""Physiological features (EDA, ECG/PPG heart rate and HRV, respiration, temperature, EMG, EOG) via neurokit2."""

from .._lazy import lazy_exports

_EXPORTS = {name: "features" for name in ("CONTEXT_S", "FEATURE_KEYS", "MIN_SCR_AMPLITUDE_US", "PHYSIO_KINDS",
                                          "physio_trial_features", "physio_window_features")}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
