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

from .dynamic import predict_dynamic, train_dynamic_model
from .datasets import read_4qaed, read_deam, read_mer_dataset, read_pmemo
from .emotion import predict_audio, predict_default, train_audio_model
from .evaluation import ablation, evaluate_mer
from .features import FrameFeatures, frame_features, key_mode, load_audio
from .melody import f0_contour, melody_features, note_events
from .separation import separate_vocals
from .summary import audio_features, stimulus_table, summarize

__all__ = ["FrameFeatures", "ablation", "audio_features", "evaluate_mer", "f0_contour", "frame_features", "key_mode", "load_audio",
           "melody_features", "note_events",
           "predict_audio", "predict_default", "predict_dynamic", "read_4qaed", "read_deam", "read_mer_dataset", "read_pmemo",
           "separate_vocals", "stimulus_table", "summarize",
           "train_audio_model", "train_dynamic_model"]

