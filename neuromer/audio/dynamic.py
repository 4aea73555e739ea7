"""Emotion over time: a window-level valence/arousal model on neuromer's window grid.

DEAM and PMEmo publish, per song, the raters' mean valence and arousal every 0.5 s (2 Hz). The
model here predicts them for each window of the grid that every other feature table uses
(``window_s``, ``hop_s``; 1 s every 0.5 s by default), from that window's ``audio_*`` features
(:func:`neuromer.audio.audio_features` with the same grid, cached), so its output joins the EEG
and physiological windows with no resampling guess.

Annotations onto the grid
-------------------------
The curve of a song is linearly interpolated between its samples, and a window's label is the
mean of the interpolated curve over the window (11 points evenly spaced from ``t_start`` to
``t_end``), after moving the curve ``lag_s`` earlier: raters move their slider after the music
changes (about 1-4 s later in continuous ratings; Schubert 2004, Music Perception 21(4)), so
``lag_s > 0`` pairs the music of a window with the ratings given a little later. A window is labelled
only if it lies inside the annotated span (first to last sample, plus half a sample period either
side); the others (DEAM's first 15 s, say) are left out of training and evaluation. With DEAM's
2 Hz curves and 1 s windows a label is the average of about two samples and a half.

Evaluation
----------
Folds are grouped by song (``GroupKFold``): no song has windows on both sides, so the model cannot
memorise a song's level. Each held-out song gets Pearson r between its predicted and annotated
curves and the RMSE (1-9 scale); the report gives their mean and standard deviation over songs
(songs whose annotated or predicted curve is flat have no r and are counted apart), and the r
of all held-out windows pooled, which also rewards getting each song's level right.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .._checks import check_option, check_positive
from .._logging import logger
from ..errors import DataFormatError, NeuromerError

TARGETS = ("valence", "arousal")
_POINTS = 11  # samples of the interpolated curve averaged per window


def dynamic_labels(annotations: pd.DataFrame, windows: pd.DataFrame, *, lag_s: float = 0.0) -> pd.DataFrame:
    """Resample dynamic annotations onto windows (see the module docstring for the rule).

    Parameters
    ----------
    annotations : DataFrame
        Long form: ``song_id``, ``time_s`` (s from the start of the clip), ``valence``, ``arousal``
        (:func:`neuromer.audio.datasets.read_mer_dataset` with ``dynamic=True``).
    windows : DataFrame
        ``song_id``, ``t_start``, ``t_end`` (s), one row per window.
    lag_s : float
        Rating lag (s): the window [t0, t1] gets the ratings of [t0 + lag_s, t1 + lag_s].

    Returns
    -------
    DataFrame
        ``valence`` and ``arousal`` per window, with ``windows``' index; NaN outside the annotated span.
    """
    out = pd.DataFrame(np.nan, index=windows.index, columns=list(TARGETS))
    frac = np.linspace(0.0, 1.0, _POINTS)
    for sid, rows in windows.groupby("song_id", sort=False):
        ann = annotations[annotations["song_id"] == sid].sort_values("time_s")
        if len(ann) == 0:
            continue
        t = ann["time_s"].to_numpy(dtype=float)
        half = 0.5 * float(np.median(np.diff(t))) if len(t) > 1 else 0.25
        t0 = rows["t_start"].to_numpy(dtype=float) + lag_s
        t1 = rows["t_end"].to_numpy(dtype=float) + lag_s
        inside = (t0 >= t[0] - half - 1e-9) & (t1 <= t[-1] + half + 1e-9)
        grid = t0[:, None] + (t1 - t0)[:, None] * frac[None, :]  # (n_windows, _POINTS)
        for dim in TARGETS:
            curve = np.interp(grid, t, ann[dim].to_numpy(dtype=float))  # held flat past the ends
            out.loc[rows.index, dim] = np.where(inside, curve.mean(axis=1), np.nan)
    return out


def _window_table(songs: pd.DataFrame, *, window_s, hop_s, melody, cache_dir, progress) -> pd.DataFrame:
    """Window features of every song, with the unusable (silent) windows marked."""
    from .emotion import unusable_rows, warn_unusable
    from .summary import audio_features

    parts = []
    for sid, path in zip(songs["song_id"], songs["audio_path"]):
        table = audio_features(path, window_s=window_s, hop_s=hop_s, melody=melody, emotion=False,
                               cache_dir=cache_dir)
        why = unusable_rows(table)
        warn_unusable(why, str(path), "windows for the dynamic model (left out)")
        parts.append(table.assign(song_id=sid, _usable=why == ""))
        if progress is not None:
            progress(path)
    return pd.concat(parts, ignore_index=True)


#: Ridge penalties and numbers of features (``None``: all) tried inside the training songs. With a
#: few dozen songs, hundreds of correlated standardised features let a ridge fit each song's level
#: from incidental cues (its pitch, say); keeping the features most correlated with the target
#: (SelectKBest, F test, fitted on the training rows only) is what tracks the curve; with six
#: songs, as few as 3 features generalise best across songs.
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0)
K_BEST = (3, 10, 30, 100, None)


def _model(estimator: str, random_state: int, alpha: float = 1.0, k_best: int | None = None):
    from sklearn.multioutput import MultiOutputRegressor

    from ..models.estimators import make_estimator

    est = make_estimator(estimator, "regression", random_state=random_state, k_best=k_best)
    if estimator == "ridge":
        est.set_params(model__alpha=alpha)
    return MultiOutputRegressor(est)  # one clone per target: its own feature selection


def _fit(estimator: str, random_state: int, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray):
    """Fit on training songs; for ridge, (k_best, alpha) are chosen by song-grouped folds among them.

    Windows of one song are strongly autocorrelated, so a window-level search (leave-one-out) would
    pick settings that memorise songs; grouping the inner folds by song asks what generalises.
    """
    from sklearn.model_selection import GroupKFold

    alpha, k_best = 1.0, None
    k = min(3, len(np.unique(groups)))
    if estimator == "ridge" and k >= 2:
        x = X.to_numpy(dtype=float)
        err = np.zeros((len(K_BEST), len(RIDGE_ALPHAS)))
        for train, test in GroupKFold(k).split(x, y, groups):
            err += _ridge_path_sse(x[train], y[train], x[test], y[test])
        i, j = np.unravel_index(int(np.argmin(err)), err.shape)
        k_best, alpha = K_BEST[i], RIDGE_ALPHAS[j]
        if k_best is not None and k_best >= x.shape[1]:
            k_best = None
    return _model(estimator, random_state, alpha, k_best).fit(X, y)


def _ridge_path_sse(x_train, y_train, x_test, y_test) -> np.ndarray:
    """Squared test error of the ridge pipeline (median imputation, standardisation, SelectKBest,
    ridge; as :func:`~neuromer.models.estimators.make_estimator` builds it, one per target) for every
    (k in :data:`K_BEST`, alpha in :data:`RIDGE_ALPHAS`), summed over targets, from one SVD per k
    and target instead of one fit per setting. Returns shape (len(K_BEST), len(RIDGE_ALPHAS))."""
    import warnings

    from sklearn.feature_selection import SelectKBest, f_regression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        med = np.nanmedian(x_train, axis=0)
    med = np.where(np.isfinite(med), med, 0.0)
    a = np.where(np.isfinite(x_train), x_train, med)
    b = np.where(np.isfinite(x_test), x_test, med)
    mu, sd = a.mean(axis=0), a.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    a, b = (a - mu) / sd, (b - mu) / sd
    sse = np.zeros((len(K_BEST), len(RIDGE_ALPHAS)))
    for t in range(y_train.shape[1]):
        yt = y_train[:, t]
        for i, k in enumerate(K_BEST):
            if k is None or k >= a.shape[1]:
                cols = np.ones(a.shape[1], dtype=bool)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # constant columns: F is NaN, ranked last
                    cols = SelectKBest(f_regression, k=k).fit(a, yt).get_support()
            u, sv, vt = np.linalg.svd(a[:, cols], full_matrices=False)
            uty = u.T @ (yt - yt.mean())
            proj = b[:, cols] @ vt.T
            for j, alpha in enumerate(RIDGE_ALPHAS):
                pred = yt.mean() + proj @ (sv / (sv ** 2 + alpha) * uty)
                sse[i, j] += np.sum((np.clip(pred, 1.0, 9.0) - y_test[:, t]) ** 2)
    return sse


def _predict(model, X) -> np.ndarray:
    # clipped to the 1-9 scale: a song unlike the training songs must not get a 25 on a 9-point scale
    return np.clip(np.asarray(model.predict(X), dtype=float).reshape(len(X), -1), 1.0, 9.0)


def _per_song(song_ids, y, pred) -> pd.DataFrame:
    rows = []
    for sid in pd.unique(song_ids):
        m = song_ids == sid
        for j, dim in enumerate(TARGETS):
            a, p = y[m, j], pred[m, j]
            flat = np.std(a) < 1e-9 or np.std(p) < 1e-9 or m.sum() < 3
            rows.append({"song_id": sid, "target": dim, "n_windows": int(m.sum()),
                         "r": np.nan if flat else float(np.corrcoef(a, p)[0, 1]),
                         "rmse": float(np.sqrt(np.mean((a - p) ** 2)))})
    return pd.DataFrame(rows)


def train_dynamic_model(annotations, *, format: str = "auto", window_s: float = 1.0, hop_s: float = 0.5,
                        lag_s: float = 0.0, estimator: str = "ridge", n_splits: int = 5, melody: bool = True,
                        random_state: int = 0, cache_dir=None, out=None, progress=None,
                        overwrite: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit a window-level valence/arousal model on dynamic annotations; evaluate it per song.

    Parameters
    ----------
    annotations : path-like | DataFrame
        A DEAM or PMEmo folder, a CSV with ``time_s`` (see :mod:`neuromer.audio.datasets`), or
        their long-form table (``audio_path``, ``song_id``, ``time_s``, ``valence``, ``arousal``).
    format : str
        Layout of ``annotations`` when it is a path (``auto``, ``deam``, ``pmemo``, ``csv``).
    window_s, hop_s : float
        The window grid (s), as for :func:`neuromer.audio.audio_features`.
    lag_s : float
        Rating lag (s) applied when the curves are resampled (:func:`dynamic_labels`).
    estimator : str
        ``ridge`` (default: linear, fast; its penalty among :data:`RIDGE_ALPHAS` and its number of
        features among :data:`K_BEST` chosen by song-grouped folds inside the training songs),
        ``xgboost``, ``rf`` or ``svr``
        (:func:`neuromer.models.estimators.make_estimator`; imputation and scaling inside).
        Predictions are clipped to the 1-9 scale.
    n_splits : int
        Song-grouped folds (at most the number of songs).
    melody : bool
        Use the melody/expressive/texture features too (slower).
    random_state : int
        Seed of the stochastic estimators.
    cache_dir : path-like | None
        Feature cache shared with ``neuromer audio features --window-s ... --hop-s ...``.
    out : path-like | None
        Where to save the model fitted on all songs (``.skops``).
    overwrite : bool
        Replace an existing ``out`` file; otherwise an existing file is refused before any work.

    Returns
    -------
    summary : DataFrame
        One row per target: ``model``, ``target``, ``songs``, ``windows``, ``folds``, ``r_mean``,
        ``r_sd`` (per-song Pearson r over songs with a non-flat curve), ``songs_without_r``,
        ``rmse_mean``, ``rmse_sd`` (per song), ``r_pooled`` (all held-out windows).
    per_song : DataFrame
        ``song_id``, ``target``, ``n_windows``, ``r``, ``rmse`` of each held-out song.
    """
    from sklearn.model_selection import GroupKFold

    from pathlib import Path

    if out is not None and not overwrite and Path(out).exists():
        raise NeuromerError(f"{out}: file exists; refusing to overwrite it (pass overwrite=True, or "
                            "--overwrite on the command line).")
    check_positive(window_s, "window_s")
    check_positive(hop_s, "hop_s")
    check_option(estimator, ("ridge", "xgboost", "rf", "svr"), "estimator")
    if isinstance(annotations, pd.DataFrame):
        ann = annotations
        missing = {"audio_path", "song_id", "time_s", *TARGETS} - set(ann.columns)
        if missing:
            raise DataFormatError(f"dynamic annotations table: missing column(s) {sorted(missing)}.")
    else:
        from .datasets import read_mer_dataset

        ann = read_mer_dataset(annotations, format=format, dynamic=True)
    ann = ann.assign(song_id=ann["song_id"].astype(str))
    songs = ann.drop_duplicates("song_id")[["song_id", "audio_path"]]
    table = _window_table(songs, window_s=window_s, hop_s=hop_s, melody=melody, cache_dir=cache_dir,
                          progress=progress)
    labels = dynamic_labels(ann, table, lag_s=lag_s)
    keep = table["_usable"].to_numpy() & labels.notna().all(axis=1).to_numpy()
    if not keep.any():
        raise NeuromerError("dynamic annotations: no window of the grid lies inside an annotated span "
                            "(check time_s against the clip lengths, and lag_s).")
    from .emotion import feature_matrix

    X = feature_matrix(table[keep]).reset_index(drop=True)
    y = labels[keep].to_numpy(dtype=float)
    groups = table.loc[keep, "song_id"].to_numpy()
    n_songs = len(np.unique(groups))
    k = min(n_splits, n_songs)
    if k < 2:
        raise NeuromerError(f"dynamic annotations: {n_songs} song(s) with labelled windows; song-grouped "
                            "cross-validation needs at least 2.")
    pred = np.full_like(y, np.nan)
    for train, test in GroupKFold(k).split(X, y, groups):
        model = _fit(estimator, random_state, X.iloc[train], y[train], groups[train])
        pred[test] = _predict(model, X.iloc[test])
    per_song = _per_song(groups, y, pred)
    rows = []
    for j, dim in enumerate(TARGETS):
        s = per_song[per_song["target"] == dim]
        rows.append({"model": estimator, "target": dim, "songs": n_songs, "windows": int(keep.sum()),
                     "folds": k, "r_mean": float(s["r"].mean()), "r_sd": float(s["r"].std(ddof=0)),
                     "songs_without_r": int(s["r"].isna().sum()),
                     "rmse_mean": float(s["rmse"].mean()), "rmse_sd": float(s["rmse"].std(ddof=0)),
                     "r_pooled": float(np.corrcoef(y[:, j], pred[:, j])[0, 1])})
    summary = pd.DataFrame(rows)
    if out is not None:
        from ..models.persistence import save_model

        model = _fit(estimator, random_state, X, y, groups)
        meta = {"kind": "audio-dynamic", "task": "regression", "targets": list(TARGETS), "window_s": window_s,
                "hop_s": hop_s, "lag_s": lag_s, "melody": melody, "features": list(X.columns)}
        save_model(model, out, overwrite=overwrite, metadata=meta)
        logger.info("saved the dynamic audio-emotion model to %s", out)
    return summary, per_song


