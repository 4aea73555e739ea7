"""Honest evaluation of music-emotion recognition (MER) from clip features.

Two protocols side by side, on the same classifier:

- ``"stratified"``: the protocol of Panda, Malheiro & Paiva (2018), "Novel audio features for music
  emotion recognition", IEEE Trans. Affective Computing 11(4): stratified 10-fold cross-validation
  repeated 20 times, macro-F1 as mean +- sd over the repetitions.
- ``"artist"``: the same, with folds grouped by artist (scikit-learn's ``StratifiedGroupKFold``), so
  no artist has clips on both sides. Clips of one artist share production, voice and style; a
  model that recognises the artist scores well on stratified folds without recognising the emotion
  (173 of the 500 clips of one 4QAED copy share an artist with another clip).

Every step that learns from data (imputation, scaling, univariate feature selection, the classifier
and its hyper-parameter search) is a step of one scikit-learn ``Pipeline`` fitted on the training
folds only, so selecting features on all clips (a classic leak) cannot happen.

The **ablation** (:func:`ablation`) asks what the novel feature families of Panda et al. (melody,
expressive techniques, texture; :func:`feature_families`) add to the baseline features at an equal
number of selected features, paired over the same folds and repetitions, with a confidence interval
from a bootstrap over artists (clusters) of the out-of-fold predictions.

Per repetition, the macro-F1 is computed on the pooled out-of-fold predictions (every clip predicted
once); ``f1_sd`` is the standard deviation of that figure over the repetitions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_option, validate_type
from .._logging import logger
from ..errors import NeuromerError

PROTOCOLS = ("stratified", "artist")
CLASSIFIERS = ("svm", "logreg", "xgboost", "ensemble")
#: Feature families of Panda et al. (2018), Sec. 3 (the "novel" features) by column stem; every
#: other ``audio_`` column is "baseline" (spectral, MFCC, chroma, loudness, tempo, key, ...).
#: Dynamics (crescendo/decrescendo, note intensity) and articulation count as expressive, as in the
#: paper's "expressive techniques" and "dynamics" groups merged here.
_EXPRESSIVE = ("melody_staccato", "melody_legato", "melody_gap_rel", "melody_glissando", "melody_vibrato",
               "tremolo_", "melody_intensity", "melody_crescendo", "melody_decrescendo")
NOVEL_FAMILIES = ("melody", "expressive", "texture")
#: Families the ablation pools as "baseline": neuromer's harmony/dissonance/timbre-shape family
#: (roughness, inharmonicity, tonal centroid, key clarity over time, MFCC moments, ...) is of the
#: kind Panda et al. count as baseline (MIRtoolbox/Marsyas/PsySound features).
BASELINE_FAMILIES = ("baseline", "timbre_harmony")


def feature_families(columns) -> dict[str, list[str]]:
    """Split ``audio_`` feature columns into ``baseline``, ``timbre_harmony``, ``melody``, ``expressive`` and ``texture``.

    Parameters
    ----------
    columns : iterable of str
        Column names (``audio_`` prefix; ``audio_vocal_`` melody columns of the separated voice
        join the family of their stem; ``audio_pred_*`` predictions are ignored).

    Returns
    -------
    dict of str -> list of str
        The five families, in column order; every feature column is in exactly one.
        ``timbre_harmony`` holds the columns of :mod:`neuromer.audio._timbre_stats` (roughness,
        inharmonicity, crest factor, tonnetz, local key clarity/mode strength, MFCC skewness and
        kurtosis, low-energy rate, dynamic range, inter-onset regularity).

    Examples
    --------
    >>> fam = feature_families(["audio_rms_db_mean", "audio_melody_pitch_mean",
    ...                         "audio_melody_vibrato_rate_hz", "audio_texture_layers_mean"])
    >>> {k: len(v) for k, v in fam.items()}
    {'baseline': 1, 'timbre_harmony': 0, 'melody': 1, 'expressive': 1, 'texture': 1}
    """
    from ._timbre_stats import is_family_column

    out: dict[str, list[str]] = {"baseline": [], "timbre_harmony": [], "melody": [], "expressive": [], "texture": []}
    for col in columns:
        col = str(col)
        if not col.startswith("audio_") or col.startswith("audio_pred_"):
            continue
        stem = col[len("audio_"):]
        if stem.startswith("vocal_"):
            stem = stem[len("vocal_"):]
        if stem.startswith("texture_"):
            out["texture"].append(col)
        elif stem.startswith(_EXPRESSIVE):
            out["expressive"].append(col)
        elif stem.startswith("melody_"):
            out["melody"].append(col)
        elif is_family_column(stem):
            out["timbre_harmony"].append(col)
        else:
            out["baseline"].append(col)
    return out


TRANSFORMS = ("standard", "yeo-johnson")


def mer_pipeline(classifier: str = "svm", *, k_best: int | None = None, tune: bool = True,
                 random_state: int = 0, transform: str = "standard", k_grid=None):
    """Imputer -> scaler -> [SelectKBest(ANOVA F)] -> classifier, all fitted on training folds only.

    Parameters
    ----------
    classifier : ``"svm"`` | ``"logreg"`` | ``"xgboost"`` | ``"ensemble"``
        RBF support-vector machine (the classifier of Panda et al.), L2 logistic regression,
        gradient-boosted trees, or the soft vote of the three (probabilities averaged; the SVM's
        from Platt scaling).
    k_best : int | None
        Number of features kept by the univariate ANOVA F test; ``None`` keeps all
        (:func:`evaluate_mer` caps it at the number of columns).
    tune : bool
        Choose the SVM's ``C`` and kernel width (``gamma`` = 0.5, 1 or 2 / number of features) or
        the logistic ``C`` by an inner 3-fold stratified search on the training folds
        (``GridSearchCV``); XGBoost and the ensemble are not tuned.
    random_state : int
        Seed of XGBoost and of the inner folds.
    transform : ``"standard"`` | ``"yeo-johnson"``
        Per-feature scaling: z-scores, or a Yeo-Johnson power transform to near-normal shape first
        (many audio statistics are skewed: flatness, flux, melody counts).
    k_grid : sequence of int | None
        Candidate numbers of selected features, chosen by the inner search together with the
        classifier's parameters (needs ``tune``; overrides ``k_best``).

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``impute``, ``scale``, then ``select`` (with ``k_best``) and ``model``; when tuned, the last
        two sit in a ``GridSearchCV`` step named ``search`` (imputation and scaling, which ignore the
        labels, are fitted on the whole training fold before it).
    """
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PowerTransformer, StandardScaler

    check_option(classifier, CLASSIFIERS, "classifier")
    check_option(transform, TRANSFORMS, "transform")
    if k_grid is not None:
        k_grid = [int(k) for k in k_grid]
        if not k_grid or min(k_grid) < 1:
            raise NeuromerError(f"Invalid value for the 'k_grid' parameter: expected numbers >= 1, got {k_grid}.")
        k_best = max(k_grid)
    if k_best is not None:
        validate_type(k_best, (int, np.integer), "k_best")
        if k_best < 1:
            raise NeuromerError(f"Invalid value for the 'k_best' parameter: expected >= 1, got {k_best}.")
    scaler = StandardScaler() if transform == "standard" else PowerTransformer(method="yeo-johnson")
    steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True)), ("scale", scaler)]
    if k_best is not None:
        steps.append(("select", SelectKBest(f_classif, k=int(k_best))))
    grid = {}
    from ._svc import RelativeGammaSVC as svc
    if classifier == "svm":
        model = svc(C=4.0, gamma_scale=1.0, class_weight="balanced")
        grid = {"model__C": [1.0, 4.0, 16.0], "model__gamma_scale": [0.5, 1.0, 2.0]}
    elif classifier == "logreg":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)
        grid = {"model__C": [0.01, 0.1, 1.0]}
    elif classifier == "xgboost":
        model = _xgboost(random_state)
    else:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import VotingClassifier
        from sklearn.linear_model import LogisticRegression

        # the SVM's probabilities by Platt scaling on 3 internal folds (sklearn's replacement of
        # SVC(probability=True)); one SVM refitted on all training clips
        platt = CalibratedClassifierCV(svc(C=2.0, gamma_scale=1.0, class_weight="balanced"), method="sigmoid",
                                       cv=3, ensemble=False)
        model = VotingClassifier([
            ("svm", platt),
            ("logreg", LogisticRegression(C=0.01, class_weight="balanced", max_iter=3000)),
            ("xgboost", _xgboost(random_state))], voting="soft")
    if k_grid is not None and tune:
        grid["select__k"] = sorted(set(k_grid))
    if not (tune and grid):
        return Pipeline(steps + [("model", model)])
    # imputation and scaling learn nothing from the labels: fitted once per training fold, before
    # the inner search, instead of once per candidate and inner fold (the power transform is slow);
    # the outer test fold still never reaches any fit
    inner = StratifiedKFold(3, shuffle=True, random_state=random_state)
    search = GridSearchCV(Pipeline(steps[2:] + [("model", model)]), grid, scoring="f1_macro", cv=inner, n_jobs=1)
    return Pipeline(steps[:2] + [("search", search)])


def _xgboost(random_state: int):
    from xgboost import XGBClassifier

    # shallow trees, a slow learning rate and column subsampling: 900 clips and ~400 features
    return XGBClassifier(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8,
                         colsample_bytree=0.5, tree_method="hist", n_jobs=1, random_state=random_state)


def artist_groups(artists, n: int | None = None) -> np.ndarray:
    """Integer group per clip: one group per artist (case and spacing ignored), unknown = own group.

    Parameters
    ----------
    artists : sequence of str | None
        Artist of each clip (``None``/NaN/empty when unknown).

    Returns
    -------
    ndarray of int, shape (n_clips,)
    """
    s = pd.Series(list(artists), dtype=object)
    key = s.map(lambda a: " ".join(str(a).casefold().split()) if isinstance(a, str) and a.strip() else None)
    codes = pd.factorize(key)[0]
    unknown = codes < 0
    codes[unknown] = codes.max(initial=-1) + 1 + np.arange(unknown.sum())
    return codes


def repeated_splits(y, groups=None, *, protocol: str = "stratified", n_splits: int = 10,
                    n_repeats: int = 20, random_state: int = 0):
    """Folds of a repeated (grouped) stratified cross-validation.

    Parameters
    ----------
    y : array-like, shape (n_clips,)
        Class labels.
    groups : array-like, shape (n_clips,) | None
        Artist group per clip (:func:`artist_groups`); needed for ``protocol="artist"``.
    protocol : ``"stratified"`` | ``"artist"``
        ``StratifiedKFold`` or ``StratifiedGroupKFold`` (no group on both sides).
    n_splits, n_repeats : int
        Folds per repetition and repetitions; repetition ``r`` shuffles with seed
        ``random_state + r``.

    Yields
    ------
    (repeat, fold, train_idx, test_idx)
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    check_option(protocol, PROTOCOLS, "protocol")
    for value, name, low in ((n_splits, "n_splits", 2), (n_repeats, "n_repeats", 1)):
        validate_type(value, (int, np.integer), name)
        if value < low:
            raise NeuromerError(f"Invalid value for the '{name}' parameter: expected >= {low}, got {value}.")
    y = np.asarray(y)
    counts = pd.Series(y).value_counts()
    if counts.min() < n_splits:
        raise NeuromerError(f"Stratified {n_splits}-fold cross-validation needs >= {n_splits} clips per "
                            f"class; class {counts.idxmin()!r} has {counts.min()}.")
    if protocol == "artist":
        if groups is None:
            raise NeuromerError("protocol='artist' needs the artist of each clip (groups).")
        groups = np.asarray(groups)
        if len(np.unique(groups)) < n_splits:
            raise NeuromerError(f"Artist-grouped {n_splits}-fold cross-validation needs >= {n_splits} "
                                f"artists; got {len(np.unique(groups))}.")
    for r in range(n_repeats):
        if protocol == "artist":
            cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state + r)
            splits = cv.split(np.zeros(len(y)), y, groups)
        else:
            cv = StratifiedKFold(n_splits, shuffle=True, random_state=random_state + r)
            splits = cv.split(np.zeros(len(y)), y)
        for k, (train, test) in enumerate(splits):
            yield r, k, train, test


