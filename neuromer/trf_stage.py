"""TRF pipeline stage: one subject's forward/backward TRFs as tables, tracking vs emotion, the
``[trf]``/``[align]`` config check and the per-subject and group stages of ``neuromer run``.

The numerical core is :mod:`neuromer.trf`; the inputs come from :mod:`neuromer.trf_data`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._logging import logger
from .errors import NeuromerError
from .trf import DEFAULT_FEATURES, DEFAULT_LAMBDAS, MELODIC_FEATURES, fit_trf
from .trf_data import stimulus_features, trf_data

# ----------------------------------------------------------------------------- one subject
def _sign_flip_p(d: np.ndarray, n: int, rng) -> np.ndarray:
    """One-sided p (mean > 0) per column of per-trial differences ``d`` by random sign flips."""
    d = np.nan_to_num(d)
    obs = d.mean(0)
    signs = rng.choice([-1.0, 1.0], size=(n, d.shape[0]))
    null = signs @ d / d.shape[0]
    return (1 + (null >= obs[None, :] - 1e-12).sum(0)) / (1 + n)


def subject_trf(trials, stimuli, *, features=DEFAULT_FEATURES, lags_s=(-0.1, 0.5), backward_lags_s=(-0.25, 0.0),
                lambdas=DEFAULT_LAMBDAS, folds: int = 5, n_null: int = 200, backward: bool = True,
                random_state=0, feature_cache: dict | None = None) -> dict[str, pd.DataFrame]:
    """Forward (and backward) TRFs of one subject, as tables.

    Parameters
    ----------
    trials : Trials
    stimuli : mapping of str -> path
    features, lags_s, backward_lags_s, lambdas, folds, n_null : see :func:`fit_trf` and the module docstring
    backward : bool
        Also reconstruct the envelope from all EEG channels (``folds``-fold outer CV).
    random_state : int
    feature_cache : dict | None

    Returns
    -------
    dict of DataFrame
        ``weights``: subject, model, feature, channel, lag_s, weight (forward: the full model;
        backward: feature = the EEG channel, channel = ``envelope``); ``scores``: subject, model,
        feature_set, channel (``all`` = mean over channels), r, null_mean, p, alpha;
        ``trials``: subject, trial, stimulus_id, forward_r (mean over channels), backward_r and
        the onset refinement columns when present.
    """
    sub = str(trials.subject or "")
    features = list(features)
    data = trf_data(trials, stimuli, features, feature_cache=feature_cache)
    kw = {"lambdas": lambdas, "folds": folds, "n_null": n_null, "random_state": random_state}
    sets = {"full": features}
    acoustic = [f for f in features if f not in MELODIC_FEATURES]
    if acoustic and len(acoustic) < len(features):
        sets["acoustic"] = acoustic
    weights, scores, fits = [], [], {}
    for name, fset in sets.items():
        cols = [features.index(f) for f in fset]
        res = fit_trf([x[:, cols] for x in data.X], data.Y, data.sfreq, lags_s=lags_s, inputs=fset,
                      outputs=data.channels, **kw)
        fits[name] = res
        p = res.p_values()
        null_mean = np.append(res.null.mean(0), res.null.mean()) if len(res.null) else np.full(len(p), np.nan)
        for j, ch in enumerate([*data.channels, "all"]):
            r = res.mean_r[j] if ch != "all" else float(np.nanmean(res.mean_r))
            scores.append({"subject": sub, "model": "forward", "feature_set": name, "channel": ch, "r": float(r),
                           "null_mean": float(null_mean[j]), "p": float(p[j]), "alpha": res.alpha})
        if name == "full":
            c, f, lag = np.meshgrid(np.arange(len(data.channels)), np.arange(len(fset)), np.arange(len(res.lags_s)),
                                    indexing="ij")
            weights.append(pd.DataFrame({"subject": sub, "model": "forward",
                                         "feature": np.asarray(fset)[f.ravel()],
                                         "channel": np.asarray(data.channels)[c.ravel()],
                                         "lag_s": res.lags_s[lag.ravel()], "weight": res.weights.ravel()}))
    if "acoustic" in fits:  # unique contribution of the melodic features: partial r
        d = fits["full"].r - fits["acoustic"].r
        p = _sign_flip_p(np.column_stack([d, np.nanmean(d, axis=1)]), n_null or 1000,
                         np.random.default_rng(random_state))
        for j, ch in enumerate([*data.channels, "all"]):
            r = np.nanmean(d[:, j]) if ch != "all" else float(np.nanmean(d))
            scores.append({"subject": sub, "model": "forward", "feature_set": "melodic_unique", "channel": ch,
                           "r": float(r), "null_mean": 0.0, "p": float(p[j]), "alpha": np.nan})
    table = data.trials[["trial", "stimulus_id"]].copy()
    table.insert(0, "subject", sub)
    table["forward_r"] = np.nanmean(fits["full"].r, axis=1)
    if backward:
        env = data if features[:1] == ["envelope"] and len(features) == 1 else \
            trf_data(trials, stimuli, ["envelope"], feature_cache=feature_cache)
        res = fit_trf(env.Y, [x[:, :1] for x in env.X], env.sfreq, lags_s=backward_lags_s, outer="kfold",
                      inputs=env.channels, outputs=["envelope"], **kw)
        p = res.p_values()
        scores.append({"subject": sub, "model": "backward", "feature_set": "envelope", "channel": "all",
                       "r": float(res.mean_r[0]), "null_mean": float(res.null.mean()) if len(res.null) else np.nan,
                       "p": float(p[0]), "alpha": res.alpha})
        c, lag = np.meshgrid(np.arange(len(env.channels)), np.arange(len(res.lags_s)), indexing="ij")
        weights.append(pd.DataFrame({"subject": sub, "model": "backward",
                                     "feature": np.asarray(env.channels)[c.ravel()], "channel": "envelope",
                                     "lag_s": res.lags_s[lag.ravel()], "weight": res.weights[0].ravel()}))
        table["backward_r"] = res.r[:, 0]
    for col in ("onset_offset_s", "onset_confidence"):
        if col in data.trials:
            table[col] = data.trials[col].to_numpy()
    return {"weights": pd.concat(weights, ignore_index=True), "scores": pd.DataFrame(scores), "trials": table}


# ----------------------------------------------------------------------------- emotion join
def tracking_vs_emotion(trf_trials: pd.DataFrame, emotion: pd.DataFrame, *, n_permutations: int = 1000,
                        random_state=0) -> pd.DataFrame:
    """Per-trial tracking strength against self-reported and predicted emotion.

    Parameters
    ----------
    trf_trials : DataFrame
        ``subject, trial, forward_r[, backward_r]`` (from :func:`subject_trf`).
    emotion : DataFrame
        ``subject, trial`` and any of ``self_valence, self_arousal, audio_valence, audio_arousal,
        eeg_valence, eeg_arousal`` (the run's ``group/trials.parquet``).
    n_permutations, random_state : int
        Of :func:`neuromer.compare.agreement` (shuffles within subjects).

    Returns
    -------
    DataFrame
        One row per (tracking, emotion, scope): ``scope = "pooled"`` has the within-subject
        permutation statistics of :func:`~neuromer.compare.agreement` (Pearson, Spearman and their
        p); ``scope = "group"`` summarises the per-subject Pearson r with
        :func:`~neuromer.compare.group_stats` (chance 0, two-sided).
    """
    from .compare import agreement, group_stats

    keys = ["subject", "trial"]
    t = trf_trials.assign(subject=trf_trials.subject.astype(str))
    e = emotion.assign(subject=emotion.subject.astype(str))
    m = t.merge(e.drop(columns=[c for c in e if c in t and c not in keys]), on=keys, how="inner")
    rows = []
    targets = [c for c in ("self_valence", "self_arousal", "audio_valence", "audio_arousal", "eeg_valence",
                           "eeg_arousal") if c in m]
    for track in [c for c in ("forward_r", "backward_r") if c in m]:
        for target in targets:
            a = agreement(m[track], m[target], kind="continuous", n_permutations=n_permutations,
                          random_state=random_state, groups=m.subject)
            rows.append({"tracking": track, "emotion": target, "scope": "pooled", "n": a["n"],
                         "pearson": a["pearson"], "p_pearson": a["p_pearson"], "spearman": a["spearman"],
                         "p_spearman": a["p_spearman"]})
            per = [agreement(d[track], d[target], kind="continuous", n_permutations=0)["pearson"]
                   for _, d in m.groupby("subject")]
            g = group_stats(per, chance=0.0, alternative="two-sided")
            rows.append({"tracking": track, "emotion": target, "scope": "group", "n": g["n"], "pearson": g["mean"],
                         "p_pearson": g["p_t"], "ci_low": g["ci_low"], "ci_high": g["ci_high"]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- pipeline stages
def check_config(sections: dict, where: str) -> None:
    """Validate the ``[trf]`` and ``[align]`` run-config sections (one-line errors naming the key)."""
    t, a = sections["trf"], sections["align"]

    def pair(key, value, section):
        ok = (isinstance(value, (list, tuple)) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)
              and value[1] > value[0])
        if not ok:
            raise NeuromerError(f"{where}: '{section}.{key}' must be [earliest, latest] in seconds with latest > "
                                f"earliest, got {value!r}.")

    pair("lags_s", t["lags_s"], "trf")
    pair("backward_lags_s", t["backward_lags_s"], "trf")
    pair("refine_search_s", a["refine_search_s"], "align")
    lam = t["lambdas"]
    if not (isinstance(lam, (list, tuple)) and lam and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0 for v in lam)):
        raise NeuromerError(f"{where}: 'trf.lambdas' must be a list of positive numbers, got {lam!r}.")
    feats = t["features"]
    known = ("envelope", "flux", *MELODIC_FEATURES)
    if not (isinstance(feats, (list, tuple)) and feats and all(
            isinstance(f, str) and (f in known or f.startswith("audio_")) for f in feats)):
        raise NeuromerError(f"{where}: 'trf.features' must be a list of {', '.join(known)} or audio_<frame series>, "
                            f"got {feats!r}.")
    if t["folds"] < 2:
        raise NeuromerError(f"{where}: 'trf.folds' must be >= 2, got {t['folds']!r}.")
    if t["n_null"] < 0:
        raise NeuromerError(f"{where}: 'trf.n_null' must be >= 0, got {t['n_null']!r}.")
    if not isinstance(a["refine_onsets"], str):
        raise NeuromerError(f"{where}: 'align.refine_onsets' must be a channel or stream name (text), "
                            f"got {a['refine_onsets']!r}.")


def _cached_features(path, sfreq: float, features: list, cache_dir) -> np.ndarray:
    """Stimulus features from the run's cache (keyed by audio content, rate and feature list)."""
    from pathlib import Path

    import hashlib

    from .io._atomic import atomic_path

    h = hashlib.sha256(Path(path).read_bytes())
    h.update(f"|{sfreq!r}|{','.join(features)}|v1".encode())
    key = h.hexdigest()[:20]
    target = Path(cache_dir) / f"{key}.npy"
    if target.is_file():
        try:
            return np.load(target, allow_pickle=False)
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    x = stimulus_features(path, sfreq, features)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, x, allow_pickle=False)
    return x


