"""Trainable audio-emotion models: annotations CSV -> clip features -> XGBoost + linear baseline.

:func:`train_audio_model` reads an annotations CSV (an audio path column and either ``valence`` and
``arousal`` or a ``quadrant`` column, as in 4QAED/DEAM/PMEmo), computes clip features, fits XGBoost
and a linear baseline, reports cross-validated scores and keeps the XGBoost model, written with
skops (no pickle) by :func:`neuromer.models.save_model` with its targets and feature columns.

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
from .emotion import QUADRANTS

_PATH_COLUMNS = ("audio", "path", "file", "filename", "audio_path", "song")


def feature_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """The numeric ``audio_*`` feature columns of a summary table (predictions excluded)."""
    cols = [c for c in table.columns if c.startswith("audio_") and not c.startswith("audio_pred_")
            and pd.api.types.is_numeric_dtype(table[c])]
    return table[cols].astype(float)


def read_annotations(path: str | os.PathLike) -> tuple[pd.DataFrame, str, list[str]]:
    """Read an annotations CSV: returns (table with an absolute ``audio`` column, task, targets)."""
    path = check_file(path, "annotations")
    try:
        table = pd.read_csv(path)
    except Exception as exc:
        raise DataFormatError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc}).") from None
    lower = {c.lower().strip(): c for c in table.columns}
    col = next((lower[c] for c in _PATH_COLUMNS if c in lower), None)
    if col is None:
        raise DataFormatError(f"{path}: no audio path column; expected one of {list(_PATH_COLUMNS)}, "
                              f"got {list(table.columns)}.")
    if {"valence", "arousal"} <= set(lower):
        task, targets = "regression", ["valence", "arousal"]
        out = pd.DataFrame({t: pd.to_numeric(table[lower[t]], errors="coerce") for t in targets})
        bad = out.isna().any(axis=1).to_numpy()
        if bad.any():
            raise DataFormatError(f"{path}: row {int(np.argmax(bad)) + 2} has a missing or non-numeric "
                                  "valence/arousal value.")
    elif "quadrant" in lower:
        task, targets = "classification", ["quadrant"]
        raw = table[lower["quadrant"]].astype(str).str.strip().str.upper()
        q = raw.where(raw.str.startswith("Q"), "Q" + raw)
        bad = ~q.isin(QUADRANTS).to_numpy()
        if bad.any():
            k = int(np.argmax(bad))
            raise DataFormatError(f"{path}: row {k + 2} has quadrant {table[lower['quadrant']].iloc[k]!r}; "
                                  "expected Q1-Q4 or 1-4.")
        out = pd.DataFrame({"quadrant": q.to_numpy()})
    else:
        raise DataFormatError(f"{path}: needs 'valence' and 'arousal' columns or a 'quadrant' column.")
    files = [(path.parent / str(f)).resolve() for f in table[col]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DataFormatError(f"{path}: {len(missing)} audio file(s) not found, e.g. {missing[0]}.")
    out.insert(0, "audio", [str(f) for f in files])
    return out, task, targets


def _clip_features(files, cache_dir, progress=None) -> pd.DataFrame:
    from .summary import audio_features

    rows = []
    for f in files:
        rows.append(audio_features(f, cache_dir=cache_dir, emotion=False))
        if progress is not None:
            progress(f)
    return feature_matrix(pd.concat(rows, ignore_index=True))


def _estimator(kind: str, task: str, n_targets: int, random_state: int):
    from sklearn.multioutput import MultiOutputRegressor

    from ..models.estimators import make_estimator

    name = {"xgboost": "xgboost", "linear": "logreg" if task == "classification" else "ridge"}[kind]
    est = make_estimator(name, task, random_state=random_state)
    return MultiOutputRegressor(est) if task == "regression" and n_targets > 1 else est


def train_audio_model(annotations: str | os.PathLike, *, out: str | os.PathLike | None = None,
                      n_splits: int = 5, random_state: int = 0, cache_dir=None,
                      progress=None, overwrite: bool = False) -> pd.DataFrame:
    """Fit audio-emotion models on an annotations CSV and report cross-validated scores.

    Parameters
    ----------
    annotations : path-like
        CSV with an audio path column (``audio``/``path``/``file``/...; relative to the CSV) and
        ``valence`` + ``arousal`` (regression) or ``quadrant`` (Q1-Q4 or 1-4; classification).
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

    Returns
    -------
    DataFrame
        One row per (model, target): ``model`` (xgboost, linear), ``target`` and metrics: for
        regression ``rmse``, ``r`` (Pearson); for classification ``accuracy``, ``f1_macro``.
    """
    if out is not None and not overwrite and Path(out).exists():
        raise NeuromerError(f"{out}: file exists; refusing to overwrite it (pass overwrite=True, or "
                            "--overwrite on the command line).")
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    table, task, targets = read_annotations(annotations)
    X = _clip_features(table["audio"], cache_dir, progress)
    if task == "classification":
        y = table["quadrant"].map({q: i for i, q in enumerate(QUADRANTS)}).to_numpy()
        counts = np.bincount(y, minlength=4)
        k = min(n_splits, int(counts[counts > 0].min()))
        if k < 2:
            raise NeuromerError(f"{annotations}: every quadrant present needs >= 2 clips for cross-validation.")
        cv = StratifiedKFold(k, shuffle=True, random_state=random_state)
    else:
        y = table[targets].to_numpy(dtype=float)
        k = min(n_splits, len(table))
        if k < 2:
            raise NeuromerError(f"{annotations}: needs at least 2 clips for cross-validation.")
        cv = KFold(k, shuffle=True, random_state=random_state)
    rows = []
    for kind in ("xgboost", "linear"):
        if task == "classification" and len(np.unique(y)) < 2:
            raise NeuromerError(f"{annotations}: all clips have the same quadrant; nothing to learn.")
        yy = y if task == "regression" and len(targets) > 1 else (y[:, 0] if y.ndim == 2 else y)
        pred = cross_val_predict(_estimator(kind, task, len(targets), random_state), X, yy, cv=cv)
        if task == "classification":
            present = np.unique(y)
            rows.append({"model": kind, "target": "quadrant", "n": len(y), "folds": k,
                         "accuracy": accuracy_score(y, pred),
                         "f1_macro": f1_score(y, pred, average="macro", labels=present)})
        else:
            pred = pred.reshape(len(y), -1)
            for j, t in enumerate(targets):
                err = pred[:, j] - y[:, j]
                r = np.corrcoef(pred[:, j], y[:, j])[0, 1] if np.std(pred[:, j]) > 0 else np.nan
                rows.append({"model": kind, "target": t, "n": len(y), "folds": k,
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
        (classification models).
    """
    from ..models.persistence import load_model

    model, meta = load_model(model_path, with_metadata=True)
    if meta.get("kind") != "audio":
        raise DataFormatError(f"{model_path}: not an audio-emotion model (made by `neuromer audio train`).")
    check_option(meta.get("task"), ("regression", "classification"), "model task")
    files = [check_file(f, "audio file") for f in files]
    X = _clip_features(files, cache_dir)
    X = X.reindex(columns=meta["features"])  # features missing in this version are NaN (imputed)
    pred = np.asarray(model.predict(X))
    out = pd.DataFrame({"audio": [str(f) for f in files]})
    if meta["task"] == "classification":
        out["pred_quadrant"] = [meta["classes"][int(i)] for i in pred]
    else:
        pred = pred.reshape(len(files), -1)
        for j, t in enumerate(meta["targets"]):
            out[f"pred_{t}"] = pred[:, j]
    return out

