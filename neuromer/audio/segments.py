"""Segment-level (multi-instance) music-emotion recognition, evaluated with clip-level folds.

Each clip is cut into segments (windows of the window grid, e.g. 10 s with a 5 s hop); every
segment is summarised with the same frame and summary code as a whole clip
(:func:`neuromer.audio.summary.audio_features` with ``window_s``/``hop_s``) and inherits its clip's
label. A classifier is trained on the segments of the training clips, and a test clip is
predicted from the mean of its segments' class scores (probabilities where the classifier has
them, else the SVM's one-vs-rest decision values).

The folds are drawn over **clips** (:func:`neuromer.audio.evaluation.repeated_splits`, stratified
or grouped by artist), and every segment follows its clip: segments of one clip are never on both
sides of a fold (they share the recording, so a segment model would otherwise recognise the clip,
not its emotion). The inner hyper-parameter search, when tuning, is grouped by clip for the same
reason.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._logging import logger
from ..errors import DataFormatError, NeuromerError
from .evaluation import (PROTOCOLS, MERResult, _as_matrix, _macro_f1_codes, _protocols_and_pipeline, _tick, macro_f1,
                         repeated_splits)


def segment_feature_table(clips: pd.DataFrame, *, segment_s: float = 10.0, hop_s: float | None = None,
                          features=None, cache_dir=None, progress=None) -> tuple[pd.DataFrame, np.ndarray]:
    """Segment features of each clip and the clip each segment belongs to.

    Parameters
    ----------
    clips : DataFrame
        Annotated clips (an ``audio_path`` column), e.g. from
        :func:`~neuromer.audio.evaluation.read_labelled_clips`.
    segment_s : float
        Segment length in seconds.
    hop_s : float | None
        Hop between segment starts in seconds (default ``segment_s / 2``: 50 % overlap).
    features : path-like | DataFrame | None
        A per-window table from ``neuromer audio features --window-s S --hop-s H`` (columns
        ``file`` and ``window``) to reuse; ``None`` computes the segments (cached in ``cache_dir``).
    cache_dir : path-like | None
        Feature cache folder.
    progress : callable | None
        Called with each clip's path after its segments are computed.

    Returns
    -------
    S : DataFrame, shape (n_segments, n_features)
        ``audio_*`` feature columns, one row per segment, the segments of clip 0 first.
    segment_clip : ndarray of int, shape (n_segments,)
        Row of ``clips`` that each segment belongs to.

    Raises
    ------
    DataFormatError
        A clip without any segment (shorter than ``segment_s``), or a ``features`` table without
        per-window rows of a clip.
    """
    from pathlib import Path

    from .emotion import feature_matrix

    if not segment_s > 0 or (hop_s is not None and not hop_s > 0):
        raise NeuromerError(f"Invalid segment grid: segment_s={segment_s}, hop_s={hop_s} (both must be > 0 s).")
    hop_s = segment_s / 2 if hop_s is None else hop_s
    name = "--segment-features table"
    if features is None:
        from .summary import audio_features

        tables = []
        for f in clips["audio_path"]:
            t = audio_features(f, window_s=segment_s, hop_s=hop_s, cache_dir=cache_dir, emotion=False)
            tables.append(t.assign(file=str(f)))
            if progress is not None:
                progress(f)
        with warnings.catch_warnings():
            # windows without a melody are all-NaN columns; the dtype rule pandas warns about does
            # not matter here (feature_matrix casts every column to float)
            warnings.simplefilter("ignore", FutureWarning)
            features = pd.concat(tables, ignore_index=True)
    elif not isinstance(features, pd.DataFrame):
        from .._checks import check_file

        name = str(features)
        path = check_file(features, "segment features table")
        try:
            features = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:
            raise DataFormatError(f"{path}: not a readable table ({type(exc).__name__}: {exc}).") from None
    missing = [c for c in ("file", "window") if c not in features]
    if missing:
        raise DataFormatError(f"{name}: no {' and no '.join(repr(c) for c in missing)} column (make it with "
                              f"`neuromer audio features ... --window-s {segment_s:g} --hop-s {hop_s:g} --out`).")
    features = features[features["window"] >= 0]
    files = features["file"].astype(str)
    by_path = {p: g for p, g in features.groupby(files.map(lambda f: str(Path(f).resolve())), sort=False)}
    by_name = {p: g for p, g in features.groupby(files.map(lambda f: Path(f).name), sort=False)}
    parts, owner = [], []
    for i, f in enumerate(clips["audio_path"]):
        rows = by_path.get(str(Path(f).resolve()), by_name.get(Path(f).name))
        if rows is None or len(rows) == 0:
            raise DataFormatError(f"{name}: no segment of clip {f} (shorter than one {segment_s:g} s segment, "
                                  "or missing from the table).")
        parts.append(rows.sort_values("window"))
        owner.append(np.full(len(rows), i))
    table = pd.concat(parts, ignore_index=True)
    n = np.bincount(np.concatenate(owner))
    if n.min() != n.max():
        logger.info("segments per clip: %d to %d (clips of different lengths)", n.min(), n.max())
    return feature_matrix(table), np.concatenate(owner)


def clip_scores(model, X: np.ndarray) -> np.ndarray:
    """Class scores, shape (n_rows, n_classes): probabilities, else one-vs-rest decision values."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype=float)
    s = np.asarray(model.decision_function(X), dtype=float)
    return np.column_stack([-s, s]) if s.ndim == 1 else s  # two classes: one decision value