def trf_subject_stage(trials, protocol, cfg, out) -> dict[str, str]:
    """Pipeline stage: one subject's TRF tables in its folder; returns their paths."""
    from .io._atomic import write_table

    t = cfg["trf"]
    if protocol is None:
        raise NeuromerError("[trf] needs the protocol (its stimulus audio files).")
    stimuli = {s.id: s.file for s in protocol.stimuli if s.file is not None and s.file.is_file()}
    cache = {}
    features = list(t["features"])
    for sid in set(trials.metadata["stimulus_id"]) & set(stimuli):
        for fl in ([features, ["envelope"]] if t["backward"] else [features]):
            cache[(sid, float(trials.sfreq), tuple(fl))] = _cached_features(
                stimuli[sid], float(trials.sfreq), fl, cfg.out / "trf" / "cache")
    tables = subject_trf(trials, stimuli, features=features, lags_s=tuple(t["lags_s"]),
                         backward_lags_s=tuple(t["backward_lags_s"]), lambdas=t["lambdas"], folds=int(t["folds"]),
                         n_null=int(t["n_null"]), backward=bool(t["backward"]),
                         random_state=int(cfg["models"]["seed"]), feature_cache=cache)
    return {f"trf_{k}": str(write_table(v, out / f"trf_{k}.parquet")) for k, v in tables.items()}


