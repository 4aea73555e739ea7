"""Leakage-free evaluation: trial-wise splitters, cross-validated predictions, permutation chance.

Windows of one trial share the stimulus, the label and slow drifts of the recording, so a model
can "recognise the trial" instead of the emotion. Every splitter here keeps all windows of a trial
on one side (:class:`TrialKFold`, :class:`LeaveOneTrialOut` within subject,
:class:`LeaveOneSubjectOut` across subjects). :class:`WindowKFold`, the random window split many
papers use, exists only to show the inflation (:func:`leakage_report`) and warns whenever used.

Chance is measured, not assumed: labels are permuted between trials of a subject (all windows of a
trial keep one label) and the whole cross-validation is rerun.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import BaseCrossValidator

from .._checks import check_option, validate_type
from .._logging import logger
from ..errors import NeuromerError
from ..io._atomic import atomic_path
from ..windows import KEY_COLUMNS
from .estimators import feature_columns, make_estimator, make_target, target_task

CV_SCHEMES = ("trial", "loto", "subject", "window")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc")
REGRESSION_METRICS = ("rmse", "pearson_r", "ccc")
_LOWER_IS_BETTER = {"rmse"}


class LeakageWarning(UserWarning):
    """A cross-validation lets windows of one trial into both training and test sets."""


# --------------------------------------------------------------------------------------------
# splitters


def _groups_array(groups, n: int, who: str) -> np.ndarray:
    if groups is None:
        raise NeuromerError(f"{who} needs 'groups' (one trial or subject id per window).")
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise NeuromerError(f"Invalid shape for the 'groups' parameter: expected ({n},), got {groups.shape}.")
    return groups


class LeaveOneTrialOut(BaseCrossValidator):
    """Each fold tests all windows of one trial; ``groups`` are trial ids (within one subject).

    Examples
    --------
    >>> list(LeaveOneTrialOut().split(np.zeros(4), groups=[1, 1, 2, 2]))[0][1]
    array([0, 1])
    """

    def _iter_test_indices(self, X=None, y=None, groups=None):
        groups = _groups_array(groups, len(X), "LeaveOneTrialOut")
        for g in pd.unique(groups):
            yield np.flatnonzero(groups == g)

    def get_n_splits(self, X=None, y=None, groups=None):
        if groups is None:
            raise NeuromerError("LeaveOneTrialOut needs 'groups' (one trial id per window).")
        return len(pd.unique(np.asarray(groups)))


class LeaveOneSubjectOut(LeaveOneTrialOut):
    """Each fold tests all windows of one subject; ``groups`` are subject ids."""

    def get_n_splits(self, X=None, y=None, groups=None):
        if groups is None:
            raise NeuromerError("LeaveOneSubjectOut needs 'groups' (one subject id per window).")
        return len(pd.unique(np.asarray(groups)))


class TrialKFold(BaseCrossValidator):
    """K folds of whole trials; ``groups`` are trial ids (within one subject).

    Parameters
    ----------
    n_splits : int
        Number of folds (at most the number of trials).
    shuffle : bool
        Shuffle trials before assigning them to folds.
    random_state : int | None
        Seed of the shuffle.
    stratify : bool
        When ``y`` is given and constant within each trial, deal the trials of each class over the
        folds in turn, so every fold sees every class when possible.
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = True, random_state: int | None = None,
                 stratify: bool = True) -> None:
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state
        self.stratify = stratify

    def _iter_test_indices(self, X=None, y=None, groups=None):
        groups = _groups_array(groups, len(X), "TrialKFold")
        trials = pd.unique(groups)
        if len(trials) < self.n_splits:
            raise NeuromerError(
                f"TrialKFold: n_splits={self.n_splits} is more than the {len(trials)} trials."
            )
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(len(trials)) if self.shuffle else np.arange(len(trials))
        trials = trials[order]
        fold_of = {}
        labels = self._trial_labels(y, groups, trials)
        if labels is None:
            for i, t in enumerate(trials):
                fold_of[t] = i % self.n_splits
        else:
            i = 0
            for cls in pd.unique(labels):  # deal each class over the folds in turn
                for t in trials[labels == cls]:
                    fold_of[t] = i % self.n_splits
                    i += 1
        fold = np.array([fold_of[g] for g in groups])
        for k in range(self.n_splits):
            yield np.flatnonzero(fold == k)

    def _trial_labels(self, y, groups, trials):
        if not self.stratify or y is None:
            return None
        s = pd.Series(np.asarray(y)).groupby(groups)
        if (s.nunique(dropna=False) > 1).any():
            return None
        first = s.first()
        return first.loc[trials].to_numpy()

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits


