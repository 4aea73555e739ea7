"""The aligned table: EEG, physiological and music features on the shared window grid.

Alignment is a join, never a resampling guess: every family is computed on the same
:class:`~neuromer.windows.WindowGrid` with times relative to stimulus onset, so EEG and physio
features join on ``(subject, trial, window)`` and audio features (computed once per stimulus)
join on ``stimulus_id`` and window time.

Audio latency convention
------------------------
Stimulus onset comes from the markers (the trials table). ``audio_latency_s`` is the delay from
the onset marker to the sound reaching the listener (output buffer, driver, loudspeaker). A
trial window starting ``t_start`` seconds after the marker is therefore paired with the audio
window that starts at ``t_start - audio_latency_s`` seconds into the audio file (the nearest audio
window start, within half a hop). With a positive latency the first windows of a trial have no
audio yet (NaN audio columns); the table still has a row for every window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._checks import check_positive, validate_type
from ._logging import logger
from .errors import NeuromerError
from .session import Trials
from .windows import WindowGrid


def _family(trials, table, name, compute, grid, kind):
    """A per-window feature table for one family, or None."""
    if table is False:
        return None
    if table is None or table is True:
        if kind == "eeg" and len(trials.picks("eeg")) == 0:
            if table is True:
                raise NeuromerError("eeg=True but the trials have no EEG channels.")
            logger.info("No EEG channels: the aligned table has no eeg_ columns.")
            return None
        return compute(trials, grid=grid)
    validate_type(table, pd.DataFrame, name)
    missing = [c for c in ("trial", "window", "t_start") if c not in table]
    if missing:
        raise NeuromerError(f"The {name} table lacks the key column(s) {missing}.")
    return table


def _join_family(out: pd.DataFrame, table: pd.DataFrame | None, prefix: str, name: str) -> pd.DataFrame:
    if table is None:
        return out
    feats = [c for c in table.columns if c.startswith(prefix)]
    right = table[["trial", "window", "t_start"] + feats].rename(columns={"t_start": "_t_start"})
    right = right.astype({"trial": "int64", "window": "int64"})
    if right.duplicated(["trial", "window"]).any():
        raise NeuromerError(f"The {name} table has more than one row per (trial, window).")
    merged = out.merge(right, on=["trial", "window"], how="left", validate="one_to_one")
    both = merged["_t_start"].notna()
    if not np.allclose(merged.loc[both, "_t_start"], merged.loc[both, "t_start"], atol=1e-6):
        raise NeuromerError(f"The {name} table was computed on a different window grid "
                            "(its t_start values do not match this grid's).")
    return merged.drop(columns="_t_start")


def _join_audio(out: pd.DataFrame, audio: pd.DataFrame, grid: WindowGrid, latency_s: float) -> pd.DataFrame:
    validate_type(audio, pd.DataFrame, "audio_features")
    missing = [c for c in ("stimulus_id", "t_start") if c not in audio]
    if missing:
        raise NeuromerError(f"The audio features table lacks the column(s) {missing}.")
    feats = [c for c in audio.columns if c.startswith("audio_")]
    if not feats:
        raise NeuromerError("The audio features table has no audio_ columns.")
    if "t_end" in audio and len(audio):
        length = float(np.median(audio["t_end"] - audio["t_start"]))
        if abs(length - grid.window_s) > 1e-6:
            logger.warning("Audio windows are %.3g s long but the grid's are %.3g s; audio features "
                           "were computed on another grid.", length, grid.window_s)
    right = audio[["stimulus_id", "t_start"] + feats].copy()
    right["stimulus_id"] = right["stimulus_id"].astype(str)
    right = right.rename(columns={"t_start": "_audio_t"}).sort_values("_audio_t", kind="stable")
    right["_audio_t"] = right["_audio_t"].astype(float)
    unknown = sorted(set(out["stimulus_id"]) - set(right["stimulus_id"]))
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        logger.warning("No audio features for stimulus id(s) %s; their audio_ columns are NaN.", shown)
    left = out.assign(_audio_t=out["t_start"].astype(float) - latency_s, _row=np.arange(len(out)))
    left = left.sort_values("_audio_t", kind="stable")
    # nearest audio window start within half a hop (a hair less, so that ties cannot happen)
    tol = 0.5 * min(grid.hop_s, grid.window_s) - 1e-9
    merged = pd.merge_asof(left, right, on="_audio_t", by="stimulus_id", direction="nearest", tolerance=tol)
    return merged.sort_values("_row").drop(columns=["_audio_t", "_row"]).reset_index(drop=True)


def align(trials: Trials, audio_features: pd.DataFrame | None = None, *, eeg=None, physio=None,
          grid: WindowGrid = WindowGrid(), audio_latency_s: float = 0.0) -> pd.DataFrame:
    """Build the aligned table: one row per (subject, trial, window) of the stimulus periods.

    Parameters
    ----------
    trials : Trials
        Gives the windows (trials table: ``trial``, ``stimulus_id``, ``duration_s``) and the data
        for features computed here.
    audio_features : DataFrame | None
        Per-stimulus audio table with ``stimulus_id``, ``t_start`` (seconds into the audio file)
        and ``audio_*`` columns (frame features and the audio-emotion predictions
        ``audio_pred_valence/arousal/quadrant``), on the same grid.
    eeg, physio : DataFrame | bool | None
        A precomputed window table (from :func:`~neuromer.eeg.eeg_window_features` /
        :func:`~neuromer.physio.physio_window_features` on the same grid); ``None`` computes it
        from ``trials`` (EEG only if there are EEG channels); ``False`` leaves the family out.
    grid : WindowGrid
        The shared window grid.
    audio_latency_s : float
        Delay from the stimulus-onset marker to the sound, in seconds (>= 0); see the module
        docstring for the convention.

    Returns
    -------
    DataFrame
        :data:`~neuromer.windows.KEY_COLUMNS`, then ``eeg_*``, ``physio_*`` and ``audio_*``
        columns. Every window of every trial has a row; features a family lacks are NaN.
    """
    validate_type(trials, Trials, "trials")
    validate_type(grid, WindowGrid, "grid")
    latency = check_positive(audio_latency_s, "audio_latency_s", allow_zero=True)
    from .eeg import eeg_window_features
    from .physio import physio_window_features

    out = grid.table(trials.metadata, trials.subject)
    out = out.astype({"trial": "int64", "window": "int64"})
    out = _join_family(out, _family(trials, eeg, "eeg", eeg_window_features, grid, "eeg"), "eeg_", "eeg")
    out = _join_family(out, _family(trials, physio, "physio", physio_window_features, grid, "physio"),
                       "physio_", "physio")
    if audio_features is not None:
        out = _join_audio(out, audio_features, grid, latency)
    return out.reset_index(drop=True)


def _corr(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3:
        return np.nan, n
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return (float(np.dot(a, b) / den) if den > 0 else np.nan), n


def lag_analysis(table: pd.DataFrame, x: str = "audio_rms_db_mean", y: str = "eeg_faa", *,
                 max_lag_s: float = 5.0) -> pd.DataFrame:
    """Cross-correlate two feature curves of the aligned table over lags of -max..+max seconds.

    For each (subject, trial) the windows are ordered in time and Pearson's r between
    ``x(t)`` and ``y(t + lag)`` is computed for every lag that is a whole number of hops: a
    **positive lag means y follows x** (e.g. the EEG responding to the music). Per-subject
    averages over trials use Fisher's z.

    Parameters
    ----------
    table : DataFrame
        An aligned table (:func:`align`) with ``subject, trial, t_start`` and columns ``x``, ``y``.
    x, y : str
        Feature columns (e.g. ``"audio_rms_db_mean"`` and ``"eeg_alpha_Fz"``).
    max_lag_s : float
        Largest lag in seconds.

    Returns
    -------
    DataFrame
        Columns ``subject, trial, lag_s, r, n, peak``: one row per trial and lag (``n`` = window
        pairs used), then one row per subject and lag with ``trial`` missing (``<NA>``), ``r`` the
        Fisher-z mean over trials and ``n`` the number of trials averaged. ``peak`` marks, in each
        trial's and each average's curve, the lag of the largest absolute correlation.

    Examples
    --------
    >>> res = lag_analysis(aligned, "audio_rms_db_mean", "eeg_alpha_Fz")  # doctest: +SKIP
    >>> res[res.peak & res.trial.isna()][["subject", "lag_s", "r"]]  # doctest: +SKIP
    """
    validate_type(table, pd.DataFrame, "table")
    for col in ("subject", "trial", "t_start", x, y):
        if col not in table:
            raise NeuromerError(f"The table has no {col!r} column.")
    max_lag_s = check_positive(max_lag_s, "max_lag_s", allow_zero=True)
    starts = np.sort(table["t_start"].astype(float).unique())
    hop = float(np.min(np.diff(starts))) if len(starts) > 1 else 1.0
    n_lags = int(np.floor(max_lag_s / hop + 1e-9))
    lags = np.arange(-n_lags, n_lags + 1)
    rows = []
    for (subject, trial), grp in table.groupby(["subject", "trial"], sort=True):
        grp = grp.sort_values("t_start")
        # place values on the hop grid so a missing window stays a gap rather than a shift
        idx = np.round((grp["t_start"].to_numpy(float) - grp["t_start"].min()) / hop).astype(int)
        xs = np.full(idx.max() + 1, np.nan)
        ys = np.full(idx.max() + 1, np.nan)
        xs[idx] = pd.to_numeric(grp[x], errors="coerce").to_numpy(float)
        ys[idx] = pd.to_numeric(grp[y], errors="coerce").to_numpy(float)
        m = len(xs)
        for k in lags:
            if k >= 0:
                r, n = _corr(xs[:m - k] if k else xs, ys[k:])
            else:
                r, n = _corr(xs[-k:], ys[:m + k])
            rows.append((subject, trial, k * hop, r, n))
    res = pd.DataFrame(rows, columns=["subject", "trial", "lag_s", "r", "n"])
    res["trial"] = res["trial"].astype("Int64")
    z = np.arctanh(np.clip(res["r"], -0.999999, 0.999999))
    mean = (res.assign(z=z).groupby(["subject", "lag_s"], sort=True)
            .agg(z=("z", "mean"), n=("z", "count")).reset_index())
    mean = pd.DataFrame({"subject": mean["subject"], "trial": pd.array([pd.NA] * len(mean), dtype="Int64"),
                         "lag_s": mean["lag_s"], "r": np.tanh(mean["z"]), "n": mean["n"]})
    res = pd.concat([res, mean], ignore_index=True)
    res["peak"] = False
    key = res["trial"].astype("float").fillna(-np.inf)
    absr = res["r"].abs()
    for _, grp in absr.groupby([res["subject"], key], sort=False):
        if grp.notna().any():
            res.loc[grp.idxmax(), "peak"] = True
    return res


__all__ = ["align", "lag_analysis"]
