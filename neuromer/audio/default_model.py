"""The default audio-emotion predictor: a small linear model on named cues, shipped as JSON.

Two standardised logistic regressions, one for high valence (Q1, Q4) and one for high arousal
(Q1, Q2), on the same named musical cues (:data:`CUES`). Each cue is standardised with the mean and
scale of the fitting set, clipped to +-3, and a missing cue contributes 0 (the fitting set's mean),
so the predictor keeps working when a cue cannot be computed; with no cue at all the prediction is
NaN. The probability of "high" maps onto the 1-9 SAM scale as ``1 + 8 p`` (so 5 is the decision
threshold), and the intercepts are shifted so that the share of clips predicted high equals the
share labelled high in the fitting set (calibrated thresholds: the predicted quadrants keep the
dataset's distribution instead of collapsing onto one or two quadrants).

Every cue is a mean over frames or a property of the surrounding music, so the same model applies
to a whole clip and to a window of the shared grid. The shipped coefficients (fitted on 4QAED by
``bench/fit_default_predictor.py``) and their provenance are in ``default_predictor.json`` next to
this module; :func:`load_default_model` reads it and :func:`describe` lists them as a table.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataFormatError, NeuromerError

#: Candidate cues (``audio_`` column, what it measures), chosen before fitting for being named,
#: defined on any stretch of music (clip or 1 s window) and reported as emotion cues in the
#: literature: loudness, timbre/brightness, noisiness, spectral contrast, harmonicity, rhythm, mode.
CUES = (
    ("audio_rms_db_mean", "loudness (dB)"),
    ("audio_centroid_hz_mean", "spectral centroid, brightness (Hz)"),
    ("audio_entropy_mean", "spectral entropy, noisiness"),
    ("audio_flatness_mean", "spectral flatness"),
    ("audio_flux_mean", "spectral flux, timbral change"),
    ("audio_contrast_1_mean", "spectral contrast 200-400 Hz (dB)"),
    ("audio_contrast_2_mean", "spectral contrast 400-800 Hz (dB)"),
    ("audio_contrast_3_mean", "spectral contrast 0.8-1.6 kHz (dB)"),
    ("audio_contrast_4_mean", "spectral contrast 1.6-3.2 kHz (dB)"),
    ("audio_hp_ratio_db_mean", "harmonic/percussive energy ratio (dB)"),
    ("audio_harmonic_change_mean", "harmonic change"),
    ("audio_tempo_bpm", "tempo (BPM)"),
    ("audio_onset_rate", "onset rate (1/s)"),
    ("audio_pulse_clarity", "pulse clarity"),
    ("audio_mode_strength", "mode strength (major > 0 > minor)"),
    ("audio_key_clarity", "key clarity"),
)
DIMENSIONS = ("valence", "arousal")
#: high valence = Q1 or Q4, high arousal = Q1 or Q2 (Russell's circumplex as in 4QAED).
HIGH = {"valence": ("Q1", "Q4"), "arousal": ("Q1", "Q2")}
Z_CLIP = 3.0
MODEL_PATH = Path(__file__).with_name("default_predictor.json")


def fit_default_model(X: pd.DataFrame, quadrants, *, cues=None, C: float = 0.1,
                      calibrate: bool = True) -> dict:
    """Fit the two logistic regressions on clip cues and quadrant labels.

    Parameters
    ----------
    X : DataFrame, shape (n_clips, n_features)
        Clip features with the cue columns (others are ignored; NaN allowed).
    quadrants : array-like of str, shape (n_clips,)
        ``Q1``..``Q4``.
    cues : sequence of str | None
        Cue columns (default: :data:`CUES`).
    C : float
        Inverse L2 penalty of the logistic regressions (on standardised cues).
    calibrate : bool
        Shift each intercept so the predicted share of "high" equals the labelled share.

    Returns
    -------
    dict
        JSON-ready model: ``cues`` (column, mean, scale), and per dimension ``intercept``, ``coef``
        (one per cue) and ``share_high`` (the labelled share).
    """
    from sklearn.linear_model import LogisticRegression

    cues = [c for c, _ in CUES] if cues is None else list(cues)
    missing = [c for c in cues if c not in X]
    if missing:
        raise NeuromerError(f"the cue column(s) {missing} are missing from the feature table.")
    q = np.asarray(quadrants).astype(str)
    raw = X[cues].to_numpy(dtype=float)
    mean = np.nanmean(raw, axis=0)
    scale = np.nanstd(raw, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = _standardise(raw, mean, scale)
    model = {"cues": [{"column": c, "mean": float(m), "scale": float(s)} for c, m, s in zip(cues, mean, scale)],
             "z_clip": Z_CLIP, "C": C}
    for dim in DIMENSIONS:
        y = np.isin(q, HIGH[dim]).astype(int)
        if y.min() == y.max():
            raise NeuromerError(f"all clips have the same {dim} class; nothing to fit.")
        lr = LogisticRegression(C=C, max_iter=5000).fit(Z, y)
        coef, b = lr.coef_[0], float(lr.intercept_[0])
        share = float(y.mean())
        if calibrate:
            # threshold at the quantile that predicts the labelled share as high
            b -= float(np.quantile(Z @ coef + b, 1 - share))
        model[dim] = {"intercept": b, "coef": [float(w) for w in coef], "share_high": share}
    return model


def _standardise(raw: np.ndarray, mean, scale) -> np.ndarray:
    z = np.clip((raw - np.asarray(mean)) / np.asarray(scale), -Z_CLIP, Z_CLIP)
    return np.where(np.isfinite(z), z, 0.0)  # a missing cue sits at the fitting set's mean


def predict_scores(model: dict, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Logit of "high" per dimension (NaN for rows with none of the cues).

    Returns
    -------
    dict of str -> ndarray, shape (n_rows,)
        ``valence`` and ``arousal`` logits; ``1 + 8 / (1 + exp(-logit))`` is the 1-9 value.
    """
    cols = [c["column"] for c in model["cues"]]
    raw = np.column_stack([table[c].to_numpy(dtype=float) if c in table else np.full(len(table), np.nan)
                           for c in cols]) if len(cols) else np.empty((len(table), 0))
    any_cue = np.isfinite(raw).any(axis=1)
    Z = _standardise(raw, [c["mean"] for c in model["cues"]], [c["scale"] for c in model["cues"]])
    out = {}
    for dim in DIMENSIONS:
        logit = model[dim]["intercept"] + Z @ np.asarray(model[dim]["coef"], dtype=float)
        out[dim] = np.where(any_cue, logit, np.nan)
    return out