class WindowKFold(BaseCrossValidator):
    """Random K-fold over windows, ignoring trials. **Leaks**: for demonstrations only.

    Windows of one trial land in training and test folds, so a model that recognises the trial
    (its stimulus, electrode drift, the subject's state) scores well with no emotion information.
    Constructing it needs ``allow_leakage=True``; every split logs and emits a
    :class:`LeakageWarning`.
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = True, random_state: int | None = None,
                 allow_leakage: bool = False) -> None:
        if not allow_leakage:
            raise NeuromerError(
                "WindowKFold mixes windows of one trial across train and test; pass "
                "allow_leakage=True to use it for a leakage demonstration."
            )
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state
        self.allow_leakage = allow_leakage

    def _iter_test_indices(self, X=None, y=None, groups=None):
        msg = ("WindowKFold: windows of the same trial are in both training and test folds; "
               "scores are inflated and must not be reported as decoding accuracy.")
        logger.warning(msg)
        warnings.warn(msg, LeakageWarning, stacklevel=3)
        n = len(X)
        if n < self.n_splits:
            raise NeuromerError(f"WindowKFold: n_splits={self.n_splits} is more than the {n} windows.")
        rng = np.random.default_rng(self.random_state)
        idx = rng.permutation(n) if self.shuffle else np.arange(n)
        for part in np.array_split(idx, self.n_splits):
            yield np.sort(part)

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits


# --------------------------------------------------------------------------------------------
# metrics


def concordance_correlation(x, y) -> float:
    """Lin's concordance correlation coefficient (1989), population moments.

    ``2 cov(x, y) / (var x + var y + (mean x - mean y)^2)``: 1 only when ``y == x``; a shift or
    a scale change lowers it even though Pearson's r stays 1.

    >>> concordance_correlation([1, 2, 3], [1, 2, 3])
    1.0
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 2:
        return float("nan")
    mx, my = x.mean(), y.mean()
    den = x.var() + y.var() + (mx - my) ** 2
    if den == 0:
        return float("nan")
    return float(2 * np.mean((x - mx) * (y - my)) / den)


