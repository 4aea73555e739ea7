"""Emotion perceived from the audio: a transparent default predictor and trainable models.

Default predictor
-----------------
Two standardised logistic regressions on 16 named cues, fitted on the 900 clips of 4QAED (Panda,
Malheiro & Paiva 2018) by ``bench/fit_default_predictor.py`` and shipped as JSON
(``neuromer/audio/default_predictor.json``: coefficients, cue means and scales, provenance, licence
note, cross-validated figures; no audio). For each dimension::

    z_i   = clip((x_i - mean_i) / scale_i, -3, 3)        (0 when cue i is missing)
    logit = intercept + sum_i w_i * z_i
    value = 1 + 8 / (1 + exp(-logit))                    (1-9; > 5 means "high")

The intercepts are calibrated so that the share of clips predicted high matches the labelled share
(so predicted quadrants keep 4QAED's distribution); a row with none of the cues gives NaN. The
coefficients (log-odds per standard deviation of the cue) are listed by
:func:`neuromer.audio.default_model.describe` and in the README; see
:mod:`neuromer.audio.default_model` for how they are fitted and evaluated.

Coefficients (log-odds of "high" per standard deviation of the cue; scales in the JSON):

==========================  =====================================  ========  =======  =======
cue (``audio_`` column)     meaning                                mean      valence  arousal
==========================  =====================================  ========  =======  =======
rms_db_mean                 loudness (dB)                          -19.38    -0.06    +0.33
centroid_hz_mean            spectral centroid, brightness (Hz)     2038      -0.08    +0.17
entropy_mean                spectral entropy, noisiness            0.4853    +0.06    +0.83
flatness_mean               spectral flatness                      0.01393   +0.15    -0.07
flux_mean                   spectral flux, timbral change          1.273     +0.60    +0.12
contrast_1_mean             spectral contrast 200-400 Hz (dB)      15.96     -0.52    -1.07
contrast_2_mean             spectral contrast 400-800 Hz (dB)      19.47     +0.47    -0.62
contrast_3_mean             spectral contrast 0.8-1.6 kHz (dB)     19.52     +0.61    -0.05
contrast_4_mean             spectral contrast 1.6-3.2 kHz (dB)     20.04     +0.18    -0.03
hp_ratio_db_mean            harmonic/percussive energy ratio (dB)  7.623     +0.18    -0.32
harmonic_change_mean        harmonic change                        0.04993   -0.12    +0.08
tempo_bpm                   tempo (BPM)                            121.8     +0.11    +0.14
onset_rate                  onset rate (1/s)                       4.011     +0.37    +0.31
pulse_clarity               pulse clarity                          0.6988    +0.23    +0.20
mode_strength               mode strength (major > 0 > minor)      0.02055   +0.22    -0.07
key_clarity                 key clarity                            0.6515    +0.36    -0.49
(intercept)                 calibrated: shares match 4QAED                   -0.10    -0.38
==========================  =====================================  ========  =======  =======

Artist-grouped cross-validated figures on 4QAED are in the JSON's provenance and the README.
Synthetic music far from commercial recordings (clean harmonic tones, such as
``neuromer.simulate.synthesize_music(realism=False)``, have a spectral contrast 4-10 standard
deviations above 4QAED's) is still ordered by its cues (louder, faster, brighter is more aroused;
major is more positive) but its arousal sits near the bottom of the scale. The simulator's study
stimuli are therefore rendered as produced mixes (``realism=True``: drums, bass, room, noise),
whose cues lie near real music's (``bench/sim_realism.py``).
The quadrant follows Russell's circumplex with the 5 midpoint: Q1 high valence/high arousal, Q2
low/high, Q3 low/low, Q4 high/low.

The trainable models (XGBoost and a linear baseline on clip features of annotated music) are in
:mod:`neuromer.audio.emotion_model`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_file, check_option
from .._logging import logger
from ..errors import DataFormatError, NeuromerError

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")


def quadrant(valence, arousal, midpoint: float = 5.0) -> np.ndarray:
    """Russell quadrant labels (``Q1``..``Q4``; empty string where either value is NaN)."""
    v, a = np.asarray(valence, dtype=float), np.asarray(arousal, dtype=float)
    q = np.where(a > midpoint, np.where(v > midpoint, "Q1", "Q2"), np.where(v > midpoint, "Q4", "Q3"))
    return np.where(np.isfinite(v) & np.isfinite(a), q, "")


#: A clip or window whose 90th-percentile frame level (``audio_rms_db_p90``, dB re full scale) is below
#: this is silent: nine frames in ten are at most a faint hiss, and its cues describe no music.
SILENT_DB = -60.0
#: Shortest clip (s) emotion is predicted for: one window of the default grid. Below it there is no
#: beat to time (a beat at 60 BPM takes 1 s), too few onsets to count and too few frames for a key.
MIN_CLIP_S = 1.0


def unusable_rows(table: pd.DataFrame) -> np.ndarray:
    """Why each row of a feature table cannot carry an emotion prediction ("" where it can).

    Parameters
    ----------
    table : DataFrame
        Clip rows (``window`` -1, length from ``duration_s``) or window rows (length
        ``t_end - t_start``) of :func:`neuromer.audio.audio_features`.

    Returns
    -------
    ndarray of str, shape (n_rows,)
        ``"silent (90th-percentile level -100 dB < -60 dB)"``, ``"0.02 s long (< 1 s)"`` or ``""``.
        Rows without the columns needed for a test pass it.
    """
    n = len(table)
    reasons = np.full(n, "", dtype=object)
    if "audio_rms_db_p90" in table:
        level = table["audio_rms_db_p90"].to_numpy(dtype=float)
        quiet = ~(level >= SILENT_DB)  # NaN level (no frame) counts as silent
        for i in np.flatnonzero(quiet):
            reasons[i] = (f"silent (90th-percentile level {level[i]:.0f} dB < {SILENT_DB:.0f} dB)"
                          if np.isfinite(level[i]) else "silent (no audible frame)")
    length = None
    if {"t_start", "t_end"} <= set(table.columns) and "window" in table:
        length = (table["t_end"] - table["t_start"]).to_numpy(dtype=float)
        if "duration_s" in table:
            clip = table["window"].to_numpy() < 0
            length = np.where(clip, table["duration_s"].to_numpy(dtype=float), length)
    elif "duration_s" in table:
        length = table["duration_s"].to_numpy(dtype=float)
    if length is not None:
        for i in np.flatnonzero(~(length >= MIN_CLIP_S - 1e-9)):
            why = f"{length[i]:.3g} s long (< {MIN_CLIP_S:g} s)"
            reasons[i] = f"{reasons[i]}, {why}" if reasons[i] else why
    return reasons


def warn_unusable(reasons: np.ndarray, source: str | None, what: str = "emotion predictions") -> None:
    """One warning naming ``source`` and why some of its rows get NaN ``what``."""
    bad = np.flatnonzero(reasons != "")
    if len(bad) == 0:
        return
    name = source if source is not None else "audio"
    if len(reasons) == 1:
        logger.warning("%s: %s: no %s (NaN).", name, reasons[0], what)
    else:
        logger.warning("%s: %d of %d windows are unusable (first: window %d, %s): their %s are NaN.",
                       name, len(bad), len(reasons), int(bad[0]), reasons[bad[0]], what)


def predict_default(table: pd.DataFrame, *, source: str | None = None, warn: bool = True) -> pd.DataFrame:
    """Default valence/arousal (1-9) and quadrant from a table of ``audio_*`` summaries.

    Parameters
    ----------
    table : DataFrame
        Rows of clip or window summaries (:func:`neuromer.audio.audio_features`).
    source : str | None
        Name of the audio (its file) for the warning about silent or too short rows.
    warn : bool
        Log that warning (one per call).

    Returns
    -------
    DataFrame
        ``audio_pred_valence``, ``audio_pred_arousal`` (1-9, NaN when no cue is available) and
        ``audio_pred_quadrant`` (empty where NaN), with ``table``'s index. Silent rows and clips
        shorter than :data:`MIN_CLIP_S` (:func:`unusable_rows`) get NaN and an empty quadrant, with
        a warning: their cues sit at the ends of the scales and would read as confident emotions.
    """
    from .default_model import load_default_model, predict_scores, to_scale

    logit = predict_scores(load_default_model(), table)
    val, aro = to_scale(logit["valence"]), to_scale(logit["arousal"])
    reasons = unusable_rows(table)
    bad = reasons != ""
    val, aro = np.where(bad, np.nan, val), np.where(bad, np.nan, aro)
    if warn:
        warn_unusable(reasons, source)
    return pd.DataFrame({"audio_pred_valence": val, "audio_pred_arousal": aro,
                         "audio_pred_quadrant": quadrant(val, aro)}, index=table.index)


def feature_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """The numeric ``audio_*`` feature columns of a summary table (predictions excluded)."""
    cols = [c for c in table.columns if c.startswith("audio_") and not c.startswith("audio_pred_")
            and pd.api.types.is_numeric_dtype(table[c])]
    return table[cols].astype(float)
