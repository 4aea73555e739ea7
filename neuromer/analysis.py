"""Group-level analysis of a run: decoding, audio vs EEG vs self-report comparison, importance.

Called by :func:`neuromer.pipeline.run` after the per-subject tasks. Reads the per-subject aligned
tables and writes to ``<run>/group/``:

- ``metrics.csv``: one row per (target, feature set): cross-validated score at window and trial
  level, permutation chance and p-value;
- ``eval/<target>__<features>/``: every evaluation's frames (predictions per window and trial,
  null distribution);
- ``trials.parquet``: per trial, self-report, audio-predicted and EEG-decoded valence/arousal and
  quadrant (EEG values are cross-validated probabilities of "high");
- ``windows.parquet``: the same on the window grid (for time courses);
- ``comparison.csv``, ``group_stats.csv``, ``stimulus_consistency.csv``, ``timecourse.csv``,
  ``leakage.csv``, ``importance.csv``; and ``<run>/models/eeg_<target>.skops``.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._logging import logger
from .errors import NeuromerError
from .io._atomic import write_table

MIDPOINT = 5.0  # SAM 1-9 middle (DEAP's high/low threshold)


def _save(df: pd.DataFrame, path: Path) -> Path:
    return write_table(df, path)


def _quadrant(valence, arousal, threshold: float) -> np.ndarray:
    """Q1..Q4 from valence/arousal readings (high when > ``threshold``); ``None`` where either is
    missing, so a missing rating or a NaN EEG score is never counted as "low"."""
    from .models.estimators import quadrant

    v, a = (np.asarray(x, dtype=float) for x in (valence, arousal))
    with np.errstate(invalid="ignore"):
        return quadrant(np.where(np.isnan(v), np.nan, v > threshold), np.where(np.isnan(a), np.nan, a > threshold))


def _has_family(table: pd.DataFrame, families) -> bool:
    from .models.estimators import feature_columns

    try:
        return bool(feature_columns(table, families))
    except NeuromerError:
        return False


def load_aligned(run_dir: str | os.PathLike, subjects: list[str] | None = None) -> pd.DataFrame:
    """Concatenate the per-subject aligned tables of a run (in subject order)."""
    base = Path(run_dir) / "subjects"
    paths = sorted(base.glob("sub-*/aligned.parquet"))
    if subjects is not None:
        paths = [p for p in paths if p.parent.name.removeprefix("sub-") in set(subjects)]
    if not paths:
        raise NeuromerError(f"{run_dir}: no aligned tables (subjects/sub-*/aligned.parquet).")
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def group_stage(cfg, statuses: list[dict], audio_path: str | None) -> dict:
    """Run the group analysis for the completed subjects; returns a summary for ``run.json``."""
    from .models.evaluation import evaluate, leakage_report

    out = cfg.out / "group"
    out.mkdir(parents=True, exist_ok=True)
    m = cfg["models"]
    table = load_aligned(cfg.out, [s["subject"] for s in statuses])
    table["subject"] = table["subject"].astype(str)
    if m["shuffle_labels"]:
        table = shuffle_labels(table, random_state=int(m["seed"]))
    n_trials = table.groupby(["subject", "trial"]).ngroups
    logger.info("group stage: %d subjects, %d trials, %d windows", table.subject.nunique(), n_trials, len(table))
    # within-subject CV needs at least two trials per class in each subject; fall back to LOSO
    cv = m["cv"]

    rows, evals = [], {}
    for target in m["targets"]:
        for fs in m["feature_sets"]:
            fs = [fs] if isinstance(fs, str) else list(fs)
            name = "+".join(fs)
            if not _has_family(table, fs):
                logger.info("no %s features; skipping %s ~ %s", name, target, name)
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res = evaluate(table, features=fs, target=target, estimator=m["estimator"], cv=cv,
                                   threshold=m["threshold"], n_permutations=int(m["n_permutations"]),
                                   random_state=int(m["seed"]), n_jobs=int(m["n_jobs"]),
                                   k_best=int(m["k_best"]) or None)
            except NeuromerError as exc:
                logger.warning("could not evaluate %s ~ %s: %s", target, name, exc)
                rows.append({"target": target, "features": name, "error": str(exc)})
                continue
            evals[(target, name)] = res
            res.save(out / "eval" / f"{target}__{name}")
            head = "balanced_accuracy" if res.params.get("task") == "classification" else "ccc"
            for level in ("window", "trial"):
                s = res.summary[(res.summary.level == level) & (res.summary.metric == head)]
                if s.empty:
                    continue
                rows.append({"target": target, "features": name, "level": level, "estimator": str(m["estimator"]),
                             "cv": cv, "metric": head, "score": float(s.value.iloc[0]),
                             "chance": float(s.chance.iloc[0]), "p_value": float(s.p_value.iloc[0]),
                             "n_permutations": int(m["n_permutations"])})
    metrics = pd.DataFrame(rows)
    _save(metrics, out / "metrics.csv")

    trials, windows = _prediction_tables(table, evals)
    _save(trials, out / "trials.parquet")
    _save(windows, out / "windows.parquet")
    summary = {"n_subjects": int(table.subject.nunique()), "n_trials": int(n_trials), "n_windows": int(len(table)),
               "metrics": metrics.to_dict("records")}
    _comparisons(trials, windows, evals, out, cfg)
    if _has_family(table, ["eeg"]):
        try:
            leak = leakage_report(table, features=["eeg"], target="arousal", estimator=m["estimator"],
                                  threshold=m["threshold"], random_state=int(m["seed"]))
            _save(leak.reset_index(), out / "leakage.csv")
        except NeuromerError as exc:
            logger.warning("leakage report skipped: %s", exc)
        _importance_and_models(table, cfg, out)
    return summary


def shuffle_labels(table: pd.DataFrame, *, random_state: int = 0) -> pd.DataFrame:
    """Negative control: permute the self-report of whole trials within each subject.

    Every window keeps its trial's (shuffled) label, so an honest evaluation must score at chance.
    """
    from .session import LABEL_NAMES

    logger.warning("negative control: self-report labels are shuffled across trials within subject")
    rng = np.random.default_rng(random_state)
    cols = [c for c in LABEL_NAMES if c in table]
    per_trial = table.groupby(["subject", "trial"], sort=True)[cols].first().reset_index()
    shuffled = []
    for _, d in per_trial.groupby("subject", sort=True):
        d = d.copy()
        d[cols] = d[cols].to_numpy()[rng.permutation(len(d))]
        shuffled.append(d)
    per_trial = pd.concat(shuffled)
    return table.drop(columns=cols).merge(per_trial, on=["subject", "trial"], how="left")


def _prediction_tables(table: pd.DataFrame, evals: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = ["subject", "trial"]
    per_trial = table.groupby(keys, sort=True).agg(
        stimulus_id=("stimulus_id", "first"), self_valence=("valence", "first"), self_arousal=("arousal", "first"),
        **({"audio_valence": ("audio_pred_valence", "mean")} if "audio_pred_valence" in table else {}),
        **({"audio_arousal": ("audio_pred_arousal", "mean")} if "audio_pred_arousal" in table else {}),
    ).reset_index()
    wcols = ["subject", "trial", "stimulus_id", "window", "t_start", "t_end"] + \
        [c for c in ("audio_pred_valence", "audio_pred_arousal") if c in table]
    windows = table[wcols].copy()
    for dim in ("valence", "arousal"):
        res = evals.get((dim, "eeg"))
        if res is None:
            continue
        pt = res.predictions_trial.copy()
        pw = res.predictions_window.copy()
        for f in (pt, pw):
            f["subject"] = f["subject"].astype(str)
        col = "proba_1" if "proba_1" in pt else [c for c in pt if c.startswith("proba_")][-1]
        per_trial = per_trial.merge(pt[keys + [col]].rename(columns={col: f"eeg_{dim}"}), on=keys, how="left")
        windows = windows.merge(pw[keys + ["window", col]].rename(columns={col: f"eeg_p_{dim}"}),
                                on=keys + ["window"], how="left")
    per_trial["self_quadrant"] = _quadrant(per_trial.self_valence, per_trial.self_arousal, MIDPOINT)
    if {"audio_valence", "audio_arousal"} <= set(per_trial):
        per_trial["audio_quadrant"] = _quadrant(per_trial.audio_valence, per_trial.audio_arousal, MIDPOINT)
    if {"eeg_valence", "eeg_arousal"} <= set(per_trial):
        per_trial["eeg_quadrant"] = _quadrant(per_trial.eeg_valence, per_trial.eeg_arousal, 0.5)
    return per_trial, windows


def _comparisons(trials: pd.DataFrame, windows: pd.DataFrame, evals: dict, out: Path, cfg) -> None:
    from . import compare

    try:
        comp = compare.compare_trials(trials, n_permutations=int(max(cfg["models"]["n_permutations"], 200)),
                                      random_state=int(cfg["models"]["seed"]))
        _save(comp, out / "comparison.csv")
    except NeuromerError as exc:
        logger.warning("comparison skipped: %s", exc)
    if "audio_quadrant" in trials:
        try:
            _save(compare.stimulus_consistency(trials), out / "stimulus_consistency.csv")
        except NeuromerError as exc:
            logger.warning("stimulus consistency skipped: %s", exc)
    if {"audio_pred_arousal", "eeg_p_arousal"} <= set(windows):
        tc = compare.time_course_agreement(windows, x="audio_pred_arousal", y="eeg_p_arousal", max_lag_s=5.0)
        _save(tc, out / "timecourse.csv")
    # group level: per-subject EEG decoding accuracy against chance
    rows = []
    for (target, name), res in evals.items():
        if res.params.get("task") != "classification":
            continue
        per_sub = res.metrics[(res.metrics.scope == "subject") & (res.metrics.level == "trial")]
        if len(per_sub) >= 2 and "balanced_accuracy" in per_sub:
            stats = compare.group_stats(per_sub, "balanced_accuracy", chance=0.5)
            rows.append({"target": target, "features": name, "metric": "balanced_accuracy (per subject, trial level)",
                         **stats})
    if rows:
        _save(pd.DataFrame(rows), out / "group_stats.csv")


def _importance_and_models(table: pd.DataFrame, cfg, out: Path) -> None:
    """Fit the EEG decoder on all data per target; save it and its band-power weights."""
    from .models.estimators import feature_columns, make_estimator, make_target
    from .models.persistence import save_model

    cols = [c for c in feature_columns(table, ["eeg"])
            if re.fullmatch(r"eeg_(theta|slow_alpha|alpha|beta|gamma)_[A-Za-z0-9]+", c)]
    rows = []
    for target in ("valence", "arousal"):
        y = make_target(table, target, threshold=cfg["models"]["threshold"])
        ok = y.notna().to_numpy()
        if not cols or len(np.unique(y[ok])) < 2:
            continue
        model = make_estimator("logreg", "classification", random_state=int(cfg["models"]["seed"]))
        model.fit(table.loc[ok, cols], y[ok].astype(int))
        meta = {"kind": "eeg", "target": target, "task": "classification", "classes": ["low", "high"],
                "features": list(cols), "window_s": float(cfg["windows"]["window_s"]),
                "hop_s": float(cfg["windows"]["hop_s"]), "eeg_baseline": str(cfg["features"]["eeg_baseline"]),
                "preprocess": {k: cfg["preprocess"][k] for k in ("enabled", "sfreq", "l_freq", "h_freq", "reference")}}
        save_model(model, cfg.out / "models" / f"eeg_{target}.skops", metadata=meta)
        coef = np.ravel(model[-1].coef_)
        rows += [{"target": target, "feature": c, "weight": float(w)} for c, w in zip(cols, coef)]
    if rows:
        _save(pd.DataFrame(rows), out / "importance.csv")