def _pearson(x, y) -> float:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney probability that a positive outscores a negative (ties 1/2)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(y_true, y_pred, proba=None, classes=None) -> dict:
    """Accuracy, balanced accuracy, macro F1 and ROC AUC (binary; macro one-vs-rest otherwise).

    Balanced accuracy is the mean recall over the classes present in ``y_true``; macro F1 averages
    over the classes present in ``y_true`` or ``y_pred``. ``proba`` has shape (n, n_classes) with
    columns in ``classes`` order; AUC averages one-vs-rest AUCs over the classes with positives
    and negatives in ``y_true``. An undefined metric is NaN. (Written with numpy: these run for
    every fold of every permutation, where scikit-learn's argument checks dominate.)
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    out = dict.fromkeys(CLASSIFICATION_METRICS, float("nan"))
    if len(y_true) == 0:
        return out
    hit = y_true == y_pred
    out["accuracy"] = float(np.mean(hit))
    present = pd.unique(y_true)
    out["balanced_accuracy"] = float(np.mean([hit[y_true == c].mean() for c in present]))
    f1 = []
    for c in pd.unique(np.concatenate([present, pd.unique(y_pred)])):
        tp = np.sum(hit & (y_true == c))
        denom = np.sum(y_true == c) + np.sum(y_pred == c)
        f1.append(2 * tp / denom if denom else 0.0)
    out["f1_macro"] = float(np.mean(f1))
    if proba is not None and classes is not None and len(present) > 1:
        proba = np.asarray(proba, float)
        classes = list(classes)
        if len(classes) == 2:
            out["roc_auc"] = _auc(y_true == classes[1], proba[:, 1])
        else:
            aucs = [_auc(y_true == c, proba[:, k]) for k, c in enumerate(classes) if c in present]
            out["roc_auc"] = float(np.nanmean(aucs))
    return out


def regression_metrics(y_true, y_pred) -> dict:
    """RMSE, Pearson r and the concordance correlation coefficient (CCC)."""
    y_true = np.asarray(y_true, float)
    y_pred = np.asarray(y_pred, float)
    if len(y_true) == 0:
        return dict.fromkeys(REGRESSION_METRICS, float("nan"))
    return {"rmse": float(np.sqrt(np.mean((y_true - y_pred) ** 2))),
            "pearson_r": _pearson(y_true, y_pred),
            "ccc": concordance_correlation(y_true, y_pred)}


# --------------------------------------------------------------------------------------------
# evaluation


@dataclass
class EvaluationResult:
    """Cross-validated decoding results.

    Attributes
    ----------
    metrics : DataFrame
        One row per (scope, subject, fold, level): ``scope`` is ``"overall"`` (pooled
        predictions), ``"subject"`` or ``"fold"``; ``level`` is ``"window"`` or ``"trial"``
        (trial-aggregated predictions); then ``n`` and one column per metric.
    summary : DataFrame
        Overall metrics with chance: ``level, metric, value, chance`` (mean of the permutation
        null), ``null_std``, ``p_value`` ((k + 1) / (n + 1), one-sided towards better) and
        ``n_permutations``. ``chance`` and ``p_value`` are NaN without permutations.
    predictions_window : DataFrame
        Key columns, ``fold``, ``y_true``, ``y_pred`` and (classification) ``proba_<class>``.
    predictions_trial : DataFrame
        Per (subject, trial): ``n_windows``, ``y_true``, ``y_pred`` (majority vote of windows,
        or mean score) and the mean ``proba_<class>``.
    null : DataFrame
        One row per (permutation, level) with the overall metrics under permuted labels.
    params : dict
        What was evaluated (features, target, estimator, cv, counts...).
    """

    metrics: pd.DataFrame
    summary: pd.DataFrame
    predictions_window: pd.DataFrame
    predictions_trial: pd.DataFrame
    null: pd.DataFrame
    params: dict = field(default_factory=dict)

    def score(self, metric: str | None = None, level: str = "window") -> float:
        """The overall value of ``metric`` (default balanced accuracy, or CCC for scores)."""
        metric = metric or ("balanced_accuracy" if self.params.get("task") == "classification" else "ccc")
        row = self.summary[(self.summary["level"] == level) & (self.summary["metric"] == metric)]
        if row.empty:
            raise NeuromerError(f"Invalid value for the 'metric' parameter: no {metric!r} at level {level!r}.")
        return float(row["value"].iloc[0])

    def p_value(self, metric: str | None = None, level: str = "window") -> float:
        """The permutation p-value of ``metric`` (NaN if no permutations were run)."""
        metric = metric or ("balanced_accuracy" if self.params.get("task") == "classification" else "ccc")
        row = self.summary[(self.summary["level"] == level) & (self.summary["metric"] == metric)]
        return float(row["p_value"].iloc[0]) if not row.empty else float("nan")

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The result as DataFrames ready for Parquet/CSV (params as a one-row frame)."""
        params = {k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
                  for k, v in self.params.items()}
        return {"metrics": self.metrics, "summary": self.summary,
                "predictions_window": self.predictions_window,
                "predictions_trial": self.predictions_trial, "null": self.null,
                "params": pd.DataFrame([params])}

    def save(self, folder: str | os.PathLike, *, format: str = "parquet") -> dict[str, Path]:
        """Write every frame of :meth:`to_frames` as ``<folder>/<name>.<format>`` (atomically)."""
        check_option(format, ("parquet", "csv"), "format")
        folder = Path(folder)
        out = {}
        for name, frame in self.to_frames().items():
            path = folder / f"{name}.{format}"
            frame = frame.copy()
            frame.columns = [str(c) for c in frame.columns]
            with atomic_path(path) as tmp:
                if format == "parquet":
                    # object columns may mix ints and strings (subject ids); store them as text
                    for c in frame.columns[frame.dtypes == object]:
                        frame[c] = frame[c].map(lambda v: v if v is None else str(v))
                    frame.to_parquet(tmp, index=False)
                else:
                    frame.to_csv(tmp, index=False)
            out[name] = path
        return out

    def __repr__(self) -> str:
        p = self.params
        task = p.get("task")
        metric = "balanced_accuracy" if task == "classification" else "ccc"
        try:
            val, pv = self.score(metric), self.p_value(metric)
            row = self.summary[(self.summary["level"] == "window") & (self.summary["metric"] == metric)]
            chance = float(row["chance"].iloc[0])
            stat = f"{metric} {val:.3f}" + ("" if np.isnan(pv) else f" (chance {chance:.3f}, p={pv:.3g})")
        except NeuromerError:
            stat = "no metrics"
        return (f"<EvaluationResult | {p.get('target')} ~ {'+'.join(p.get('features', ()))}, "
                f"{p.get('estimator')}, cv={p.get('cv')}: {stat}, {p.get('n_subjects')} subjects, "
                f"{p.get('n_trials')} trials, {p.get('n_windows')} windows>")


