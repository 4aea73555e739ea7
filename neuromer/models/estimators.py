"""Estimators, feature sets and targets for decoding emotion from the aligned table.

The aligned table has one row per (subject, trial, window): key columns
:data:`neuromer.windows.KEY_COLUMNS`, feature columns prefixed ``eeg_``, ``physio_`` and
``audio_``, and the self-report columns :data:`neuromer.session.LABEL_NAMES` (1-9, constant within
a trial). Predictions stored back in such a table (``audio_pred_*``, ``eeg_pred_*``...) are never
features.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .._checks import check_option, validate_type
from .._logging import logger
from ..errors import NeuromerError

#: Estimator names per task; ``svm`` is accepted for regression as an alias of ``svr``.
ESTIMATORS = {
    "classification": ("logreg", "svm", "rf", "xgboost", "gnb"),
    "regression": ("ridge", "svr", "rf", "xgboost"),
}
#: Feature families (column prefixes); ``fusion`` is EEG + physiological features.
FAMILIES = ("eeg", "physio", "audio", "fusion")
#: Decoding targets and their task.
TARGETS = {
    "valence": "classification", "arousal": "classification", "quadrant": "classification",
    "valence_score": "regression", "arousal_score": "regression",
}
#: Middle of the 1-9 SAM scale. Koelstra et al. (2012), "DEAP: a database for emotion analysis
#: using physiological signals", IEEE Trans. Affective Computing 3(1), Sec. 6.1, threshold each
#: rating scale "in the middle" to form high/low classes; we call a rating high when it is > 5
#: (a rating of exactly 5 is low).
FIXED_THRESHOLD = 5.0
#: Russell's circumplex quadrants: Q1 high valence/high arousal, Q2 low/high, Q3 low/low,
#: Q4 high valence/low arousal (the convention of the 4-quadrant music-emotion datasets).
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")

_PREDICTION_COLUMN = re.compile(r"^(eeg|physio|audio)_pred_")


def target_task(target: str) -> str:
    """``"classification"`` or ``"regression"`` for a target name."""
    check_option(target, TARGETS, "target")
    return TARGETS[target]


def make_estimator(name: str = "logreg", task: str = "classification", *,
                   k_best: int | None = None, random_state: int | None = None) -> Pipeline:
    """A pipeline ``SimpleImputer(median) -> StandardScaler -> [SelectKBest] -> estimator``.

    Imputation and scaling are steps of the pipeline, so under cross-validation they are fitted
    on the training folds only.

    Parameters
    ----------
    name : str
        Classification: ``"logreg"`` (L2 logistic regression), ``"svm"`` (RBF SVC), ``"rf"``
        (random forest), ``"xgboost"`` (gradient-boosted trees) or ``"gnb"`` (Gaussian naive
        Bayes, the classifier of the DEAP paper). Regression: ``"ridge"``, ``"svr"`` (alias
        ``"svm"``), ``"rf"`` or ``"xgboost"``.
    task : str
        ``"classification"`` or ``"regression"``.
    k_best : int | None
        Keep the ``k_best`` features with the highest univariate F statistic (ANOVA F for
        classes, a monotone cousin of the Fisher criterion DEAP used; correlation F for scores).
        ``None`` keeps all.
    random_state : int | None
        Seed of the stochastic estimators (rf, xgboost).

    Returns
    -------
    Pipeline
        Steps ``impute``, ``scale``, optionally ``select``, then ``model``.

    Examples
    --------
    >>> make_estimator("gnb").steps[-1][0]
    'model'
    """
    check_option(task, ESTIMATORS, "task")
    if task == "regression" and name == "svm":
        name = "svr"
    check_option(name, ESTIMATORS[task], "estimator")
    if k_best is not None:
        validate_type(k_best, (int, np.integer), "k_best")
        if k_best < 1:
            raise NeuromerError(f"Invalid value for the 'k_best' parameter: expected >= 1, got {k_best}.")
    model = _model(name, task, random_state)
    steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
             ("scale", StandardScaler())]
    if k_best is not None:
        score = f_classif if task == "classification" else f_regression
        steps.append(("select", SelectKBest(score, k=int(k_best))))
    steps.append(("model", model))
    return Pipeline(steps)


def _model(name: str, task: str, random_state: int | None):
    if task == "classification":
        if name == "logreg":
            from sklearn.linear_model import LogisticRegression
            return LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
        if name == "svm":
            # no probability=True (deprecated in scikit-learn 1.9 and fitted by an internal,
            # window-level CV); evaluation turns the decision function into scores instead
            from sklearn.svm import SVC
            return SVC(kernel="rbf", C=1.0, class_weight="balanced")
        if name == "rf":
            from sklearn.ensemble import RandomForestClassifier
            return RandomForestClassifier(n_estimators=100, min_samples_leaf=2, class_weight="balanced",
                                          n_jobs=1, random_state=random_state)
        if name == "xgboost":
            from xgboost import XGBClassifier
            return XGBClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, subsample=0.8,
                                 tree_method="hist", n_jobs=1, random_state=random_state)
        from sklearn.naive_bayes import GaussianNB
        return GaussianNB()
    if name == "ridge":
        from sklearn.linear_model import Ridge
        return Ridge(alpha=1.0)
    if name == "svr":
        from sklearn.svm import SVR
        return SVR(kernel="rbf", C=1.0)
    if name == "rf":
        from sklearn.ensemble import RandomForestRegressor
        return RandomForestRegressor(n_estimators=100, min_samples_leaf=2, n_jobs=1,
                                     random_state=random_state)
    from xgboost import XGBRegressor
    return XGBRegressor(n_estimators=100, max_depth=3, learning_rate=0.1, subsample=0.8,
                        tree_method="hist", n_jobs=1, random_state=random_state)


def feature_columns(table: pd.DataFrame, families: str | Iterable[str] = ("eeg",)) -> list[str]:
    """Names of the feature columns of the chosen families, in table order.

    Parameters
    ----------
    table : DataFrame
        The aligned table.
    families : str | sequence of str
        Any of ``"eeg"``, ``"physio"``, ``"audio"`` (column prefixes) and ``"fusion"``
        (= eeg + physio).

    Returns
    -------
    list of str
        Columns starting with ``<family>_``, excluding stored predictions (``audio_pred_*``,
        ``eeg_pred_*``, ``physio_pred_*``), which would leak targets into features.
    """
    validate_type(table, pd.DataFrame, "table")
    if isinstance(families, str):
        families = (families,)
    families = list(families)
    if not families:
        raise NeuromerError("Invalid value for the 'features' parameter: no feature family given.")
    prefixes: list[str] = []
    for fam in families:
        check_option(fam, FAMILIES, "features")
        prefixes += ["eeg", "physio"] if fam == "fusion" else [fam]
    prefixes = tuple(f"{p}_" for p in dict.fromkeys(prefixes))
    cols = [c for c in table.columns
            if isinstance(c, str) and c.startswith(prefixes) and not _PREDICTION_COLUMN.match(c)]
    if not cols:
        raise NeuromerError(
            f"The table has no feature columns for features={tuple(families)} "
            f"(expected columns starting with {', '.join(prefixes)})."
        )
    return cols


def make_target(table: pd.DataFrame, target: str = "arousal", *,
                threshold: str = "fixed") -> pd.Series:
    """The decoding target for every row of the table.

    Parameters
    ----------
    table : DataFrame
        Needs the rating columns ``valence`` and/or ``arousal`` (1-9) and, for
        ``threshold="median"``, ``subject``.
    target : str
        ``"valence"`` / ``"arousal"``: 1 = high, 0 = low; ``"quadrant"``: Russell's quadrant
        ``"Q1".."Q4"`` (see :data:`QUADRANTS`) from high/low valence and arousal;
        ``"valence_score"`` / ``"arousal_score"``: the rating itself (float, regression).
    threshold : str
        ``"fixed"``: high if the rating is > 5, the middle of the 1-9 scale as in DEAP
        (:data:`FIXED_THRESHOLD`); ``"median"``: high if above the subject's median rating,
        the median taken over trials (not windows) so long trials do not weigh more. The
        median uses the labels only, never features.

    Returns
    -------
    Series
        Same index as ``table``, named ``target``. Rows with a missing rating are NaN (binary
        targets are then float) or None (quadrant).
    """
    validate_type(table, pd.DataFrame, "table")
    check_option(target, TARGETS, "target")
    check_option(threshold, ("fixed", "median"), "threshold")
    dims = ("valence", "arousal") if target == "quadrant" else (target.removesuffix("_score"),)
    for dim in dims:
        if dim not in table.columns:
            raise NeuromerError(f"The table has no {dim!r} column needed for target={target!r}.")
    if target.endswith("_score"):
        return pd.Series(table[dims[0]].to_numpy(float), index=table.index, name=target)
    high = {dim: _high(table, dim, threshold) for dim in dims}
    if target != "quadrant":
        h = high[target]
        out = pd.Series(np.where(np.isnan(h), np.nan, h), index=table.index, name=target)
        return out.astype(int) if not out.isna().any() else out
    return pd.Series(quadrant(high["valence"], high["arousal"]), index=table.index, name=target)


def _high(table: pd.DataFrame, dim: str, threshold: str) -> np.ndarray:
    """1.0 where the rating is high, 0.0 where low, NaN where missing."""
    r = table[dim].to_numpy(float)
    if threshold == "fixed":
        thr = np.full(len(r), FIXED_THRESHOLD)
    else:
        if "subject" not in table.columns:
            raise NeuromerError("The table has no 'subject' column needed for threshold='median'.")
        keys = [c for c in ("subject", "trial") if c in table.columns]
        per_trial = table[keys + [dim]].drop_duplicates(keys)
        med = per_trial.groupby("subject")[dim].median()
        thr = table["subject"].map(med).to_numpy(float)
    out = (r > thr).astype(float)
    out[np.isnan(r)] = np.nan
    return out


def quadrant(valence_high, arousal_high) -> np.ndarray:
    """Russell quadrant labels from high/low valence and arousal (1/0/True/False, NaN missing).

    >>> list(quadrant([1, 0, 0, 1], [1, 1, 0, 0]))
    ['Q1', 'Q2', 'Q3', 'Q4']
    """
    v = np.asarray(valence_high, dtype=float)
    a = np.asarray(arousal_high, dtype=float)
    names = np.array([["Q3", "Q4"], ["Q2", "Q1"]], dtype=object)  # [arousal][valence]
    ok = ~(np.isnan(v) | np.isnan(a))
    out = np.full(v.shape, None, dtype=object)
    out[ok] = names[a[ok].astype(int), v[ok].astype(int)]
    if not ok.all():
        logger.debug("quadrant: %d rows with a missing rating", int((~ok).sum()))
    return out
