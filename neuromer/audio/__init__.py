"""Music features of the stimuli, melody/expressive features, separation and audio emotion.

The main entry points:

- :func:`audio_features`: one file -> clip or window summaries (``audio_*`` columns), cached;
- :func:`stimulus_table`: every stimulus of a protocol on the shared window grid (what
  ``neuromer run`` joins with the EEG and physiological features);
- :func:`frame_features`, :func:`melody_features`, :func:`separate_vocals`: the building blocks;
- :func:`predict_default`, :func:`train_audio_model`, :func:`predict_audio`: perceived emotion;
- :func:`train_dynamic_model`, :func:`predict_dynamic`: emotion over time on the window grid;
- :func:`read_mer_dataset` (and :func:`read_4qaed`, :func:`read_deam`, :func:`read_pmemo`): annotated
  music datasets as one tidy table;
- :func:`evaluate_mer`, :func:`ablation`: honest MER evaluation (stratified and artist-grouped
  repeated folds, the novel feature families' gain with a CI).
"""

from .._lazy import lazy_exports

# loaded on first use, so `neuromer audio ... --help` and other commands skip librosa and scipy
_EXPORTS = {
    "predict_audio": "emotion_model", "predict_default": "emotion", "train_audio_model": "emotion_model",
    "predict_dynamic": "dynamic", "train_dynamic_model": "dynamic",
    "read_4qaed": "datasets", "read_deam": "datasets", "read_mer_dataset": "datasets", "read_pmemo": "datasets",
    "ablation": "evaluation", "evaluate_mer": "evaluation",
    "FrameFeatures": "features", "frame_features": "features", "key_mode": "features", "load_audio": "features",
    "f0_contour": "melody", "melody_features": "melody", "note_events": "melody",
    "separate_vocals": "separation",
    "audio_features": "summary", "stimulus_table": "summary", "summarize": "summary",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

