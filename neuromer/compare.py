"""Agreement between audio-perceived, EEG-decoded and self-reported emotion.

Three readings of every trial: what the music expresses (audio emotion model, "perceived"), what
the brain signals decode to (cross-validated EEG predictions) and what the listener reported.
This module measures how well they agree (per subject and pooled, with permutation p-values),
summarises per-subject values across the group, compares time courses within trials and checks how
consistently listeners hear each stimulus.

Conversions to high/low (documented once, used everywhere): 1-9 ratings and audio scores are high
when > 5 (the middle of the scale, as in DEAP); decoded EEG probabilities of "high" are high when
> 0.5 (decoded EEG scores on the 1-9 scale: > 5). Quadrants are Russell's Q1..Q4 from high/low
valence and arousal (see :func:`neuromer.models.estimators.quadrant`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from ._checks import check_option, validate_type
from ._logging import logger
from .errors import NeuromerError
from .models.estimators import FIXED_THRESHOLD, quadrant
from .models.evaluation import concordance_correlation

SOURCES = ("audio", "eeg", "self")
PAIRS = (("audio", "eeg"), ("audio", "self"), ("eeg", "self"))
DIMENSIONS = ("valence", "arousal", "quadrant")


# --------------------------------------------------------------------------------------------
# agreement of two series


def _group_permutations(n: int, groups, n_permutations: int, rng) -> np.ndarray:
    """(n_permutations, n) index arrays, each shuffling positions within their group only."""
    if groups is None:
        return np.argsort(rng.random((n_permutations, n)), axis=1)
    codes = pd.factorize(np.asarray(groups))[0]
    base = np.argsort(codes, kind="stable")  # positions grouped by group
    keys = codes[base][None, :] + rng.random((n_permutations, n))  # random order within group
    order = base[np.argsort(keys, axis=1)]
    perms = np.empty((n_permutations, n), dtype=int)
    rows = np.arange(n_permutations)[:, None]
    perms[rows, base[None, :]] = order
    return perms


def _p_greater(null: np.ndarray, observed: float) -> float:
    if np.isnan(observed):
        return float("nan")
    null = null[~np.isnan(null)]
    return float((np.sum(null >= observed - 1e-12) + 1) / (len(null) + 1))


def agreement(a, b, *, kind: str = "binary", n_permutations: int = 1000, random_state=0,
              groups=None) -> dict:
    """Agreement of two paired series, with permutation p-values.

    Parameters
    ----------
    a, b : array-like, shape (n,)
        Paired readings (categories for ``binary``/``quadrant``, numbers for ``continuous``).
        Pairs with a missing value on either side are dropped.
    kind : str
        ``"binary"`` or ``"quadrant"``: accuracy (share of equal pairs), Cohen's kappa and the
        accuracy expected by chance from the marginals; ``"continuous"``: Pearson r, Spearman
        rho and Lin's concordance correlation coefficient (CCC).
    n_permutations : int
        ``b`` is shuffled against ``a`` this many times; p-values are one-sided (agreement
        greater than chance), ``(k + 1) / (n + 1)``. ``0`` skips them (NaN).
    random_state : int | None
        Seed of the permutations.
    groups : array-like | None
        Shuffle only within groups (e.g. subjects), keeping each group's marginals.

    Returns
    -------
    dict
        ``n`` and the statistics with ``p_<statistic>`` for each.

    Examples
    --------
    >>> agreement([0, 1, 1, 0], [0, 1, 1, 0], n_permutations=0)["accuracy"]
    1.0
    """
    check_option(kind, ("binary", "quadrant", "continuous"), "kind")
    validate_type(n_permutations, (int, np.integer), "n_permutations")
    a = pd.Series(np.asarray(a, dtype=object if kind != "continuous" else float).ravel())
    b = pd.Series(np.asarray(b, dtype=object if kind != "continuous" else float).ravel())
    if len(a) != len(b):
        raise NeuromerError(f"agreement: 'a' and 'b' differ in length ({len(a)} vs {len(b)}).")
    ok = (a.notna() & b.notna()).to_numpy()
    a, b = a[ok].to_numpy(), b[ok].to_numpy()
    g = None if groups is None else np.asarray(groups)[ok]
    n = len(a)
    rng = np.random.default_rng(random_state)
    perms = _group_permutations(n, g, n_permutations, rng) if (n_permutations and n > 1) else None
    if kind == "continuous":
        return {"n": n, **_continuous_agreement(a.astype(float), b.astype(float), perms)}
    return {"n": n, **_categorical_agreement(a, b, perms)}


def _categorical_agreement(a, b, perms) -> dict:
    out = dict.fromkeys(("accuracy", "kappa", "chance_accuracy", "p_accuracy", "p_kappa"), float("nan"))
    if len(a) == 0:
        return out
    labels = sorted(set(a.tolist()) | set(b.tolist()), key=str)
    ca = _codes(a, labels)
    cb = _codes(b, labels)
    acc = float(np.mean(ca == cb))
    pa = np.bincount(ca, minlength=len(labels)) / len(ca)
    pb = np.bincount(cb, minlength=len(labels)) / len(cb)
    pe = float(np.sum(pa * pb))
    kappa = float(cohen_kappa_score(ca, cb)) if pe < 1 else float("nan")
    out.update(accuracy=acc, kappa=kappa, chance_accuracy=pe)
    if perms is not None:
        null_acc = np.mean(ca[None, :] == cb[perms], axis=1)
        out["p_accuracy"] = _p_greater(null_acc, acc)
        # kappa is a monotone function of accuracy when the marginals are fixed (as here)
        out["p_kappa"] = out["p_accuracy"] if not np.isnan(kappa) else float("nan")
    return out


def _codes(x, labels) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    return np.array([index[v] for v in x.tolist()], dtype=int)


def _continuous_agreement(a, b, perms) -> dict:
    keys = ("pearson", "spearman", "ccc")
    out = {**dict.fromkeys(keys, float("nan")), **{f"p_{k}": float("nan") for k in keys}}
    if len(a) < 3:
        return out
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    out["pearson"] = _corr(a, b)
    out["spearman"] = _corr(ra, rb)
    out["ccc"] = concordance_correlation(a, b)
    if perms is not None:
        out["p_pearson"] = _p_greater(_corr_null(a, b, perms), out["pearson"])
        out["p_spearman"] = _p_greater(_corr_null(ra, rb, perms), out["spearman"])
        # means and variances do not change under permutation; only the covariance does
        cov = np.mean((a - a.mean())[None, :] * (b - b.mean())[perms], axis=1)
        den = a.var() + b.var() + (a.mean() - b.mean()) ** 2
        out["p_ccc"] = _p_greater(2 * cov / den, out["ccc"]) if den > 0 else float("nan")
    return out


def _corr(x, y) -> float:
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _corr_null(x, y, perms) -> np.ndarray:
    if np.std(x) == 0 or np.std(y) == 0:
        return np.full(len(perms), np.nan)
    zx = (x - x.mean()) / x.std()
    zy = (y - y.mean()) / y.std()
    return np.mean(zx[None, :] * zy[perms], axis=1)


# --------------------------------------------------------------------------------------------
# per-trial comparison of the three sources


def _readings(trial_table: pd.DataFrame, eeg_scale: str) -> dict:
    """{source: {"valence": continuous, "arousal": continuous, "valence_high", "arousal_high",
    "quadrant"}} for every row."""
    out = {}
    for src in SOURCES:
        d = {}
        for dim in ("valence", "arousal"):
            col = f"{src}_{dim}"
            if col not in trial_table.columns:
                raise NeuromerError(f"The trial table has no {col!r} column.")
            x = pd.to_numeric(trial_table[col], errors="coerce").to_numpy(float)
            if src == "eeg" and eeg_scale == "probability":
                bad = ~np.isnan(x) & ((x < 0) | (x > 1))
                if bad.any():
                    raise NeuromerError(
                        f"Column {col!r} has values outside [0, 1]; pass eeg_scale='score' for "
                        f"decoded 1-9 scores."
                    )
                thr = 0.5
            else:
                thr = FIXED_THRESHOLD
            high = np.where(np.isnan(x), np.nan, (x > thr).astype(float))
            d[dim], d[f"{dim}_high"] = x, high
        qcol = f"{src}_quadrant"
        if qcol in trial_table.columns:  # a model's own quadrant output wins over the derived one
            d["quadrant"] = trial_table[qcol].where(trial_table[qcol].notna(), None).to_numpy(object)
        else:
            d["quadrant"] = quadrant(d["valence_high"], d["arousal_high"])
        out[src] = d
    return out


def bootstrap_ci(a, b, *, kind: str = "binary", groups=None, n_boot: int = 1000,
                 random_state=0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of an agreement statistic.

    The statistic is the accuracy (share of equal pairs) for ``kind="binary"``/``"quadrant"``
    and Pearson r for ``"continuous"``, as in :func:`agreement`.

    Parameters
    ----------
    a, b : array-like, shape (n,)
        Paired readings; pairs with a missing value on either side are dropped.
    kind : str
        ``"binary"``, ``"quadrant"`` or ``"continuous"``.
    groups : array-like | None, shape (n,)
        When given (subjects, for a pooled value), whole groups are resampled with replacement
        and all their pairs taken, so the interval reflects between-subject variation and not
        only the number of trials.
    n_boot : int
        Bootstrap resamples.
    random_state : int | Generator | None
        Seed.
    level : float
        Coverage (0.95 -> 2.5th and 97.5th percentiles).

    Returns
    -------
    (float, float)
        Lower and upper bound; NaN when fewer than 2 pairs (or groups) or fewer than 10 resamples
        give a defined statistic.
    """
    check_option(kind, ("binary", "quadrant", "continuous"), "kind")
    cont = kind == "continuous"
    a = pd.Series(np.asarray(a, dtype=float if cont else object).ravel())
    b = pd.Series(np.asarray(b, dtype=float if cont else object).ravel())
    ok = (a.notna() & b.notna()).to_numpy()
    a, b = a[ok].to_numpy(), b[ok].to_numpy()
    nan = (float("nan"), float("nan"))
    if len(a) < 2:
        return nan
    rng = np.random.default_rng(random_state)
    if cont:
        x, y = a.astype(float), b.astype(float)
        # centred on the full-sample means, so the sums below do not lose precision
        x, y = x - x.mean(), y - y.mean()
        parts = np.column_stack([np.ones_like(x), x, y, x * x, y * y, x * y])
    else:
        parts = np.array([x == y for x, y in zip(a.tolist(), b.tolist())], float)[:, None]
        parts = np.column_stack([np.ones(len(parts)), parts])
    if groups is None:
        picks = rng.integers(0, len(a), size=(n_boot, len(a)))
        sums = parts[picks].sum(axis=1)
    else:
        # resample whole groups: a resample's sums are sums of its groups' sums
        g = np.asarray(groups)[ok]
        labels, inv = np.unique(g.astype(str), return_inverse=True)
        if len(labels) < 2:
            return nan
        per_group = np.zeros((len(labels), parts.shape[1]))
        np.add.at(per_group, inv, parts)
        picks = rng.integers(0, len(labels), size=(n_boot, len(labels)))
        sums = per_group[picks].sum(axis=1)
    n = sums[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        if cont:
            sx, sy, sxx, syy, sxy = (sums[:, k] for k in range(1, 6))
            cov = sxy - sx * sy / n
            den = np.sqrt((sxx - sx ** 2 / n) * (syy - sy ** 2 / n))
            tol = 1e-12 * np.sqrt(sxx * syy + 1e-300)  # a constant resample has ~0 spread, not exactly 0
            vals = np.where(den > tol, cov / np.where(den > tol, den, 1), np.nan)
        else:
            vals = sums[:, 1] / n
    vals = vals[~np.isnan(vals)]
    if len(vals) < 10:
        return nan
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(vals, [tail, 100 - tail])
    return float(lo), float(hi)


#: The headline statistic per dimension: Pearson r of the scores for valence and arousal,
#: accuracy (share of trials in the same quadrant) for quadrant.
HEADLINE = {"valence": "pearson", "arousal": "pearson", "quadrant": "accuracy"}


def headline_agreement(comparison: pd.DataFrame) -> pd.DataFrame:
    """One headline number per (subject, pair, dimension) from :func:`compare_trials`' table.

    The forest plot, the per-subject heatmap and the report's table all read this, so they
    show the same numbers.

    Returns
    -------
    DataFrame
        ``subject, pair`` (e.g. ``"audio-eeg"``), ``dimension, statistic`` (``"pearson"`` or
        ``"accuracy"``), ``value, ci_low, ci_high`` (95 % bootstrap CI), ``chance`` (0 for r,
        the marginals' chance accuracy for quadrant), ``p`` (permutation) and ``n`` (trials).
    """
    validate_type(comparison, pd.DataFrame, "comparison")
    need = {"subject", "source_a", "source_b", "dimension", "n"}
    if not need <= set(comparison.columns):
        raise NeuromerError(f"The comparison table lacks column(s) {sorted(need - set(comparison.columns))}.")
    rows = []
    for _, r in comparison.iterrows():
        stat = HEADLINE.get(r["dimension"])
        if stat is None or stat not in r:
            continue
        rows.append({"subject": str(r["subject"]), "pair": f"{r['source_a']}-{r['source_b']}",
                     "dimension": r["dimension"], "statistic": stat, "value": float(r[stat]),
                     "ci_low": float(r.get(f"ci_low_{stat}", np.nan)),
                     "ci_high": float(r.get(f"ci_high_{stat}", np.nan)),
                     "chance": float(r["chance_accuracy"]) if stat == "accuracy" else 0.0,
                     "p": float(r.get(f"p_{stat}", np.nan)), "n": int(r["n"])})
    return pd.DataFrame(rows, columns=["subject", "pair", "dimension", "statistic", "value", "ci_low",
                                       "ci_high", "chance", "p", "n"])


def compare_trials(trial_table: pd.DataFrame, *, eeg_scale: str = "probability",
                   n_permutations: int = 1000, random_state=0, n_boot: int = 1000) -> pd.DataFrame:
    """Agreement of audio, EEG and self-report per pair, dimension and subject (and pooled).

    Parameters
    ----------
    trial_table : DataFrame
        One row per (subject, trial): ``subject, trial, stimulus_id``, ``self_valence``,
        ``self_arousal`` (1-9 ratings), ``audio_valence``, ``audio_arousal`` (1-9 scores) and
        ``eeg_valence``, ``eeg_arousal`` (decoded, cross-validated). Optional
        ``<source>_quadrant`` columns (``"Q1".."Q4"``) replace the quadrant derived from
        valence and arousal.
    eeg_scale : str
        ``"probability"``: EEG columns are the probability of "high" (high if > 0.5);
        ``"score"``: decoded 1-9 scores (high if > 5).
    n_permutations, random_state
        See :func:`agreement`. Pooled rows permute within subject.
    n_boot : int
        Bootstrap resamples for the 95 % CIs of accuracy and Pearson r (:func:`bootstrap_ci`):
        over trials for a subject, over whole subjects for the pooled rows. ``0`` skips them.

    Returns
    -------
    DataFrame
        One row per (subject, pair, dimension); ``subject`` is ``"all"`` for pooled rows.
        Columns ``source_a, source_b, dimension, n``, categorical agreement of high/low (or
        quadrant) ``accuracy, kappa, chance_accuracy, p_accuracy, p_kappa, ci_low_accuracy,
        ci_high_accuracy`` and, for valence and arousal, continuous agreement ``pearson,
        spearman, ccc`` with p-values and ``ci_low_pearson, ci_high_pearson``. CCC needs both
        readings on one scale, so it is NaN for pairs with EEG probabilities.
    """
    validate_type(trial_table, pd.DataFrame, "trial_table")
    check_option(eeg_scale, ("probability", "score"), "eeg_scale")
    if "subject" not in trial_table.columns:
        raise NeuromerError("The trial table has no 'subject' column.")
    table = trial_table.reset_index(drop=True)
    read = _readings(table, eeg_scale)
    subjects = table["subject"].to_numpy()
    scopes = [(s, subjects == s) for s in pd.unique(subjects)] + [("all", np.ones(len(table), bool))]
    rows = []
    seed = np.random.SeedSequence(random_state)
    for (subj, mask), (sa, sb), dim in itertools.product(scopes, PAIRS, DIMENSIONS):
        rs = np.random.default_rng(seed.spawn(1)[0])
        groups = subjects[mask] if subj == "all" else None
        if dim == "quadrant":
            cat = agreement(read[sa]["quadrant"][mask], read[sb]["quadrant"][mask], kind="quadrant",
                            n_permutations=n_permutations, random_state=rs, groups=groups)
            con = {}
            ci = [("accuracy", read[sa]["quadrant"][mask], read[sb]["quadrant"][mask], "quadrant")]
        else:
            cat = agreement(read[sa][f"{dim}_high"][mask], read[sb][f"{dim}_high"][mask], kind="binary",
                            n_permutations=n_permutations, random_state=rs, groups=groups)
            con = agreement(read[sa][dim][mask], read[sb][dim][mask], kind="continuous",
                            n_permutations=n_permutations, random_state=rs, groups=groups)
            con.pop("n")
            if eeg_scale == "probability" and "eeg" in (sa, sb):
                con["ccc"] = con["p_ccc"] = float("nan")
            ci = [("accuracy", read[sa][f"{dim}_high"][mask], read[sb][f"{dim}_high"][mask], "binary"),
                  ("pearson", read[sa][dim][mask], read[sb][dim][mask], "continuous")]
        for stat, a, b, kind in ci:
            lo, hi = (bootstrap_ci(a, b, kind=kind, groups=groups, n_boot=n_boot, random_state=rs)
                      if n_boot else (float("nan"), float("nan")))
            con[f"ci_low_{stat}"], con[f"ci_high_{stat}"] = lo, hi
        rows.append({"subject": subj, "source_a": sa, "source_b": sb, "dimension": dim, **cat, **con})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# group statistics


def group_stats(per_subject, column: str | None = None, *, chance: float = 0.5, ci: str = "t",
                alternative: str = "greater", n_boot: int = 10000, random_state=0) -> dict:
    """Summarise one value per subject against a chance level.

    Parameters
    ----------
    per_subject : DataFrame | Series | array-like
        One value per subject (e.g. rows of :func:`compare_trials` for one pair and dimension,
        or the ``scope == "subject"`` rows of an evaluation's metrics).
    column : str | None
        The column of ``per_subject`` to summarise (needed for a DataFrame).
    chance : float
        The value expected without an effect (0.5 for balanced binary accuracy, 0 for kappa/r).
    ci : str
        ``"t"``: 95 % CI from the t distribution; ``"bootstrap"``: percentile bootstrap.
    alternative : str
        ``"greater"`` (above chance, the usual decoding question), ``"less"`` or ``"two-sided"``.

    Returns
    -------
    dict
        ``n, mean, std, ci_low, ci_high, chance, t, p_t`` (one-sample t test), ``n_above``,
        ``p_sign`` (exact sign test, ties dropped) and ``p_wilcoxon`` (signed-rank test).
    """
    check_option(ci, ("t", "bootstrap"), "ci")
    check_option(alternative, ("greater", "less", "two-sided"), "alternative")
    if isinstance(per_subject, pd.DataFrame):
        if column is None or column not in per_subject.columns:
            raise NeuromerError(f"Invalid value for the 'column' parameter: {column!r} is not a column.")
        x = per_subject[column]
    else:
        x = per_subject
    x = pd.to_numeric(pd.Series(np.asarray(x).ravel()), errors="coerce").dropna().to_numpy(float)
    n = len(x)
    out = {"n": n, "mean": float("nan"), "std": float("nan"), "ci_low": float("nan"),
           "ci_high": float("nan"), "chance": float(chance), "t": float("nan"), "p_t": float("nan"),
           "n_above": int(np.sum(x > chance)), "p_sign": float("nan"), "p_wilcoxon": float("nan")}
    if n == 0:
        return out
    out["mean"] = float(x.mean())
    if n < 2:
        return out
    out["std"] = float(x.std(ddof=1))
    sem = out["std"] / np.sqrt(n)
    if ci == "t":
        h = stats.t.ppf(0.975, n - 1) * sem
        out["ci_low"], out["ci_high"] = out["mean"] - h, out["mean"] + h
    else:
        rng = np.random.default_rng(random_state)
        boots = x[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        out["ci_low"], out["ci_high"] = (float(v) for v in np.percentile(boots, [2.5, 97.5]))
    d = x - chance
    if sem > 0:
        res = stats.ttest_1samp(x, chance, alternative=alternative)
        out["t"], out["p_t"] = float(res.statistic), float(res.pvalue)
    nz = d[d != 0]
    if len(nz):
        out["p_sign"] = float(stats.binomtest(int(np.sum(nz > 0)), len(nz), 0.5,
                                              alternative=alternative).pvalue)
        out["p_wilcoxon"] = float(stats.wilcoxon(nz, alternative=alternative).pvalue)
    return out


# --------------------------------------------------------------------------------------------
# time courses


def time_course_agreement(window_table: pd.DataFrame, x: str = "audio_pred_arousal",
                          y: str = "eeg_pred_arousal", *, max_lag_s: float = 5.0,
                          min_windows: int = 5) -> pd.DataFrame:
    """Within-trial correlation of two curves on the window grid, and the lag of best agreement.

    For each trial, Pearson r between ``x[w]`` and ``y[w + k]`` for lags ``k`` of
    ``-max_lag_s..max_lag_s`` (in windows of the grid's hop). A positive best lag means ``y``
    follows ``x`` (e.g. the EEG response lags the music).

    Parameters
    ----------
    window_table : DataFrame
        Rows per (subject, trial, window) with ``t_start`` (seconds) and columns ``x``, ``y``.
    x, y : str
        The two curves.
    max_lag_s : float
        Largest lag tried, seconds.
    min_windows : int
        Fewest overlapping windows for a correlation at a lag.

    Returns
    -------
    DataFrame
        ``scope`` ``"trial"`` rows (``subject, trial, stimulus_id``), then ``"subject"`` and one
        ``"all"`` row averaging the lag curves (Fisher z): ``n_windows, r_lag0, best_lag_windows,
        best_lag_s, r_best``. ``df.attrs["lag_curve"]`` holds the averaged curve and
        ``df.attrs["trial_curves"]`` each trial's (``subject, trial, lag_windows, lag_s, r``).
    """
    validate_type(window_table, pd.DataFrame, "window_table")
    for col in ("subject", "trial", "t_start", x, y):
        if col not in window_table.columns:
            raise NeuromerError(f"The window table has no {col!r} column.")
    order = [c for c in ("subject", "trial", "window", "t_start") if c in window_table.columns]
    table = window_table.sort_values(order)
    hops = table.groupby(["subject", "trial"])["t_start"].diff().dropna()
    hops = hops[hops > 0]
    if hops.empty:
        raise NeuromerError("The window table has no trial with two or more windows.")
    hop = float(hops.median())
    max_lag = int(round(max_lag_s / hop))
    lags = np.arange(-max_lag, max_lag + 1)
    rows, curves, trial_curves = [], [], []
    for (subj, trial), sub in table.groupby(["subject", "trial"], sort=False):
        a = sub[x].to_numpy(float)
        b = sub[y].to_numpy(float)
        curve = np.array([_lagged_r(a, b, k, min_windows) for k in lags])
        curves.append((subj, curve))
        trial_curves.append(pd.DataFrame({"subject": subj, "trial": trial, "lag_windows": lags,
                                          "lag_s": lags * hop, "r": curve}))
        rows.append({"scope": "trial", "subject": subj, "trial": trial,
                     "stimulus_id": sub["stimulus_id"].iloc[0] if "stimulus_id" in sub else None,
                     "n_windows": len(sub), **_best(curve, lags, hop)})
    z = {s: [] for s in dict.fromkeys(s for s, _ in curves)}
    for s, c in curves:
        z[s].append(np.arctanh(np.clip(c, -0.999999, 0.999999)))
    all_z = []
    for s, cs in z.items():
        mean = np.tanh(np.nanmean(np.vstack(cs), axis=0)) if cs else np.full(len(lags), np.nan)
        rows.append({"scope": "subject", "subject": s, "trial": None, "stimulus_id": None,
                     "n_windows": None, **_best(mean, lags, hop)})
        all_z += cs
    with np.errstate(all="ignore"):
        grand = np.tanh(np.nanmean(np.vstack(all_z), axis=0))
    rows.append({"scope": "all", "subject": None, "trial": None, "stimulus_id": None,
                 "n_windows": None, **_best(grand, lags, hop)})
    out = pd.DataFrame(rows)
    out.attrs["lag_curve"] = pd.DataFrame({"lag_windows": lags, "lag_s": lags * hop, "r": grand})
    out.attrs["trial_curves"] = pd.concat(trial_curves, ignore_index=True)
    return out


def _lagged_r(a, b, k, min_windows) -> float:
    if k >= 0:
        u, v = a[:len(a) - k], b[k:]
    else:
        u, v = a[-k:], b[:len(b) + k]
    ok = ~(np.isnan(u) | np.isnan(v))
    u, v = u[ok], v[ok]
    if len(u) < min_windows:
        return float("nan")
    return _corr(u, v)


def _best(curve, lags, hop) -> dict:
    zero = float(curve[lags == 0][0])
    if np.all(np.isnan(curve)):
        return {"r_lag0": zero, "best_lag_windows": None, "best_lag_s": float("nan"), "r_best": float("nan")}
    i = int(np.nanargmax(curve))
    return {"r_lag0": zero, "best_lag_windows": int(lags[i]), "best_lag_s": float(lags[i] * hop),
            "r_best": float(curve[i])}


# --------------------------------------------------------------------------------------------
# stimuli across listeners


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa from an (n_items, n_categories) table of rating counts.

    Items may have different numbers of raters (each needs at least two); with equal numbers this
    is Fleiss (1971).
    """
    counts = np.asarray(counts, float)
    n_i = counts.sum(axis=1)
    keep = n_i >= 2
    counts, n_i = counts[keep], n_i[keep]
    if len(counts) == 0:
        return float("nan")
    p_i = (np.sum(counts * (counts - 1), axis=1)) / (n_i * (n_i - 1))
    p_j = counts.sum(axis=0) / counts.sum()
    pe = float(np.sum(p_j ** 2))
    if pe >= 1:
        return float("nan")
    return float((p_i.mean() - pe) / (1 - pe))


def stimulus_consistency(trial_table: pd.DataFrame) -> pd.DataFrame:
    """Per stimulus: do listeners report what the audio model predicts, and do they agree?

    Parameters
    ----------
    trial_table : DataFrame
        One row per (subject, trial) with ``stimulus_id``, ``self_valence``, ``self_arousal``,
        ``audio_valence``, ``audio_arousal`` (optional ``audio_quadrant``).

    Returns
    -------
    DataFrame
        One row per stimulus: ``n_listeners``, ``audio_quadrant`` and, for ``quadrant``,
        ``valence`` and ``arousal`` (high/low): ``match_<dim>`` (share of listeners whose
        self-report equals the audio prediction), ``agreement_<dim>`` (share of agreeing
        listener pairs), ``majority_<dim>`` (most reported category). ``df.attrs["fleiss_kappa"]``
        gives Fleiss' kappa among listeners per dimension, across stimuli.
    """
    validate_type(trial_table, pd.DataFrame, "trial_table")
    if "stimulus_id" not in trial_table.columns:
        raise NeuromerError("The trial table has no 'stimulus_id' column.")
    table = trial_table.reset_index(drop=True)
    cats = {}
    for src in ("self", "audio"):
        d = {}
        for dim in ("valence", "arousal"):
            col = f"{src}_{dim}"
            if col not in table.columns:
                raise NeuromerError(f"The trial table has no {col!r} column.")
            v = pd.to_numeric(table[col], errors="coerce").to_numpy(float)
            d[dim] = np.where(np.isnan(v), None, np.where(v > FIXED_THRESHOLD, "high", "low")).astype(object)
        qcol = f"{src}_quadrant"
        if qcol in table.columns:
            d["quadrant"] = table[qcol].to_numpy(object)
        else:
            hv = np.where(d["valence"] == None, np.nan, d["valence"] == "high")  # noqa: E711
            ha = np.where(d["arousal"] == None, np.nan, d["arousal"] == "high")  # noqa: E711
            d["quadrant"] = quadrant(hv.astype(float), ha.astype(float))
        cats[src] = d
    dims = ("quadrant", "valence", "arousal")
    levels = {"quadrant": ["Q1", "Q2", "Q3", "Q4"], "valence": ["high", "low"], "arousal": ["high", "low"]}
    rows, counts = [], {d: [] for d in dims}
    for stim, idx in table.groupby("stimulus_id", sort=False).indices.items():
        row = {"stimulus_id": stim, "n_listeners": len(idx)}
        audio_q = pd.Series(cats["audio"]["quadrant"][idx]).dropna()
        row["audio_quadrant"] = audio_q.mode().iloc[0] if len(audio_q) else None
        for dim in dims:
            rep = pd.Series(cats["self"][dim][idx]).dropna()
            aud = pd.Series(cats["audio"][dim][idx]).dropna()
            audio_cat = aud.mode().iloc[0] if len(aud) else None  # one prediction per stimulus
            c = rep.value_counts().reindex(levels[dim], fill_value=0).to_numpy(float)
            counts[dim].append(c)
            n = c.sum()
            row[f"match_{dim}"] = float(np.mean(rep == audio_cat)) if (len(rep) and audio_cat) else float("nan")
            row[f"agreement_{dim}"] = float(np.sum(c * (c - 1)) / (n * (n - 1))) if n >= 2 else float("nan")
            row[f"majority_{dim}"] = rep.mode().iloc[0] if len(rep) else None
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["fleiss_kappa"] = {d: fleiss_kappa(np.vstack(counts[d])) if counts[d] else float("nan")
                                 for d in dims}
    logger.debug("stimulus_consistency: %d stimuli", len(out))
    return out