def macro_f1(y_true, y_pred) -> float:
    """Macro-averaged F1 over the classes present in ``y_true`` or ``y_pred``.

    >>> macro_f1(["a", "a", "b"], ["a", "b", "b"])
    0.6666666666666666
    """
    classes, codes = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]), return_inverse=True)
    n = len(codes) // 2
    return _macro_f1_codes(codes[:n], codes[n:], len(classes))


def _macro_f1_codes(t: np.ndarray, p: np.ndarray, k: int) -> float:
    """Macro F1 of integer labels 0..k-1 (a confusion matrix by bincount: the bootstrap calls it often)."""
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(cm)
    denom = cm.sum(0) + cm.sum(1)
    present = denom > 0
    return float(np.mean(2 * tp[present] / denom[present])) if present.any() else float("nan")


@dataclass
class MERResult:
    """Repeated cross-validation results of one feature set and classifier.

    Attributes
    ----------
    summary : DataFrame
        One row per protocol: ``protocol, n_clips, n_features, n_splits, n_repeats, f1_mean, f1_sd,
        accuracy_mean, accuracy_sd`` (over repetitions, each pooled over its folds).
    repeats : DataFrame
        One row per (protocol, repeat): ``f1_macro``, ``accuracy``.
    folds : DataFrame
        One row per (protocol, repeat, fold): ``n_train, n_test, f1_macro, accuracy``.
    predictions : dict of str -> ndarray, shape (n_repeats, n_clips)
        Out-of-fold predicted labels per protocol.
    params : dict
    """

    summary: pd.DataFrame
    repeats: pd.DataFrame
    folds: pd.DataFrame
    predictions: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = [f"{r.protocol} F1 {r.f1_mean:.3f} +- {r.f1_sd:.3f}" for r in self.summary.itertuples()]
        return f"<MERResult | {', '.join(parts)}>"


