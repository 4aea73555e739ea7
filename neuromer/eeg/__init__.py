"""EEG features on the shared window grid (band power, DE, asymmetry, Hjorth, entropy)."""

from .._lazy import lazy_exports

# loaded on first use: `neuromer features eeg` needs the features, not scikit-learn (transformers)
_EXPORTS = {name: "features" for name in (
    "DEAP_PAIRS", "DEFAULT_BANDS", "FAA_PAIR", "eeg_trial_features", "eeg_window_features",
    "eeg_trial_columns", "eeg_window_columns", "trial_feature_arrays", "window_band_power", "window_feature_arrays", "window_psd")}
_EXPORTS.update(EEGTrialFeatures="transformers", EEGWindowFeatures="transformers")
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
