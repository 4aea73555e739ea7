"""neuromer: music-emotion research with EEG and physiological signals.

The public API is re-exported here and loaded on first use, so ``import neuromer`` stays light::

    import neuromer
    study = neuromer.simulate_study("study", n_subjects=2, n_trials=8)
    protocol = neuromer.read_protocol(study.protocol)
    trials = neuromer.make_trials(neuromer.read_xdf(study.xdf[0], protocol=protocol))
"""

from __future__ import annotations

from ._lazy import lazy_exports
from .errors import DataFormatError, MarkerError, NeuromerError, ProtocolError, UnsafePickleError

__version__ = "0.1.0"

_API = {
    "Protocol": "protocol", "read_protocol": "protocol",
    "Session": "session", "Trials": "session", "read_trials": "io", "write_trials": "io",
    "make_trials": "epochs", "trials_from_markers": "epochs",
    "WindowGrid": "windows",
    "read_xdf": "io.xdf", "XdfWriter": "io.xdf", "xdf_info": "io.xdf",
    "read_deap": "io.deap", "write_deap": "io.deap", "read_deap_bdf": "io.deap",
    "read_raw_any": "io.mne_formats", "read_session": "io", "read_any_trials": "io", "read_bids": "io.bids",
    "simulate_study": "simulate",
    "set_log_level": "_logging",
    "preprocess": "preprocess",
    "eeg_window_features": "eeg.features", "physio_window_features": "physio.features",
    "audio_features": "audio", "stimulus_table": "audio", "train_audio_model": "audio",
    "predict_audio": "audio",
    "align": "align", "lag_analysis": "align",
    "evaluate": "models.evaluation", "leakage_report": "models.evaluation",
    "save_model": "models.persistence", "load_model": "models.persistence",
    "compare_trials": "compare", "make_report": "report",
    "read_config": "pipeline", "run": "pipeline",
}

__all__ = sorted(_API) + ["NeuromerError", "ProtocolError", "DataFormatError", "MarkerError",
                          "UnsafePickleError", "__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _API)