def to_scale(logit) -> np.ndarray:
    """Logit of "high" -> 1-9 (``1 + 8 p``; 5 at p = 0.5)."""
    with np.errstate(over="ignore"):
        return 1.0 + 8.0 / (1.0 + np.exp(-np.asarray(logit, dtype=float)))


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    try:
        model = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable default-predictor JSON ({exc}).") from None
    for key in ("cues", "valence", "arousal", "provenance"):
        if key not in model:
            raise DataFormatError(f"{path}: no {key!r} field in the default-predictor JSON.")
    n = len(model["cues"])
    for dim in DIMENSIONS:
        if len(model[dim].get("coef", ())) != n:
            raise DataFormatError(f"{path}: {dim} has {len(model[dim].get('coef', ()))} coefficients "
                                  f"for {n} cues.")
    return model


def load_default_model(path: str | os.PathLike | None = None) -> dict:
    """The shipped default predictor (or another JSON written by ``bench/fit_default_predictor.py``)."""
    return _load(str(MODEL_PATH if path is None else path))


def describe(model: dict | None = None) -> pd.DataFrame:
    """The cue table: ``cue``, ``meaning``, ``mean``, ``scale``, ``valence_coef``, ``arousal_coef``.

    Coefficients are per standard deviation of the cue (log-odds of "high").
    """
    model = load_default_model() if model is None else model
    meaning = dict(CUES)
    return pd.DataFrame({"cue": [c["column"] for c in model["cues"]],
                         "meaning": [meaning.get(c["column"], "") for c in model["cues"]],
                         "mean": [c["mean"] for c in model["cues"]],
                         "scale": [c["scale"] for c in model["cues"]],
                         "valence_coef": model["valence"]["coef"], "arousal_coef": model["arousal"]["coef"]})
