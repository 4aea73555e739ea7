"""TRF inputs: stimulus feature series and the per-trial (feature, EEG) pairs of one subject.

Features (``[trf] features``): ``envelope`` (broadband Hilbert envelope, see
:func:`~neuromer.onsets.sound_envelope`), ``flux`` (spectral flux / onset strength), ``note_onsets``
(a unit impulse at each melody note onset), ``pitch`` (the melody note's MIDI pitch minus the
clip's mean, 0 between notes) and ``audio_<name>`` for any frame series of
:func:`neuromer.audio.features.frame_features` (e.g. ``audio_rms_db``, ``audio_centroid_hz``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._logging import logger
from .errors import NeuromerError
from .trf import DEFAULT_FEATURES, MELODIC_FEATURES

# ----------------------------------------------------------------------------- stimulus features
def stimulus_features(path, sfreq: float, names, n_samples: int | None = None) -> np.ndarray:
    """TRF feature series of one stimulus at ``sfreq`` Hz from its first sample.

    Parameters
    ----------
    path : path-like
        Audio file.
    sfreq : float
        Rate in Hz (the trials' rate).
    names : sequence of str
        Feature names (see the module docstring).
    n_samples : int | None
        Length to return; default the audio's length at ``sfreq``.

    Returns
    -------
    ndarray, shape (n_samples, n_features)
        NaN where a feature is undefined (e.g. spectral shape in digital silence) and beyond the
        end of the audio.
    """
    from .audio.features import load_audio
    from .onsets import sound_envelope

    y, sr = load_audio(path, sr=None)
    y = np.asarray(y, dtype=np.float64)
    n_audio = int(round(len(y) / sr * sfreq))
    n = n_audio if n_samples is None else int(n_samples)
    t = np.arange(n) / sfreq
    cols = []
    frames = notes = None
    for name in names:
        if name == "envelope":
            col = sound_envelope(y, sr, sfreq)
        elif name == "flux" or name.startswith("audio_"):
            if frames is None:
                from .audio.features import frame_features

                frames = frame_features(y.astype(np.float32), int(sr))
            key = "flux" if name == "flux" else name.removeprefix("audio_")
            if key not in frames.values:
                raise NeuromerError(f"[trf] features: unknown feature {name!r} (frame series: "
                                    f"{', '.join('audio_' + k for k in frames.values)}).")
            col = np.interp(np.arange(n_audio) / sfreq, frames.times, frames.values[key])
        elif name in MELODIC_FEATURES:
            if notes is None:
                from .audio.melody import f0_contour, note_events

                notes = note_events(f0_contour(y, sr))
            col = np.zeros(n_audio)
            if name == "note_onsets":
                idx = np.round(notes["onset_s"].to_numpy(float) * sfreq).astype(int)
                col[idx[(idx >= 0) & (idx < n_audio)]] = 1.0
            elif len(notes):
                mean = float(notes["midi"].mean())
                for on, off, midi in notes[["onset_s", "offset_s", "midi"]].to_numpy(float):
                    col[int(round(on * sfreq)):int(round(off * sfreq))] = midi - mean
        else:
            raise NeuromerError(f"[trf] features: unknown feature {name!r} (use envelope, flux, note_onsets, "
                                "pitch or audio_<frame series>).")
        col = np.asarray(col, dtype=np.float64)[:n]
        cols.append(np.pad(col, (0, n - len(col)), constant_values=np.nan))
    return np.column_stack(cols) if cols else np.empty((n, 0))


# ----------------------------------------------------------------------------- data per trial
@dataclass
class TrfData:
    """Per-trial feature and EEG series of one subject, z-scored within each trial.

    Attributes
    ----------
    X : list of ndarray, shape (n_samples_k, n_features)
    Y : list of ndarray, shape (n_samples_k, n_channels)
    features, channels : list of str
    trials : DataFrame
        The trials' metadata rows (same order).
    sfreq : float
    n_nan : int
        Samples set to 0 (excluded) because a feature or channel was NaN there.
    """

    X: list
    Y: list
    features: list
    channels: list
    trials: pd.DataFrame
    sfreq: float
    n_nan: int = 0
    ch_types: list = field(default_factory=list)


def _zscore(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu, sd = np.nanmean(a, axis=0), np.nanstd(a, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (a - mu) / sd


def trf_data(trials, stimuli, features=DEFAULT_FEATURES, *, feature_cache: dict | None = None) -> TrfData:
    """Cut each trial's stimulus period out of a :class:`~neuromer.session.Trials` and pair it
    with its stimulus features.

    Parameters
    ----------
    trials : Trials
        EEG trials (the EEG channels are used).
    stimuli : mapping of str -> path
        Stimulus id -> audio file.
    features : sequence of str
    feature_cache : dict | None
        Reused across calls: (stimulus id, rate, features) -> series.

    Returns
    -------
    TrfData

    Raises
    ------
    NeuromerError
        A stimulus without audio, or a feature series that does not cover the trial.
    """
    features = list(features)
    if not features:
        raise NeuromerError("[trf] features: no feature given.")
    picks = trials.picks("eeg")
    if not len(picks):
        raise NeuromerError("TRF: the trials have no EEG channel.")
    sfreq = float(trials.sfreq)
    n_base = int(round(trials.baseline_s * sfreq))
    cache = {} if feature_cache is None else feature_cache
    X, Y, n_nan = [], [], 0
    for k, row in trials.metadata.reset_index(drop=True).iterrows():
        sid = row["stimulus_id"]
        where = f"trial {row['trial']} (stimulus {sid!r})"
        if sid not in stimuli:
            raise NeuromerError(f"TRF: {where} has no stimulus audio file in the protocol.")
        n = min(int(round(float(row["duration_s"]) * sfreq)), trials.data.shape[2] - n_base)
        key = (sid, sfreq, tuple(features))
        if key not in cache:
            cache[key] = stimulus_features(stimuli[sid], sfreq, features)
        x = cache[key]
        if len(x) < n - 1:  # one sample of rounding is allowed
            raise NeuromerError(f"TRF: {where}: the feature series cover {len(x) / sfreq:.2f} s of the "
                                f"{n / sfreq:.2f} s stimulus period.")
        x = np.pad(x[:n], ((0, max(0, n - len(x))), (0, 0)), mode="edge")
        y = trials.data[k][picks, n_base:n_base + n].T.astype(np.float64)
        bad = ~np.isfinite(x).all(axis=1) | ~np.isfinite(y).all(axis=1)
        x, y = _zscore(x), _zscore(y)
        if bad.any():
            n_nan += int(bad.sum())
            x[bad], y[bad] = 0.0, 0.0
        X.append(np.nan_to_num(x))
        Y.append(np.nan_to_num(y))
    if n_nan:
        logger.warning("TRF: %d sample(s) with NaN features or EEG set to zero (excluded).", n_nan)
    return TrfData(X, Y, features, [trials.ch_names[i] for i in picks], trials.metadata.reset_index(drop=True),
                   sfreq, n_nan, [trials.ch_types[i] for i in picks])