def _fit_predict(model, X, y, train, test, classes, task):
    """Fit a clone on ``train``; predictions (and class scores) for ``test``.

    Classes are re-encoded per fold as 0..k-1 (xgboost needs contiguous labels) and scores are
    placed back into the columns of all ``classes``; a fold whose training set holds one class
    predicts that class.
    """
    ytr = y[train]
    if task == "regression":
        est = clone(model).fit(X[train], ytr.astype(float))
        return est.predict(X[test]).astype(float), None
    local, ytr_code = np.unique(ytr, return_inverse=True)
    cols = np.searchsorted(classes, local)
    proba = np.zeros((len(test), len(classes)))
    if len(local) == 1:
        logger.info("A training fold holds only class %r; predicting it for the test fold.", local[0])
        proba[:, cols[0]] = 1.0
        return np.repeat(local[0], len(test)).astype(classes.dtype), proba
    est = clone(model).fit(X[train], ytr_code)
    if hasattr(est, "predict_proba"):
        p = est.predict_proba(X[test])
    else:  # SVC: squash the decision function into scores that sum to 1 (uncalibrated)
        d = np.asarray(est.decision_function(X[test]), float)
        if d.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-d))
            p = np.column_stack([1 - p1, p1])
        else:
            e = np.exp(d - d.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
    proba[:, cols] = p
    pred = local[np.argmax(p, axis=1)]
    return pred, proba


def _plan(cv: str, subjects, trial_keys, y, n_splits, random_state):
    """(fold id, subject, train indices, test indices) for the scheme; depends on ``y`` only
    through stratification."""
    plan = []
    if cv == "subject":
        n_subj = len(pd.unique(subjects))
        if n_subj < 2:
            raise NeuromerError("cv='subject' needs at least two subjects in the table.")
        for k, (tr, te) in enumerate(LeaveOneSubjectOut().split(subjects, y, groups=subjects)):
            plan.append((k, subjects[te[0]], tr, te))
        return plan
    for subj in pd.unique(subjects):
        idx = np.flatnonzero(subjects == subj)
        groups = trial_keys[idx]
        n_trials = len(pd.unique(groups))
        if n_trials < 2:
            logger.warning("Subject %r has fewer than two trials; skipped.", subj)
            continue
        if cv == "loto":
            splitter = LeaveOneTrialOut()
        elif cv == "trial":
            splitter = TrialKFold(min(n_splits, n_trials), shuffle=True, random_state=random_state)
        else:
            splitter = WindowKFold(min(n_splits, len(idx)), shuffle=True, random_state=random_state,
                                   allow_leakage=True)
        for k, (tr, te) in enumerate(splitter.split(idx, y[idx], groups=groups)):
            plan.append((k, subj, idx[tr], idx[te]))
    if not plan:
        raise NeuromerError("No subject has at least two trials to cross-validate.")
    return plan


def _run_cv(model, X, y, plan, classes, task):
    pred = np.empty(len(y), dtype=y.dtype if task == "classification" else float)
    proba = np.full((len(y), len(classes)), np.nan) if task == "classification" else None
    fold = np.full(len(y), -1)
    for k, _subj, tr, te in plan:
        p, pr = _fit_predict(model, X, y, tr, te, classes, task)
        pred[te] = p
        fold[te] = k
        if proba is not None:
            proba[te] = pr
    return pred, proba, fold


def _trial_aggregate(frame: pd.DataFrame, classes, task) -> pd.DataFrame:
    keys = [c for c in ("subject", "trial", "stimulus_id") if c in frame.columns]
    g = frame.groupby(keys, sort=False, dropna=False)
    out = g.agg(n_windows=("y_true", "size"), y_true=("y_true", "first")).reset_index()
    if task == "regression":
        out["y_pred"] = g["y_pred"].mean().to_numpy()
        return out
    pcols = [f"proba_{c}" for c in classes]
    means = g[pcols].mean().reset_index(drop=True)
    onehot = frame["y_pred"].to_numpy()[:, None] == np.asarray(classes)[None, :]
    votes = pd.DataFrame(onehot.astype(float)).groupby(g.ngroup().to_numpy()).sum().to_numpy()
    # majority vote of windows; ties go to the class with the higher mean score
    votes = votes + 1e-6 * means.to_numpy(float)
    out["y_pred"] = np.asarray(classes)[np.argmax(votes, axis=1)]
    return pd.concat([out, means], axis=1)


def _metrics(frame: pd.DataFrame, classes, task) -> dict:
    if task == "regression":
        return regression_metrics(frame["y_true"], frame["y_pred"])
    proba = frame[[f"proba_{c}" for c in classes]].to_numpy(float)
    return classification_metrics(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy(), proba, classes)


def _overall(frame_w, classes, task) -> dict:
    frame_t = _trial_aggregate(frame_w, classes, task)
    return {"window": _metrics(frame_w, classes, task), "trial": _metrics(frame_t, classes, task)}


def _permute_trials(y, subjects, trial_keys, rng) -> np.ndarray:
    """Shuffle trial labels between the trials of each subject (windows keep their trial's)."""
    out = y.copy()
    for subj in pd.unique(subjects):
        idx = np.flatnonzero(subjects == subj)
        codes, uniq = pd.factorize(trial_keys[idx])
        first = np.array([np.flatnonzero(codes == c)[0] for c in range(len(uniq))])
        labels = y[idx][first]
        out[idx] = labels[rng.permutation(len(uniq))][codes]
    return out


def _null_run(model, X, y, subjects, trial_keys, keys_frame, cv, n_splits, classes, task, seed):
    rng = np.random.default_rng(seed)
    yp = _permute_trials(y, subjects, trial_keys, rng)
    plan = _plan(cv, subjects, trial_keys, yp, n_splits, seed)
    pred, proba, _ = _run_cv(model, X, yp, plan, classes, task)
    frame = _prediction_frame(keys_frame, yp, pred, proba, None, classes)
    return _overall(frame, classes, task)


def _prediction_frame(keys_frame, y, pred, proba, fold, classes):
    frame = keys_frame.copy()
    if fold is not None:
        frame["fold"] = fold
    frame["y_true"] = y
    frame["y_pred"] = pred
    if proba is not None:
        for k, c in enumerate(classes):
            frame[f"proba_{c}"] = proba[:, k]
    return frame


def evaluate(table: pd.DataFrame, *, features=("eeg",), target: str = "arousal",
             estimator="logreg", cv: str = "trial", n_splits: int = 5, threshold: str = "fixed",
             k_best: int | None = None, n_permutations: int = 100, random_state: int = 0,
             n_jobs: int = 1) -> EvaluationResult:
    """Cross-validate a decoder on the aligned table, with permutation chance levels.

    Parameters
    ----------
    table : DataFrame
        The aligned table (one row per window): ``subject``, ``trial`` (other key columns are
        carried into the predictions), feature columns and rating columns.
    features : str | sequence of str
        Feature families, see :func:`~neuromer.models.estimators.feature_columns`.
    target : str
        ``"valence"``, ``"arousal"``, ``"quadrant"``, ``"valence_score"`` or ``"arousal_score"``
        (see :func:`~neuromer.models.estimators.make_target`).
    estimator : str | sklearn estimator
        A name for :func:`~neuromer.models.estimators.make_estimator` (``"logreg"`` is read as
        ``"ridge"`` for score targets) or an unfitted estimator/pipeline (cloned per fold).
    cv : str
        ``"trial"``: :class:`TrialKFold` within each subject (``n_splits`` folds); ``"loto"``:
        leave one trial out within each subject; ``"subject"``: leave one subject out;
        ``"window"``: random window folds within each subject (**leaks**, warns; for
        :func:`leakage_report`). Within-subject predictions are pooled over subjects.
    n_splits : int
        Folds of ``cv="trial"``/``"window"`` (reduced to the number of trials if larger).
    threshold : str
        ``"fixed"`` (rating > 5) or ``"median"`` (above the subject's median) for high/low.
    k_best : int | None
        Univariate feature selection inside the pipeline (fitted on training folds).
    n_permutations : int
        Times the whole cross-validation is rerun with trial labels permuted within subject.
        Cost is ``n_permutations + 1`` cross-validations; ``0`` skips the test.
    random_state : int
        Seed of folds, permutations and stochastic estimators.
    n_jobs : int
        Permutations run in parallel over ``n_jobs`` processes (joblib).

    Returns
    -------
    EvaluationResult
    """
    validate_type(table, pd.DataFrame, "table")
    check_option(cv, CV_SCHEMES, "cv")
    task = target_task(target)
    validate_type(n_splits, (int, np.integer), "n_splits")
    validate_type(n_permutations, (int, np.integer), "n_permutations")
    if n_splits < 2:
        raise NeuromerError(f"Invalid value for the 'n_splits' parameter: expected >= 2, got {n_splits}.")
    if n_permutations < 0:
        raise NeuromerError(f"Invalid value for the 'n_permutations' parameter: expected >= 0, got {n_permutations}.")
    for col in ("subject", "trial"):
        if col not in table.columns:
            raise NeuromerError(f"The table has no {col!r} column.")
    cols = feature_columns(table, features)
    y_all = make_target(table, target, threshold=threshold)
    keep = y_all.notna().to_numpy()
    if not keep.all():
        logger.info("evaluate: dropping %d windows without a %s label.", int((~keep).sum()), target)
    data = table.loc[keep].reset_index(drop=True)
    y = y_all[keep].to_numpy()
    if task == "classification":
        y = y.astype(object) if target == "quadrant" else y.astype(int)
    if len(y) == 0:
        raise NeuromerError(f"The table has no windows with a {target!r} label.")
    X = data[cols].to_numpy(float)
    subjects = data["subject"].to_numpy()
    trial_keys = (data["subject"].astype(str) + "\x1f" + data["trial"].astype(str)).to_numpy()
    if isinstance(estimator, str):
        name = "ridge" if (task == "regression" and estimator == "logreg") else estimator
        model = make_estimator(name, task, k_best=k_best, random_state=random_state)
    else:
        model, name = estimator, type(estimator).__name__
        if not hasattr(model, "fit"):
            raise NeuromerError(f"Invalid value for the 'estimator' parameter: {model!r} has no fit method.")
    classes = np.array(sorted(pd.unique(y))) if task == "classification" else np.array([])
    if task == "classification" and target != "quadrant":
        classes = np.array([0, 1])
    if task == "classification" and len(pd.unique(y)) < 2:
        raise NeuromerError(f"Target {target!r} has a single class in the table; nothing to decode.")
    if n_permutations and not _constant_within_trials(y, trial_keys):
        raise NeuromerError(f"Target {target!r} varies within a trial; trial-level permutation needs one label per trial.")

    keys_frame = data[[c for c in KEY_COLUMNS if c in data.columns]].reset_index(drop=True)
    plan = _plan(cv, subjects, trial_keys, y, n_splits, random_state)
    pred, proba, fold = _run_cv(model, X, y, plan, classes, task)
    frame_w = _prediction_frame(keys_frame, y, pred, proba, fold, classes)
    frame_t = _trial_aggregate(frame_w, classes, task)

    rows = []
    for level, frame in (("window", frame_w), ("trial", frame_t)):
        rows.append({"scope": "overall", "subject": None, "fold": None, "level": level,
                     "n": len(frame), **_metrics(frame, classes, task)})
        for subj, sub in frame.groupby("subject", sort=False):
            rows.append({"scope": "subject", "subject": subj, "fold": None, "level": level,
                         "n": len(sub), **_metrics(sub, classes, task)})
    for k, subj, _tr, te in plan:
        sub = frame_w.iloc[te]
        rows.append({"scope": "fold", "subject": subj, "fold": k, "level": "window", "n": len(sub),
                     **_metrics(sub, classes, task)})
    metrics = pd.DataFrame(rows)
    metrics["fold"] = metrics["fold"].astype("Int64")

    observed = {"window": _metrics(frame_w, classes, task), "trial": _metrics(frame_t, classes, task)}
    null_rows = []
    if n_permutations:
        seeds = np.random.SeedSequence(random_state).generate_state(n_permutations)
        args = (model, X, y, subjects, trial_keys, keys_frame, cv, n_splits, classes, task)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LeakageWarning)
            if n_jobs == 1:
                runs = [_null_run(*args, int(s)) for s in seeds]
            else:
                from joblib import Parallel, delayed
                runs = Parallel(n_jobs=n_jobs)(delayed(_null_run)(*args, int(s)) for s in seeds)
        for i, run in enumerate(runs):
            for level, vals in run.items():
                null_rows.append({"permutation": i, "level": level, **vals})
    names = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    null = pd.DataFrame(null_rows, columns=["permutation", "level", *names])
    summary = []
    for level, vals in observed.items():
        for m in names:
            nd = null.loc[null["level"] == level, m].to_numpy(float)
            nd = nd[~np.isnan(nd)]
            v = vals[m]
            if len(nd) and not np.isnan(v):
                k = np.sum(nd <= v) if m in _LOWER_IS_BETTER else np.sum(nd >= v)
                p, chance, sd = (k + 1) / (len(nd) + 1), float(nd.mean()), float(nd.std())
            else:
                p = chance = sd = float("nan")
            summary.append({"level": level, "metric": m, "value": v, "chance": chance,
                            "null_std": sd, "p_value": p, "n_permutations": len(nd)})
    params = {"features": tuple(features) if not isinstance(features, str) else (features,),
              "feature_columns": tuple(cols), "target": target, "task": task, "estimator": name,
              "cv": cv, "n_splits": n_splits, "threshold": threshold, "k_best": k_best,
              "n_permutations": n_permutations, "random_state": random_state,
              "n_subjects": len(pd.unique(subjects)), "n_trials": len(pd.unique(trial_keys)),
              "n_windows": len(y), "classes": tuple(str(c) for c in classes)}
    result = EvaluationResult(metrics, pd.DataFrame(summary), frame_w, frame_t, null, params)
    logger.info("%r", result)
    return result