def predict_dynamic(model_path: str | os.PathLike, files, *, cache_dir=None, meta: dict | None = None,
                    model=None) -> pd.DataFrame:
    """Valence/arousal per window of each file with a model from :func:`train_dynamic_model`.

    Returns
    -------
    DataFrame
        ``audio``, ``window``, ``t_start``, ``t_end``, ``pred_valence``, ``pred_arousal`` on the
        model's window grid; silent windows are NaN (with a warning naming the file).
    """
    from .._checks import check_file

    if model is None or meta is None:
        from ..models.persistence import load_model

        model, meta = load_model(model_path, with_metadata=True)
    if meta.get("kind") != "audio-dynamic":
        raise DataFormatError(f"{model_path}: not a dynamic audio-emotion model (made by "
                              "`neuromer audio train --dynamic`).")
    files = [check_file(f, "audio file") for f in files]
    songs = pd.DataFrame({"song_id": [str(f) for f in files], "audio_path": [str(f) for f in files]})
    table = _window_table(songs, window_s=meta["window_s"], hop_s=meta["hop_s"], melody=meta.get("melody", True),
                          cache_dir=cache_dir, progress=None)
    out = pd.DataFrame({"audio": table["song_id"], "window": table["window"], "t_start": table["t_start"],
                        "t_end": table["t_end"]})
    if len(table) == 0:
        return out.assign(pred_valence=[], pred_arousal=[])
    from .emotion import feature_matrix

    X = feature_matrix(table).reindex(columns=meta["features"])
    pred = _predict(model, X)
    pred[~table["_usable"].to_numpy()] = np.nan
    for j, dim in enumerate(meta["targets"]):
        out[f"pred_{dim}"] = pred[:, j]
    return out
