"""Music features of the stimuli, melody/expressive features, separation and audio emotion.

The main entry points:

- :func:`audio_features`: one file -> clip or window summaries (``audio_*`` columns), cached;
- :func:`stimulus_table`: every stimulus of a protocol on the shared window grid (what
  ``neuromer run`` joins with the EEG and physiological features);
- :func:`frame_features`, :func:`melody_features`, :func:`separate_vocals`: the building blocks;
- :func:`predict_default`, :func:`train_audio_model`, :func:`predict_audio`: perceived emotion.
"""

from .._lazy import lazy_exports

# loaded on first use, so `neuromer audio ... --help` and other commands skip librosa and scipy
_EXPORTS = {
    "predict_audio": "emotion_model", "predict_default": "emotion", "train_audio_model": "emotion_model",
    "FrameFeatures": "features", "frame_features": "features", "key_mode": "features", "load_audio": "features",
    "f0_contour": "melody", "melody_features": "melody", "note_events": "melody",
    "separate_vocals": "separation",
    "audio_features": "summary", "stimulus_table": "summary", "summarize": "summary",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

