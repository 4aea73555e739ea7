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
Synthetic music far from commercial recordings (the simulator's clean harmonic tones have a
spectral contrast 4-13 standard deviations above 4QAED's) is still ordered by its cues (louder,
faster, brighter is more aroused; major is more positive) but its arousal sits near the bottom of
the scale.
The quadrant follows Russell's circumplex with the 5 midpoint: Q1 high valence/high arousal, Q2
low/high, Q3 low/low, Q4 high/low.

Trainable model
---------------
:func:`train_audio_model` reads annotated music (a 4QAED, DEAM or PMEmo folder as downloaded, or a
CSV of audio paths with ``valence`` and ``arousal`` or ``quadrant``: :mod:`neuromer.audio.datasets`),
computes clip features, fits XGBoost
and a linear baseline, reports cross-validated scores and keeps the XGBoost model, written with
skops (no pickle) by :func:`neuromer.models.save_model` with its targets and feature columns.
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


# ----------------------------------------------------------------------------- trainable models
def feature_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """The numeric ``audio_*`` feature columns of a summary table (predictions excluded)."""
    cols = [c for c in table.columns if c.startswith("audio_") and not c.startswith("audio_pred_")
            and pd.api.types.is_numeric_dtype(table[c])]
    return table[cols].astype(float)


def read_annotations(path: str | os.PathLike, *, format: str = "auto") -> tuple[pd.DataFrame, str, list[str]]:
    """Read annotated music for training: returns (tidy table, task, targets).

    Parameters
    ----------
    path : path-like
        A MER dataset folder (4QAED, DEAM, PMEmo) or an annotations CSV; see
        :mod:`neuromer.audio.datasets` for the layouts, columns and scales.
    format : str
        ``auto``, ``4qaed``, ``deam``, ``pmemo`` or ``csv``.

    Returns
    -------
    table : DataFrame
        :func:`~neuromer.audio.datasets.read_mer_dataset`'s static table (``audio_path``,
        ``song_id``, ``artist``, ``title`` and labels).
    task : ``"regression"`` (valence and arousal present) | ``"classification"`` (quadrant only)
    targets : list of str
        ``["valence", "arousal"]`` or ``["quadrant"]``.
    """
    from .datasets import read_mer_dataset

    table = read_mer_dataset(path, format=format, dynamic=False)
    if {"valence", "arousal"} <= set(table.columns):
        return table, "regression", ["valence", "arousal"]
    return table, "classification", ["quadrant"]


def _clip_features(files, cache_dir, progress=None, what: str = "emotion predictions"):
    """(feature matrix, reasons): clip features and why a clip is unusable ("" if it is not)."""
    from .summary import audio_features

    rows, reasons = [], []
    for f in files:
        table = audio_features(f, cache_dir=cache_dir, emotion=False)
        why = unusable_rows(table)
        warn_unusable(why, str(f), what)
        rows.append(table)
        reasons.append(why[0])
        if progress is not None:
            progress(f)
    return feature_matrix(pd.concat(rows, ignore_index=True)), np.array(reasons, dtype=object)


def _estimator(kind: str, task: str, n_targets: int, random_state: int):
    from sklearn.multioutput import MultiOutputRegressor

    from ..models.estimators import make_estimator

    name = {"xgboost": "xgboost", "linear": "logreg" if task == "classification" else "ridge"}[kind]
    est = make_estimator(name, task, random_state=random_state)
    return MultiOutputRegressor(est) if task == "regression" and n_targets > 1 else est