def _oof_predictions(estimator, X, y, splits, n_repeats: int, n: int):
    """Out-of-fold predictions per repeat and the per-fold scores."""
    from sklearn.base import clone

    pred = np.full((n_repeats, n), -1, dtype=int)
    rows = []
    for r, k, train, test in splits:
        model = clone(estimator)
        search = model.named_steps.get("search")
        # (min over the classes of y: a class absent from the training fold counts 0; `initial`
        # must not be passed to min, it would cap the minimum at 0 and never tune)
        smallest = int(np.bincount(y[train], minlength=int(y.max()) + 1).min())
        if "model__svm__cv" in model.get_params():
            # the ensemble's Platt scaling: one clip per class in each of its internal folds
            if smallest < 2:
                raise NeuromerError(f"classifier='ensemble' needs >= 2 training clips per class; a training "
                                    f"fold has {smallest}. Use fewer folds or another classifier.")
            model.set_params(model__svm__cv=min(3, smallest))
        if search is not None:
            # the inner search needs >= 2 training clips per class in each of its folds
            if smallest < 2 * search.cv.n_splits:
                search = search.estimator if smallest < 4 else search.set_params(cv=type(search.cv)(
                    smallest // 2, shuffle=True, random_state=search.cv.random_state))
                model.steps[-1] = ("search", search)
        with warnings.catch_warnings():
            # constant columns (a melody feature absent from every training clip) score F = NaN and
            # are simply not selected; sklearn's per-fold warning about them is noise here
            warnings.filterwarnings("ignore", message=r"(?s)Features .* are constant", category=UserWarning)
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="sklearn.feature_selection")
            model = model.fit(X[train], y[train])
        p = np.asarray(model.predict(X[test])).astype(int)
        pred[r, test] = p
        rows.append({"repeat": r, "fold": k, "n_train": len(train), "n_test": len(test),
                     "f1_macro": macro_f1(y[test], p), "accuracy": float(np.mean(p == y[test]))})
    return pred, pd.DataFrame(rows)


def _as_matrix(X) -> tuple[np.ndarray, list[str]]:
    if isinstance(X, pd.DataFrame):
        return X.to_numpy(dtype=float), [str(c) for c in X.columns]
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise NeuromerError(f"Invalid shape for the 'X' parameter: expected (n_clips, n_features), got {X.shape}.")
    return X, [f"x{i}" for i in range(X.shape[1])]



def _protocols_and_pipeline(protocols, groups, n_features: int, classifier: str, *, k_best, tune, random_state,
                            transform, k_grid):
    """The checked protocols (artist-grouped dropped, with a warning, when no artists are known), the
    unfitted MER pipeline for ``n_features`` columns, and ``k_best``/``k_grid`` capped at that."""
    protocols = [check_option(p, PROTOCOLS, "protocol") for p in protocols]
    if groups is None and "artist" in protocols:
        logger.warning("no artists known: only the stratified protocol is evaluated")
        protocols = [p for p in protocols if p != "artist"]
    if k_best is not None and k_best >= n_features:
        k_best = None  # every column is kept anyway
    if k_grid is not None:
        k_grid = sorted({min(int(k), n_features) for k in k_grid})
    est = mer_pipeline(classifier, k_best=k_best, tune=tune, random_state=random_state, transform=transform,
                       k_grid=k_grid)
    return protocols, est, k_best, k_grid

def evaluate_mer(X, y, groups=None, *, protocols=PROTOCOLS, classifier: str = "svm",
                 k_best: int | None = None, tune: bool = True, n_splits: int = 10, n_repeats: int = 20,
                 random_state: int = 0, progress=None, transform: str = "standard", k_grid=None) -> MERResult:
    """Repeated cross-validated macro-F1 of a classifier on clip features, per protocol.

    Parameters
    ----------
    X : DataFrame | ndarray, shape (n_clips, n_features)
        Clip features (NaN allowed: imputed inside the folds).
    y : array-like, shape (n_clips,)
        Class labels (e.g. quadrants ``Q1``..``Q4``).
    groups : array-like, shape (n_clips,) | None
        Artist group per clip (:func:`artist_groups`); without it only ``"stratified"`` runs.
    protocols : sequence of str
        Any of ``"stratified"`` (Panda et al. 2018) and ``"artist"`` (grouped by artist).
    classifier, k_best, tune, transform, k_grid :
        See :func:`mer_pipeline` (``k_best`` and ``k_grid`` are capped at the number of columns).
    n_splits, n_repeats : int
        10 and 20 in Panda et al. (2018).
    random_state : int
        Seed of the folds (repetition ``r`` uses ``random_state + r``) and the classifier.
    progress : callable | None
        Called as ``progress(protocol, repeat)`` after each repetition.

    Returns
    -------
    MERResult
    """
    X, names = _as_matrix(X)
    labels = np.asarray(y)
    if len(labels) != len(X):
        raise NeuromerError(f"X has {len(X)} clips but y has {len(labels)} labels.")
    # integer classes 0..k-1 inside (XGBoost needs them); labels are restored in the predictions
    classes, y = np.unique(labels, return_inverse=True)
    protocols, est, k_best, k_grid = _protocols_and_pipeline(
        protocols, groups, X.shape[1], classifier, k_best=k_best, tune=tune, random_state=random_state,
        transform=transform, k_grid=k_grid)
    summary, repeats, folds, preds = [], [], [], {}
    for protocol in protocols:
        splits = repeated_splits(labels, groups, protocol=protocol, n_splits=n_splits, n_repeats=n_repeats,
                                 random_state=random_state)
        if progress is not None:
            splits = _tick(splits, lambda r, p=protocol: progress(p, r))
        pred, fold_table = _oof_predictions(est, X, y, splits, n_repeats, len(y))
        per = pd.DataFrame({"repeat": np.arange(n_repeats),
                            "f1_macro": [_macro_f1_codes(y, pred[r], len(classes)) for r in range(n_repeats)],
                            "accuracy": [float(np.mean(pred[r] == y)) for r in range(n_repeats)]})
        preds[protocol] = classes[pred]
        repeats.append(per.assign(protocol=protocol))
        folds.append(fold_table.assign(protocol=protocol))
        summary.append({"protocol": protocol, "n_clips": len(y), "n_features": X.shape[1],
                        "n_splits": n_splits, "n_repeats": n_repeats,
                        "f1_mean": per.f1_macro.mean(), "f1_sd": per.f1_macro.std(ddof=1) if n_repeats > 1 else np.nan,
                        "accuracy_mean": per.accuracy.mean(),
                        "accuracy_sd": per.accuracy.std(ddof=1) if n_repeats > 1 else np.nan})
    first = ["protocol", "repeat"]
    repeats = pd.concat(repeats, ignore_index=True)
    folds = pd.concat(folds, ignore_index=True)
    return MERResult(summary=pd.DataFrame(summary), repeats=repeats[first + [c for c in repeats if c not in first]],
                     folds=folds[first + [c for c in folds if c not in first]], predictions=preds,
                     params={"classifier": classifier, "k_best": k_best, "tune": tune, "features": names,
                             "transform": transform, "k_grid": k_grid,
                             "random_state": random_state})


def _tick(splits, callback):
    last = None
    for item in splits:
        if last is not None and item[0] != last:
            callback(last)
        last = item[0]
        yield item
    if last is not None:
        callback(last)


# ----------------------------------------------------------------------------------- ablation
def _cluster_bootstrap_ci(y, pred_a, pred_b, groups, n_boot: int, level: float, seed: int):
    """Percentile CI of mean-over-repeats F1(b) - F1(a), resampling clusters (artists) with replacement."""
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    uniq, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    classes, codes = np.unique(np.concatenate([y.ravel(), pred_a.ravel(), pred_b.ravel()]), return_inverse=True)
    k, n, n_rep = len(classes), len(y), pred_a.shape[0]
    t, a, b_ = codes[:n], codes[n:n + pred_a.size].reshape(pred_a.shape), codes[n + pred_a.size:].reshape(pred_b.shape)
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[g] for g in pick])
        diffs[b] = np.mean([_macro_f1_codes(t[idx], b_[r, idx], k) - _macro_f1_codes(t[idx], a[r, idx], k)
                            for r in range(n_rep)])
    alpha = (1 - level) / 2
    return float(np.quantile(diffs, alpha)), float(np.quantile(diffs, 1 - alpha))