def evaluate_mer_segments(S, segment_clip, y, groups=None, *, protocols=PROTOCOLS, classifier: str = "svm",
                          k_best: int | None = None, tune: bool = True, n_splits: int = 10, n_repeats: int = 20,
                          random_state: int = 0, progress=None, transform: str = "standard", k_grid=None) -> MERResult:
    """Repeated cross-validated macro-F1 of a segment-level classifier, clips predicted from their segments.

    Parameters
    ----------
    S : DataFrame | ndarray, shape (n_segments, n_features)
        Segment features (:func:`segment_feature_table`; NaN allowed, imputed inside the folds).
    segment_clip : array-like of int, shape (n_segments,)
        Clip (0 .. n_clips-1, the rows of ``y``) of each segment; every clip needs >= 1 segment.
    y : array-like, shape (n_clips,)
        Class label per clip (e.g. quadrants ``Q1``..``Q4``).
    groups : array-like, shape (n_clips,) | None
        Artist group per clip (:func:`~neuromer.audio.evaluation.artist_groups`).
    protocols, classifier, k_best, tune, n_splits, n_repeats, random_state, progress, transform, k_grid :
        As in :func:`~neuromer.audio.evaluation.evaluate_mer`; the folds are the same clip folds.

    Returns
    -------
    MERResult
        Per clip, as :func:`~neuromer.audio.evaluation.evaluate_mer` (``n_features`` counts segment
        features; ``folds`` also has ``n_train_segments``); ``params["segments"]`` is the number
        of segments.
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold

    S, names = _as_matrix(S)
    segment_clip = np.asarray(segment_clip)
    labels = np.asarray(y)
    if len(segment_clip) != len(S):
        raise NeuromerError(f"S has {len(S)} segments but segment_clip has {len(segment_clip)} entries.")
    if len(S) == 0 or segment_clip.min() < 0 or segment_clip.max() >= len(labels):
        raise NeuromerError(f"segment_clip must index the {len(labels)} clips of y (0..{len(labels) - 1}).")
    n_seg = np.bincount(segment_clip, minlength=len(labels))
    if (n_seg == 0).any():
        raise NeuromerError(f"{int((n_seg == 0).sum())} clips have no segment (first: clip {int(np.argmin(n_seg))}).")
    classes, yc = np.unique(labels, return_inverse=True)
    protocols, est, k_best, k_grid = _protocols_and_pipeline(
        protocols, groups, S.shape[1], classifier, k_best=k_best, tune=tune, random_state=random_state,
        transform=transform, k_grid=k_grid)
    summary, repeats, folds, preds = [], [], [], {}
    for protocol in protocols:
        splits = repeated_splits(labels, groups, protocol=protocol, n_splits=n_splits, n_repeats=n_repeats,
                                 random_state=random_state)
        if progress is not None:
            splits = _tick(splits, lambda r, p=protocol: progress(p, r))
        pred = np.full((n_repeats, len(yc)), -1, dtype=int)
        rows = []
        for r, k, train, test in splits:
            test = np.sort(test)
            tr = np.flatnonzero(np.isin(segment_clip, train))
            te = np.flatnonzero(np.isin(segment_clip, test))
            model = clone(est)
            fit_kw = {}
            if "search" in model.named_steps:
                # inner folds grouped by clip: segments of one clip on both inner sides would favour
                # hyper-parameters that memorise recordings
                smallest = int(np.bincount(yc[train], minlength=len(classes)).min())
                if smallest < 4:
                    model.steps[-1] = ("search", model.named_steps["search"].estimator)
                else:
                    model.named_steps["search"].set_params(cv=StratifiedGroupKFold(
                        min(3, smallest // 2), shuffle=True, random_state=random_state))
                    fit_kw["search__groups"] = segment_clip[tr]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"(?s)Features .* are constant", category=UserWarning)
                warnings.filterwarnings("ignore", category=RuntimeWarning, module="sklearn.feature_selection")
                model.fit(S[tr], yc[segment_clip[tr]], **fit_kw)
            scores = clip_scores(model, S[te])
            # mean score of each test clip's segments
            local = np.searchsorted(test, segment_clip[te])
            total = np.zeros((len(test), scores.shape[1]))
            np.add.at(total, local, scores)
            p = np.asarray(model.classes_)[np.argmax(total / n_seg[test][:, None], axis=1)].astype(int)
            pred[r, test] = p
            rows.append({"repeat": r, "fold": k, "n_train": len(train), "n_test": len(test),
                         "n_train_segments": len(tr), "f1_macro": macro_f1(yc[test], p),
                         "accuracy": float(np.mean(p == yc[test]))})
        per = pd.DataFrame({"repeat": np.arange(n_repeats),
                            "f1_macro": [_macro_f1_codes(yc, pred[r], len(classes)) for r in range(n_repeats)],
                            "accuracy": [float(np.mean(pred[r] == yc)) for r in range(n_repeats)]})
        preds[protocol] = classes[pred]
        repeats.append(per.assign(protocol=protocol))
        folds.append(pd.DataFrame(rows).assign(protocol=protocol))
        summary.append({"protocol": protocol, "n_clips": len(yc), "n_features": S.shape[1],
                        "n_splits": n_splits, "n_repeats": n_repeats, "f1_mean": per.f1_macro.mean(),
                        "f1_sd": per.f1_macro.std(ddof=1) if n_repeats > 1 else np.nan,
                        "accuracy_mean": per.accuracy.mean(),
                        "accuracy_sd": per.accuracy.std(ddof=1) if n_repeats > 1 else np.nan})
    first = ["protocol", "repeat"]
    repeats = pd.concat(repeats, ignore_index=True)
    folds = pd.concat(folds, ignore_index=True)
    return MERResult(summary=pd.DataFrame(summary), repeats=repeats[first + [c for c in repeats if c not in first]],
                     folds=folds[first + [c for c in folds if c not in first]], predictions=preds,
                     params={"classifier": classifier, "k_best": k_best, "tune": tune, "features": names,
                             "transform": transform, "k_grid": k_grid, "random_state": random_state,
                             "segments": len(S),
                             "level": "segment"})