def trf_group_stage(cfg, statuses: list[dict]) -> dict:
    """Pipeline stage: ``group/trf_weights.parquet``, ``trf_scores.parquet``, ``trf_trials.parquet`` and
    ``trf_emotion.csv`` (tracking vs emotion); returns a summary for ``run.json``."""
    from .io._atomic import write_table

    group = cfg.out / "group"
    tables: dict[str, list] = {"weights": [], "scores": [], "trials": []}
    for st in statuses:
        for k in tables:
            p = (st.get("outputs") or {}).get(f"trf_{k}")
            if p and os.path.isfile(p):
                tables[k].append(pd.read_parquet(p))
    if not tables["scores"]:
        logger.warning("TRF: no subject has TRF tables; group TRF outputs skipped.")
        return {"n_subjects": 0}
    merged = {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
    for k, v in merged.items():
        write_table(v, group / f"trf_{k}.parquet")
    emo_path = group / "trials.parquet"
    if emo_path.is_file():
        emo = tracking_vs_emotion(merged["trials"], pd.read_parquet(emo_path),
                                  n_permutations=max(int(cfg["models"]["n_permutations"]), 200),
                                  random_state=int(cfg["models"]["seed"]))
        write_table(emo, group / "trf_emotion.csv")
    sc = merged["scores"]
    head = sc[(sc.channel == "all") & sc.feature_set.isin(["full", "envelope"])]
    return {"n_subjects": int(sc.subject.nunique()),
            "scores": head[["subject", "model", "r", "null_mean", "p"]].to_dict("records")}
