"""Physiological features per window of the shared grid and per trial, via neurokit2.

Each trial's continuous signal (baseline included, so filters settle before stimulus onset) is
processed **once** by neurokit2 (``eda_process``, ``ppg_process``, ``rsp_process``,
``eog_process``, ``emg_clean``); the per-sample outputs and detected events are then aggregated
over every segment (window or whole stimulus period) at once with running sums and
``searchsorted``, with no Python loop per window.

Columns (channel kinds are MNE channel types in ``trials.ch_types``):

=============================== ======== ===================================================
column                          kind     definition
=============================== ======== ===================================================
``physio_eda_tonic``            gsr      mean of ``EDA_Tonic`` (recorded units, µS for DEAP)
``physio_scr_count``            gsr      SCR peaks in the segment
``physio_scr_rate_per_min``     gsr      SCR peaks per minute
``physio_scr_amplitude``        gsr      mean ``SCR_Amplitude`` of those peaks (NaN if none)
``physio_scr_rise_time_s``      gsr      mean ``SCR_RiseTime`` of those peaks (NaN if none)
``physio_hr_bpm``               bio      mean ``PPG_Rate`` (beats per minute)
``physio_hrv_sdnn_ms``          bio      SD of the beat intervals wholly inside the segment
                                         (needs >= 2 intervals, else NaN)
``physio_hrv_rmssd_ms``         bio      RMS of successive interval differences (needs >= 2)
``physio_resp_rate_bpm``        resp     mean ``RSP_Rate`` (breaths per minute)
``physio_resp_amplitude``       resp     mean ``RSP_Amplitude`` (recorded units)
``physio_resp_irregularity``    resp     coefficient of variation of the breath-to-breath
                                         intervals inside the segment (needs >= 2, else NaN)
``physio_temp_mean``            temp.    mean (recorded units)
``physio_temp_slope_per_s``     temp.    least-squares slope, units per second
``physio_emg_rms_{ch}``         emg      RMS about the segment mean of ``emg_clean`` output
                                         (the raw signal below 250 Hz, where neurokit2's
                                         100 Hz high-pass cannot run), per EMG channel, µV
``physio_blink_count``          eog      blinks (``eog_process``) in the segment
``physio_blink_rate_per_min``   eog      blinks per minute
=============================== ======== ===================================================

One channel per kind is used (the first; for EOG a vertical one, ``vEOG``, if present), except
EMG where every channel gets its own column. A missing kind leaves its columns out, with a
warning naming it. A signal neurokit2 cannot process (flat, NaN, too short, sampling rate too low)
gives NaN features for that trial, with a warning; nothing raises.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._checks import validate_type
from .._logging import logger
from ..session import Trials
from ..windows import WindowGrid

#: Channel type -> human name of the signal, in column order.
PHYSIO_KINDS = {"gsr": "EDA", "bio": "PPG", "resp": "respiration", "temperature": "skin temperature",
                "emg": "EMG", "eog": "EOG"}
_EMG_CLEAN_MIN_SFREQ = 250.0  # neurokit2's emg_clean high-passes at 100 Hz
#: Feature keys per channel kind (columns are ``physio_{key}``, EMG ``physio_{key}_{channel}``).
FEATURE_KEYS = {
    "gsr": ("eda_tonic", "scr_count", "scr_rate_per_min", "scr_amplitude", "scr_rise_time_s"),
    "bio": ("hr_bpm", "hrv_sdnn_ms", "hrv_rmssd_ms"),
    "resp": ("resp_rate_bpm", "resp_amplitude", "resp_irregularity"),
    "temperature": ("temp_mean", "temp_slope_per_s"),
    "emg": ("emg_rms",),
    "eog": ("blink_count", "blink_rate_per_min"),
}


def _nk():
    import neurokit2  # imported on first use: it is slow to import and the CLI may not need it

    return neurokit2


def _nan(kind: str, n: int) -> dict[str, np.ndarray]:
    return {k: np.full(n, np.nan) for k in FEATURE_KEYS[kind]}


def _warn(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


# ----------------------------------------------------------------- segment aggregation
def _cum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(x)
    return (np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))]),
            np.concatenate([[0], np.cumsum(ok)]))


def _seg_mean(x, starts, stops):
    c, n = _cum(np.asarray(x, dtype=np.float64))
    cnt = n[stops] - n[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[stops] - c[starts]) / cnt, np.nan)


def _seg_rms(x, starts, stops):
    """RMS about each segment's mean (i.e. the standard deviation)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - np.nanmean(x) if np.isfinite(x).any() else x
    mean = _seg_mean(x, starts, stops)
    mean_sq = _seg_mean(x * x, starts, stops)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def _seg_slope(x, starts, stops, sfreq):
    """Least-squares slope of x against time (units per second) in each segment."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        return np.full(len(starts), np.nan)
    x = x - x.mean()
    i = np.arange(x.size, dtype=np.float64)
    cx = np.concatenate([[0.0], np.cumsum(x)])
    cix = np.concatenate([[0.0], np.cumsum(i * x)])
    n = (stops - starts).astype(np.float64)
    si = (starts + stops - 1) * n / 2.0  # sum of sample indices
    sii = ((stops - 1) * stops * (2 * stops - 1) - (starts - 1) * starts * (2 * starts - 1)) / 6.0
    sx = cx[stops] - cx[starts]
    six = cix[stops] - cix[starts]
    den = n * sii - si * si
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n >= 2) & (den > 0), (n * six - si * sx) / den * sfreq, np.nan)


def _seg_events(events, starts, stops) -> tuple[np.ndarray, np.ndarray]:
    """Index range [lo, hi) of the (sorted) events inside each segment."""
    events = np.asarray(events, dtype=np.int64)
    return np.searchsorted(events, starts, "left"), np.searchsorted(events, stops, "left")


def _seg_event_mean(values, lo, hi):
    c, n = _cum(np.asarray(values, dtype=np.float64))
    cnt = n[hi] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[hi] - c[lo]) / cnt, np.nan)


def _seg_intervals(events, sfreq, lo, hi):
    """Mean, SD (ddof=1) and RMSSD in ms of the inter-event intervals wholly inside each segment."""
    ev = np.asarray(events, dtype=np.float64)
    rr = np.diff(ev) / sfreq * 1000.0  # interval k joins events k and k+1
    dd = np.diff(rr)
    c1 = np.concatenate([[0.0], np.cumsum(rr)])
    c2 = np.concatenate([[0.0], np.cumsum(rr * rr)])
    cd = np.concatenate([[0.0], np.cumsum(dd * dd)])
    n_rr = np.maximum(hi - lo - 1, 0)
    n_dd = np.maximum(hi - lo - 2, 0)
    a = np.minimum(lo, len(rr))
    b = np.minimum(lo + n_rr, len(rr))
    s1, s2 = c1[b] - c1[a], c2[b] - c2[a]
    a2 = np.minimum(lo, len(dd))
    b2 = np.minimum(lo + n_dd, len(dd))
    sd = cd[b2] - cd[a2]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_rr >= 1, s1 / n_rr, np.nan)
        var = np.where(n_rr >= 2, (s2 - s1 * s1 / np.maximum(n_rr, 1)) / np.maximum(n_rr - 1, 1), np.nan)
        sdnn = np.sqrt(np.maximum(var, 0.0))
        rmssd = np.where(n_dd >= 2, np.sqrt(sd / np.maximum(n_dd, 1)), np.nan)
    return mean, sdnn, rmssd


# ------------------------------------------------------------------- per-kind processing
def _run_nk(func, signal, sfreq, what):
    """Call a neurokit2 function; its warnings are silenced, its failures become ``None``."""
    if not np.isfinite(signal).all():
        return None, f"{what} has NaN or infinite samples"
    if np.ptp(signal) == 0:
        return None, f"{what} is flat"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return func(signal, sampling_rate=int(round(sfreq))), None
    except Exception as exc:  # neurokit2 raises many types on signals it cannot handle
        seconds = len(signal) / sfreq  # most failures are signals too short for the measure
        return None, f"neurokit2 could not process {what} ({seconds:.1f} s; {type(exc).__name__}: {exc})"


def _eda(x, sfreq, starts, stops, what):
    out, err = _run_nk(_nk().eda_process, x, sfreq, what)
    dur_min = (stops - starts) / sfreq / 60.0
    if out is None:
        return _nan("gsr", len(starts)), err
    signals, info = out
    peaks = np.asarray(info["SCR_Peaks"], dtype=np.int64)
    order = np.argsort(peaks)
    peaks = peaks[order]
    lo, hi = _seg_events(peaks, starts, stops)
    count = (hi - lo).astype(float)
    amp = np.asarray(info["SCR_Amplitude"], dtype=float)[order] if len(peaks) else np.empty(0)
    rise = np.asarray(info["SCR_RiseTime"], dtype=float)[order] if len(peaks) else np.empty(0)
    return {
        "eda_tonic": _seg_mean(signals["EDA_Tonic"].to_numpy(), starts, stops),
        "scr_count": count, "scr_rate_per_min": count / dur_min,
        "scr_amplitude": _seg_event_mean(amp, lo, hi), "scr_rise_time_s": _seg_event_mean(rise, lo, hi),
    }, None


def _ppg(x, sfreq, starts, stops, what):
    out, err = _run_nk(_nk().ppg_process, x, sfreq, what)
    if out is None:
        return _nan("bio", len(starts)), err
    signals, info = out
    peaks = np.sort(np.asarray(info["PPG_Peaks"], dtype=np.int64))
    _, sdnn, rmssd = _seg_intervals(peaks, sfreq, *_seg_events(peaks, starts, stops))
    return {"hr_bpm": _seg_mean(signals["PPG_Rate"].to_numpy(), starts, stops),
            "hrv_sdnn_ms": sdnn, "hrv_rmssd_ms": rmssd}, None


def _rsp(x, sfreq, starts, stops, what):
    out, err = _run_nk(_nk().rsp_process, x, sfreq, what)
    if out is None:
        return _nan("resp", len(starts)), err
    signals, info = out
    peaks = np.sort(np.asarray(info["RSP_Peaks"], dtype=np.int64))
    lo, hi = _seg_events(peaks, starts, stops)
    mean, sd, _ = _seg_intervals(peaks, sfreq, lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = sd / mean
    return {"resp_rate_bpm": _seg_mean(signals["RSP_Rate"].to_numpy(), starts, stops),
            "resp_amplitude": _seg_mean(signals["RSP_Amplitude"].to_numpy(), starts, stops),
            "resp_irregularity": cv}, None


def _temperature(x, sfreq, starts, stops, what):
    err = None if np.isfinite(x).all() else f"{what} has NaN or infinite samples"
    return {"temp_mean": _seg_mean(x, starts, stops), "temp_slope_per_s": _seg_slope(x, starts, stops, sfreq)}, err


def _emg(x, sfreq, starts, stops, what):
    if sfreq >= _EMG_CLEAN_MIN_SFREQ:
        clean, err = _run_nk(_nk().emg_clean, x, sfreq, what)
        if clean is None:
            return _nan("emg", len(starts)), err
        x = np.asarray(clean, dtype=float)
    return {"emg_rms": _seg_rms(x, starts, stops)}, None


def _eog(x, sfreq, starts, stops, what):
    out, err = _run_nk(_nk().eog_process, x, sfreq, what)
    if out is None:
        return _nan("eog", len(starts)), err
    blinks = np.sort(np.asarray(out[1]["EOG_Blinks"], dtype=np.int64))
    lo, hi = _seg_events(blinks, starts, stops)
    count = (hi - lo).astype(float)
    return {"blink_count": count, "blink_rate_per_min": count / ((stops - starts) / sfreq / 60.0)}, None


_PROCESSORS = {"gsr": _eda, "bio": _ppg, "resp": _rsp, "temperature": _temperature, "emg": _emg, "eog": _eog}


def _channels(trials: Trials) -> list[tuple[str, int, str]]:
    """(kind, channel index, column suffix) of the channels used; warns about missing kinds."""
    out = []
    for kind, human in PHYSIO_KINDS.items():
        idx = list(trials.picks(kind))
        if not idx:
            _warn(f"No {human} channel (channel type {kind!r}) in the trials of subject "
                  f"{trials.subject or '?'}; its physio_ features are absent.")
            continue
        if kind == "emg":
            out += [(kind, i, f"_{trials.ch_names[i]}") for i in idx]
            continue
        if kind == "eog":
            vertical = [i for i in idx if trials.ch_names[i].lower().startswith("v")]
            idx = vertical or idx
        out.append((kind, idx[0], ""))
    return out


def _segment_features(trials: Trials, seg_trial: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                      n_rows: int) -> pd.DataFrame:
    """Features for segments ``[starts, stops)`` (samples) of trials ``seg_trial``; invalid -> NaN."""
    valid = (stops <= trials.n_samples) & (stops > starts) & (starts >= 0)
    columns: dict[str, np.ndarray] = {}
    for kind, ch, suffix in _channels(trials):
        name = trials.ch_names[ch]
        for key in FEATURE_KEYS[kind]:
            columns[f"physio_{key}{suffix}"] = np.full(n_rows, np.nan)
        for i in range(trials.n_trials):
            rows = np.flatnonzero((seg_trial == i) & valid)
            what = f"channel {name!r} of trial {trials.metadata['trial'].iloc[i]}"
            if rows.size == 0:
                continue
            x = np.asarray(trials.data[i, ch], dtype=np.float64)
            feats, err = _PROCESSORS[kind](x, trials.sfreq, starts[rows], stops[rows], what)
            if err:
                _warn(f"{err}; its features are NaN.")
            for key, values in feats.items():
                columns[f"physio_{key}{suffix}"][rows] = values
    return pd.DataFrame(columns, index=range(n_rows))


def physio_window_features(trials: Trials, *, grid: WindowGrid = WindowGrid()) -> pd.DataFrame:
    """Physiological features of every window of every trial's stimulus period.

    Parameters
    ----------
    trials : Trials
        Physiological channels are found by type: ``gsr``, ``bio`` (PPG), ``resp``,
        ``temperature``, ``emg``, ``eog``; native units (EMG/EOG in µV).
    grid : WindowGrid
        The shared window grid.

    Returns
    -------
    DataFrame
        :data:`~neuromer.windows.KEY_COLUMNS` then ``physio_*`` columns (see the module
        docstring), one row per (trial, window). Measures a window is too short for are NaN.

    Examples
    --------
    >>> table = physio_window_features(trials)  # doctest: +SKIP
    >>> table[["t_start", "physio_hr_bpm", "physio_scr_count"]].head()  # doctest: +SKIP
    """
    validate_type(trials, Trials, "trials")
    validate_type(grid, WindowGrid, "grid")
    keys = grid.table(trials.metadata, trials.subject)
    pos = {t: i for i, t in enumerate(trials.metadata["trial"].astype(int))}
    seg_trial = keys["trial"].map(pos).to_numpy(int) if len(keys) else np.zeros(0, int)
    n_win, _ = grid.samples(trials.sfreq)
    starts = np.round((trials.baseline_s + keys["t_start"].to_numpy(float)) * trials.sfreq).astype(np.int64)
    feats = _segment_features(trials, seg_trial, starts, starts + n_win, len(keys))
    return pd.concat([keys.reset_index(drop=True), feats], axis=1)


def physio_trial_features(trials: Trials) -> pd.DataFrame:
    """The same physiological measures over each trial's whole stimulus period.

    Returns
    -------
    DataFrame
        ``subject, trial, stimulus_id`` then ``physio_*`` columns, one row per trial. The period
        is ``duration_s`` from stimulus onset, cut at the end of the data held.
    """
    validate_type(trials, Trials, "trials")
    meta = trials.metadata
    first = int(round(trials.baseline_s * trials.sfreq))
    starts = np.full(trials.n_trials, first, dtype=np.int64)
    dur = np.nan_to_num(meta["duration_s"].to_numpy(float), nan=trials.stimulus_s)
    stops = np.minimum(first + np.round(dur * trials.sfreq).astype(np.int64), trials.n_samples)
    feats = _segment_features(trials, np.arange(trials.n_trials), starts, stops, trials.n_trials)
    keys = pd.DataFrame({"subject": trials.subject, "trial": meta["trial"].astype(int).to_numpy(),
                         "stimulus_id": meta["stimulus_id"].astype(str).to_numpy()})
    return pd.concat([keys, feats], axis=1)


__all__ = ["FEATURE_KEYS", "PHYSIO_KINDS", "physio_trial_features", "physio_window_features"]