def _constant_within_trials(y, trial_keys) -> bool:
    return bool((pd.Series(y).groupby(trial_keys).nunique(dropna=False) <= 1).all())


def leakage_report(table: pd.DataFrame, *, features=("eeg",), target: str = "arousal",
                   estimator="logreg", n_splits: int = 5, threshold: str = "fixed",
                   n_permutations: int = 0, random_state: int = 0, n_jobs: int = 1) -> pd.DataFrame:
    """The same model and data with trial-wise CV and with random window CV, side by side.

    Returns
    -------
    DataFrame
        Index ``cv`` = ``"trial"`` (:class:`TrialKFold`, the honest estimate) and ``"window"``
        (:class:`WindowKFold`, leaks), window-level overall metrics as columns, plus ``chance``
        and ``p_value`` of the headline metric (balanced accuracy or CCC) when
        ``n_permutations > 0``. ``df.attrs["inflation"]`` holds window minus trial per metric.
    """
    rows = {}
    for cv in ("trial", "window"):
        with warnings.catch_warnings():
            if cv == "window":  # the user asked for the comparison; say it once, in the log
                warnings.simplefilter("ignore", LeakageWarning)
            res = evaluate(table, features=features, target=target, estimator=estimator, cv=cv,
                           n_splits=n_splits, threshold=threshold, n_permutations=n_permutations,
                           random_state=random_state, n_jobs=n_jobs)
        s = res.summary[res.summary["level"] == "window"].set_index("metric")
        row = s["value"].to_dict()
        head = "balanced_accuracy" if res.params["task"] == "classification" else "ccc"
        row["chance"] = s.loc[head, "chance"]
        row["p_value"] = s.loc[head, "p_value"]
        rows[cv] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "cv"
    metric_cols = [c for c in out.columns if c not in ("chance", "p_value")]
    out.attrs["inflation"] = (out.loc["window", metric_cols] - out.loc["trial", metric_cols]).to_dict()
    return out
