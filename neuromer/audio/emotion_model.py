"""Trainable audio-emotion models: annotated music -> clip features -> XGBoost + linear baseline.

:func:`train_audio_model` reads annotated music (a 4QAED, DEAM or PMEmo folder as downloaded, or a
CSV of audio paths with ``valence`` and ``arousal`` or ``quadrant``: :mod:`neuromer.audio.datasets`),
computes clip features, fits XGBoost and a linear baseline, reports cross-validated scores (folds
grouped by artist where artists are known) and keeps the XGBoost model, written with skops (no
pickle) by :func:`neuromer.models.save_model` with its targets and feature columns.

This module sits in the models layer (it uses :mod:`neuromer.models`), above the audio features
and the default predictor of :mod:`neuromer.audio.emotion` that it builds on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_file, check_option
from .._logging import logger
from ..errors import DataFormatError, NeuromerError
from .emotion import QUADRANTS, feature_matrix, unusable_rows, warn_unusable


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