def ablation(X: pd.DataFrame, y, groups=None, *, k_best: int | None = 100, protocols=PROTOCOLS,
             classifier: str = "svm", tune: bool = True, n_splits: int = 10, n_repeats: int = 20,
             n_boot: int = 1000, level: float = 0.95, random_state: int = 0,
             families: dict[str, list[str]] | None = None, progress=None,
             transform: str = "standard") -> pd.DataFrame:
    """Baseline-only features against baseline + novel families, at equal feature count.

    The baseline pool is the ``baseline`` and ``timbre_harmony`` families (:data:`BASELINE_FAMILIES`),
    the other pool adds the melody, expressive and texture families (:data:`NOVEL_FAMILIES`).
    Both feature pools go through the same pipeline (:func:`mer_pipeline`), the same folds and
    repetitions; each keeps its own best ``k_best`` features by the ANOVA F test, chosen inside the
    training folds. The gain is paired: per repetition, macro-F1(all) - macro-F1(baseline) on the
    pooled out-of-fold predictions.

    Parameters
    ----------
    X : DataFrame, shape (n_clips, n_features)
        Clip features with ``audio_`` column names (families from :func:`feature_families`).
    y : array-like, shape (n_clips,)
        Class labels.
    groups : array-like | None
        Artist group per clip; also the clusters of the bootstrap (each clip its own cluster when
        ``None``).
    k_best : int | None
        Features selected from each pool (``None``: all of each pool, not an equal count).
    n_boot : int
        Bootstrap resamples of the clusters for the confidence interval of the gain.
    level : float
        Confidence level of both intervals.
    families : dict | None
        Precomputed :func:`feature_families` of ``X``'s columns.

    Returns
    -------
    DataFrame
        One row per protocol: ``n_baseline``, ``n_all`` (pool sizes), ``k``, ``f1_baseline``,
        ``f1_all`` (means over repetitions), ``gain`` (mean paired difference), ``gain_sd`` (sd
        over repetitions), ``ci_low``/``ci_high`` (cluster bootstrap over artists: what another
        sample of music would give) and ``t_low``/``t_high`` (t interval over repetitions: the
        variability of the split alone, narrower).

    Notes
    -----
    Panda et al. (2018) report 76.4 % F1 with baseline + novel features against about 9 points
    less for baseline-only features at the same number of features.
    """
    from scipy import stats

    if not isinstance(X, pd.DataFrame):
        raise NeuromerError("ablation needs X as a DataFrame with audio_ column names.")
    fam = families if families is not None else feature_families(X.columns)
    base = [c for f in BASELINE_FAMILIES for c in fam.get(f, [])]
    novel = [c for f in NOVEL_FAMILIES for c in fam.get(f, [])]
    if not base or not novel:
        raise NeuromerError(f"ablation needs baseline and novel (melody/expressive/texture) columns; "
                            f"got {len(base)} baseline and {len(novel)} novel.")
    y = np.asarray(y)
    protocols = [p for p in protocols if p != "artist" or groups is not None]
    rows = []
    for protocol in protocols:
        res = {}
        for pool, cols in (("baseline", base), ("all", base + novel)):
            res[pool] = evaluate_mer(X[cols], y, groups, protocols=[protocol], classifier=classifier,
                                     k_best=k_best, tune=tune, n_splits=n_splits, n_repeats=n_repeats,
                                     random_state=random_state, transform=transform,
                                     progress=None if progress is None else
                                     (lambda p, r, pool=pool: progress(f"{p}/{pool}", r)))
        fb = res["baseline"].repeats.f1_macro.to_numpy()
        fa = res["all"].repeats.f1_macro.to_numpy()
        d = fa - fb
        if n_repeats > 1 and np.std(d) > 0:
            half = stats.t.ppf(0.5 + level / 2, n_repeats - 1) * d.std(ddof=1) / np.sqrt(n_repeats)
        else:
            half = np.nan
        clusters = groups if groups is not None else np.arange(len(y))
        lo, hi = _cluster_bootstrap_ci(y, res["baseline"].predictions[protocol], res["all"].predictions[protocol],
                                       clusters, n_boot, level, random_state)
        rows.append({"protocol": protocol, "classifier": classifier, "n_baseline": len(base),
                     "n_all": len(base) + len(novel), "k": k_best, "n_repeats": n_repeats,
                     "f1_baseline": fb.mean(), "f1_all": fa.mean(), "gain": d.mean(),
                     "gain_sd": d.std(ddof=1) if n_repeats > 1 else np.nan,
                     "ci_low": lo, "ci_high": hi, "t_low": d.mean() - half, "t_high": d.mean() + half,
                     "level": level})
    return pd.DataFrame(rows)