def train_audio_model(annotations: str | os.PathLike, *, out: str | os.PathLike | None = None,
                      n_splits: int = 5, random_state: int = 0, cache_dir=None,
                      progress=None, overwrite: bool = False, format: str = "auto") -> pd.DataFrame:
    """Fit audio-emotion models on an annotations CSV and report cross-validated scores.

    Parameters
    ----------
    annotations : path-like
        A MER dataset folder (4QAED, DEAM, PMEmo) or a CSV with an audio path column
        (``audio``/``path``/``file``/...; relative to the CSV) and ``valence`` + ``arousal``
        (regression) or ``quadrant`` (Q1-Q4 or 1-4; classification); see
        :mod:`neuromer.audio.datasets`.
        With artists known (4QAED metadata, an ``artist`` column) the folds are grouped by artist
        (no artist on both sides).
    out : path-like | None
        Where to save the XGBoost model (``.skops``), fitted on all clips.
    overwrite : bool
        Replace an existing ``out`` file; otherwise an existing file is refused before any work.
    n_splits : int
        Folds of the cross-validation (shuffled K-fold; at most the number of clips).
    random_state : int
        Seed of the folds and of XGBoost.
    cache_dir : path-like | None
        Cache for the clip features.
    format : str
        Layout of ``annotations``: ``auto`` (detected), ``4qaed``, ``deam``, ``pmemo`` or ``csv``.

    Returns
    -------
    DataFrame
        One row per (model, target): ``model`` (xgboost, linear), ``target``, ``n``, ``folds``,
        ``grouped_by`` (``"artist"`` or ``"none"``) and metrics: for
        regression ``rmse``, ``r`` (Pearson); for classification ``accuracy``, ``f1_macro``.
    """
    if out is not None and not overwrite and Path(out).exists():
        raise NeuromerError(f"{out}: file exists; refusing to overwrite it (pass overwrite=True, or "
                            "--overwrite on the command line).")
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import (GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold,
                                         cross_val_predict)

    table, task, targets = read_annotations(annotations, format=format)
    X, reasons = _clip_features(table["audio_path"], cache_dir, progress, what="training (left out)")
    keep = reasons == ""
    if not keep.all():  # a silent or 1-sample clip teaches the model nothing about its label
        table, X = table[keep].reset_index(drop=True), X[keep].reset_index(drop=True)
    groups = None
    if "artist" in table and table["artist"].notna().any():
        # clips of one artist share voice, production and style: keep them on one side of each split
        from .evaluation import artist_groups

        groups = artist_groups(table["artist"])
    n_groups = len(np.unique(groups)) if groups is not None else len(table)
    if task == "classification":
        y = table["quadrant"].map({q: i for i, q in enumerate(QUADRANTS)}).to_numpy()
        counts = np.bincount(y, minlength=4)
        k = min(n_splits, int(counts[counts > 0].min()), n_groups)
        if k < 2:
            raise NeuromerError(f"{annotations}: every quadrant present needs >= 2 clips for cross-validation.")
        cv = (StratifiedKFold(k, shuffle=True, random_state=random_state) if groups is None
              else StratifiedGroupKFold(k, shuffle=True, random_state=random_state))
        if groups is not None:
            folds = list(cv.split(X, y, groups))
            if any(len(np.unique(y[train])) < len(np.unique(y)) for train, _ in folds):
                # too few artists per quadrant: a grouped training fold would lack a quadrant
                logger.warning("%s: grouping the folds by artist leaves a quadrant out of a training fold "
                               "(too few artists per quadrant); the folds are not grouped by artist.",
                               annotations)
                groups = None
                cv = StratifiedKFold(k, shuffle=True, random_state=random_state)
            else:
                cv = folds
    else:
        y = table[targets].to_numpy(dtype=float)
        k = min(n_splits, len(table), n_groups)
        if k < 2:
            raise NeuromerError(f"{annotations}: needs at least 2 clips (and 2 artists) for cross-validation.")
        cv = (KFold(k, shuffle=True, random_state=random_state) if groups is None
              else GroupKFold(k, shuffle=True, random_state=random_state))
    rows = []
    for kind in ("xgboost", "linear"):
        if task == "classification" and len(np.unique(y)) < 2:
            raise NeuromerError(f"{annotations}: all clips have the same quadrant; nothing to learn.")
        yy = y if task == "regression" and len(targets) > 1 else (y[:, 0] if y.ndim == 2 else y)
        pred = cross_val_predict(_estimator(kind, task, len(targets), random_state), X, yy, cv=cv, groups=groups)
        grouped = "artist" if groups is not None else "none"
        if task == "classification":
            present = np.unique(y)
            rows.append({"model": kind, "target": "quadrant", "n": len(y), "folds": k, "grouped_by": grouped,
                         "accuracy": accuracy_score(y, pred),
                         "f1_macro": f1_score(y, pred, average="macro", labels=present)})
        else:
            pred = pred.reshape(len(y), -1)
            for j, t in enumerate(targets):
                err = pred[:, j] - y[:, j]
                r = np.corrcoef(pred[:, j], y[:, j])[0, 1] if np.std(pred[:, j]) > 0 else np.nan
                rows.append({"model": kind, "target": t, "n": len(y), "folds": k, "grouped_by": grouped,
                             "rmse": float(np.sqrt(np.mean(err ** 2))), "r": float(r)})
    report = pd.DataFrame(rows)
    if out is not None:
        from ..models.persistence import save_model

        yy = y if task == "regression" and len(targets) > 1 else (y[:, 0] if y.ndim == 2 else y)
        model = _estimator("xgboost", task, len(targets), random_state).fit(X, yy)
        save_model(model, out, overwrite=overwrite, metadata={"kind": "audio", "task": task, "targets": targets,
                                         "classes": list(QUADRANTS), "features": list(X.columns)})
        logger.info("saved the audio-emotion model to %s", out)
    return report


def predict_audio(model_path: str | os.PathLike, files, *, cache_dir=None) -> pd.DataFrame:
    """Predict emotion for audio files with a model from :func:`train_audio_model`.

    Returns
    -------
    DataFrame
        ``audio`` and ``pred_valence``/``pred_arousal`` (regression models) or ``pred_quadrant``
        (classification models). Silent clips and clips shorter than :data:`MIN_CLIP_S` get NaN
        (an empty quadrant) and a warning naming the file. A dynamic model
        (``neuromer audio train --dynamic``) gives one row per window instead
        (:func:`neuromer.audio.dynamic.predict_dynamic`).
    """
    from ..models.persistence import load_model

    model, meta = load_model(model_path, with_metadata=True)
    if meta.get("kind") == "audio-dynamic":
        from .dynamic import predict_dynamic

        return predict_dynamic(model_path, files, cache_dir=cache_dir, meta=meta, model=model)
    if meta.get("kind") != "audio":
        raise DataFormatError(f"{model_path}: not an audio-emotion model (made by `neuromer audio train`).")
    check_option(meta.get("task"), ("regression", "classification"), "model task")
    files = [check_file(f, "audio file") for f in files]
    X, reasons = _clip_features(files, cache_dir)
    X = X.reindex(columns=meta["features"])  # features missing in this version are NaN (imputed)
    pred = np.asarray(model.predict(X))
    bad = reasons != ""  # silent or too short: NaN, never a confident number (warned above)
    out = pd.DataFrame({"audio": [str(f) for f in files]})
    if meta["task"] == "classification":
        out["pred_quadrant"] = ["" if b else meta["classes"][int(i)] for i, b in zip(pred, bad)]
    else:
        pred = pred.reshape(len(files), -1).astype(float)
        pred[bad] = np.nan
        for j, t in enumerate(meta["targets"]):
            out[f"pred_{t}"] = pred[:, j]
    return out