def family_diagnostics(X: pd.DataFrame, quadrants, groups=None, *, classifier: str = "svm", n_repeats: int = 1,
                       random_state: int = 0, families: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """How well each feature family is computed and what it carries, family by family.

    A family that is mostly NaN, constant, or carries no class information on real music cannot
    help the ablation; this table tells that apart from a family that is informative but redundant.

    Parameters
    ----------
    X : DataFrame, shape (n_clips, n_features)
        Clip features with ``audio_`` column names.
    quadrants : array-like of str, shape (n_clips,)
        ``Q1``..``Q4`` (Russell quadrants: high valence = Q1/Q4, high arousal = Q1/Q2).
    groups : array-like | None
        Artist group per clip: the family-alone F1 uses artist-grouped folds when given.
    classifier : str
        Classifier of the family-alone F1 (:func:`mer_pipeline`, untuned).
    n_repeats : int
        Repetitions of the 10-fold cross-validation of the family-alone F1.

    Returns
    -------
    DataFrame
        One row per non-empty family: ``n_columns``, ``nan_share`` (share of missing values),
        ``n_constant`` (columns with at most one distinct value), ``eta2_median`` / ``eta2_max``
        (share of a column's variance explained by the quadrant, one-way ANOVA, median and best
        column), ``best_column``, ``valence_auc_max`` / ``arousal_auc_max`` (best single-column
        ROC AUC for high valence / high arousal, direction-free: ``max(AUC, 1 - AUC)``), ``f1_alone``
        (macro-F1 of the family on its own, cross-validated).
    """
    from ..models.evaluation import _auc

    fam = families if families is not None else feature_families(X.columns)
    q = np.asarray(quadrants).astype(str)
    hv, ha = np.isin(q, ("Q1", "Q4")), np.isin(q, ("Q1", "Q2"))
    rows = []
    for name, cols in fam.items():
        if not cols:
            continue
        M = X[cols].to_numpy(dtype=float)
        finite = np.isfinite(M)
        eta2, v_auc, a_auc = [], [], []
        for j in range(M.shape[1]):
            x, ok = M[:, j], finite[:, j]
            if ok.sum() < 3 or np.ptp(x[ok]) == 0:
                eta2.append(np.nan), v_auc.append(np.nan), a_auc.append(np.nan)
                continue
            xs, qs = x[ok], q[ok]
            ss_between = sum(np.sum(qs == k) * (xs[qs == k].mean() - xs.mean()) ** 2 for k in np.unique(qs))
            eta2.append(ss_between / np.sum((xs - xs.mean()) ** 2))
            v_auc.append(max(_auc(hv[ok], xs), 1 - _auc(hv[ok], xs)))
            a_auc.append(max(_auc(ha[ok], xs), 1 - _auc(ha[ok], xs)))
        eta2 = np.asarray(eta2)
        protocol = "artist" if groups is not None else "stratified"
        res = evaluate_mer(X[cols], q, groups, protocols=[protocol], classifier=classifier, tune=False,
                           n_repeats=n_repeats, random_state=random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append({"family": name, "n_columns": len(cols), "nan_share": float(1 - finite.mean()),
                         "n_constant": int(sum(len(np.unique(M[finite[:, j], j])) <= 1 for j in range(M.shape[1]))),
                         "eta2_median": float(np.nanmedian(eta2)), "eta2_max": float(np.nanmax(eta2)),
                         "best_column": cols[int(np.nanargmax(eta2))] if np.isfinite(eta2).any() else "",
                         "valence_auc_max": float(np.nanmax(v_auc)), "arousal_auc_max": float(np.nanmax(a_auc)),
                         "f1_alone": float(res.summary.f1_mean.iloc[0]), "protocol": protocol})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------- inputs
def read_labelled_clips(source, *, format: str = "auto") -> pd.DataFrame:
    """Annotated clips (:func:`neuromer.audio.datasets.read_mer_dataset`, static labels).

    Returns
    -------
    DataFrame
        ``audio_path``, ``song_id``, ``artist`` (NaN where unknown), ``title`` and the labels
        (``quadrant`` for 4QAED; ``valence``/``arousal`` for DEAM, PMEmo, a CSV may have either).
    """
    from .datasets import read_mer_dataset

    return read_mer_dataset(source, format=format, dynamic=False)


def clip_feature_table(clips: pd.DataFrame, *, features=None, cache_dir=None, progress=None) -> pd.DataFrame:
    """Clip features (``audio_`` columns) of ``clips.audio_path``, in the same row order.

    Parameters
    ----------
    clips : DataFrame
        From :func:`read_labelled_clips` (an ``audio_path`` column).
    features : path-like | DataFrame | None
        A table from ``neuromer audio features`` (clip rows, a ``file`` column) to reuse; rows are
        matched by resolved path, else by file name. ``None`` computes them (cached in ``cache_dir``).
    """
    from pathlib import Path

    from ..errors import DataFormatError
    from .emotion import feature_matrix

    if features is None:
        from .summary import audio_features

        rows = []
        for f in clips["audio_path"]:
            rows.append(audio_features(f, cache_dir=cache_dir, emotion=False))
            if progress is not None:
                progress(f)
        return feature_matrix(pd.concat(rows, ignore_index=True))
    name = "--features table"
    if not isinstance(features, pd.DataFrame):
        from .._checks import check_file

        name = str(features)
        path = check_file(features, "features table")
        try:
            features = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:
            raise DataFormatError(f"{path}: not a readable table ({type(exc).__name__}: {exc}).") from None
    if "file" not in features:
        raise DataFormatError(f"{name}: no 'file' column (make it with `neuromer audio features ... --out`).")
    if "window" in features and (features["window"] != -1).any():
        raise DataFormatError(f"{name}: has per-window rows; clip rows are needed (no --window-s).")
    by_path = {str(Path(f).resolve()): i for i, f in enumerate(features["file"].astype(str))}
    by_name = {Path(f).name: i for i, f in enumerate(features["file"].astype(str))}
    idx = []
    for f in clips["audio_path"]:
        i = by_path.get(str(Path(f).resolve()), by_name.get(Path(f).name))
        if i is None:
            raise DataFormatError(f"{name}: no row for clip {f}.")
        idx.append(i)
    return feature_matrix(features.iloc[idx].reset_index(drop=True))


def evaluate_default_model(X: pd.DataFrame, quadrants, groups=None, *, n_splits: int = 10,
                           n_repeats: int = 5, random_state: int = 0, **fit_kw) -> pd.DataFrame:
    """Cross-validated figures of the fitting procedure (fit on training folds, predict the rest).

    Folds are grouped by artist when ``groups`` is given (``StratifiedGroupKFold``), else
    stratified. Per repetition, pooled out-of-fold predictions give ``quadrant_accuracy``,
    ``valence_auc``, ``arousal_auc`` and the predicted share of each quadrant (``share_Q1``..).

    Returns
    -------
    DataFrame
        One row per repetition, plus the true shares as ``true_share_Q1``...
    """
    from ..models.evaluation import _auc
    from .default_model import DIMENSIONS, HIGH, fit_default_model, predict_scores, to_scale
    from .emotion import QUADRANTS, quadrant

    q = np.asarray(quadrants).astype(str)
    protocol = "artist" if groups is not None else "stratified"
    logits = {d: np.full((n_repeats, len(q)), np.nan) for d in DIMENSIONS}
    for r, _, train, test in repeated_splits(q, groups, protocol=protocol, n_splits=n_splits,
                                             n_repeats=n_repeats, random_state=random_state):
        model = fit_default_model(X.iloc[train], q[train], **fit_kw)
        s = predict_scores(model, X.iloc[test])
        for d in DIMENSIONS:
            logits[d][r, test] = s[d]
    rows = []
    for r in range(n_repeats):
        pv, pa = logits["valence"][r], logits["arousal"][r]
        pq = quadrant(to_scale(pv), to_scale(pa))
        row = {"repeat": r, "protocol": protocol, "quadrant_accuracy": float(np.mean(pq == q)),
               "valence_auc": _auc(np.isin(q, HIGH["valence"]), pv),
               "arousal_auc": _auc(np.isin(q, HIGH["arousal"]), pa)}
        for k in QUADRANTS:
            row[f"share_{k}"] = float(np.mean(pq == k))
            row[f"true_share_{k}"] = float(np.mean(q == k))
        rows.append(row)
    return pd.DataFrame(rows)
