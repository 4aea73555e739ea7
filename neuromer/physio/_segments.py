"""Vectorised aggregation of per-sample signals and detected events over many segments at once.

A segment is a half-open sample range ``[start, stop)`` of one continuous signal; every function
takes arrays of starts and stops (shape (n_segments,)) and uses running sums or
``searchsorted``, so there is no Python loop per window.
"""

from __future__ import annotations

import numpy as np


def finite_runs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) sample indices of the runs of finite samples in ``x``."""
    ok = np.isfinite(np.asarray(x, dtype=np.float64))
    edges = np.diff(np.concatenate([[0], ok.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def cumsum0(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running sums of the finite values of ``x`` and of their count, each with a leading 0."""
    ok = np.isfinite(x)
    return (np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))]),
            np.concatenate([[0], np.cumsum(ok)]))


def seg_mean(x, starts, stops) -> np.ndarray:
    """Mean of the finite samples of ``x`` in each segment (NaN if none)."""
    c, n = cumsum0(np.asarray(x, dtype=np.float64))
    cnt = n[stops] - n[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[stops] - c[starts]) / cnt, np.nan)


def seg_rms(x, starts, stops) -> np.ndarray:
    """RMS about each segment's mean (i.e. the standard deviation)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - np.nanmean(x) if np.isfinite(x).any() else x
    mean = seg_mean(x, starts, stops)
    mean_sq = seg_mean(x * x, starts, stops)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def seg_slope(x, starts, stops, sfreq) -> np.ndarray:
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


def seg_events(events, starts, stops) -> tuple[np.ndarray, np.ndarray]:
    """Index range [lo, hi) of the (sorted) events inside each segment."""
    events = np.asarray(events, dtype=np.int64)
    return np.searchsorted(events, starts, "left"), np.searchsorted(events, stops, "left")


def seg_event_mean(values, lo, hi) -> np.ndarray:
    """Mean of the finite ``values`` of events ``lo:hi`` of each segment (NaN if none)."""
    c, n = cumsum0(np.asarray(values, dtype=np.float64))
    cnt = n[hi] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[hi] - c[lo]) / cnt, np.nan)


def seg_intervals(events, sfreq, lo, hi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, SD (ddof=1) and RMSSD in ms of the inter-event intervals wholly inside each segment.

    Parameters
    ----------
    events : ndarray of int, shape (n_events,)
        Sorted sample indices (beats, breaths).
    sfreq : float
        Sampling rate in Hz.
    lo, hi : ndarray of int, shape (n_segments,)
        Index range of the events in each segment (:func:`seg_events`).

    Returns
    -------
    mean_ms, sdnn_ms, rmssd_ms : ndarray, shape (n_segments,)
        NaN where the segment holds fewer than 1, 2 and 2 intervals respectively. The SD and
        RMSSD are those of :func:`neurokit2.hrv_time` (``HRV_SDNN``, ``HRV_RMSSD``) on the same
        intervals.
    """
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
        mean = np.where(n_rr >= 1, s1 / np.maximum(n_rr, 1), np.nan)
        # two-pass form would need a loop; the one-pass variance is exact enough for intervals
        # of 100-10000 ms (relative error ~1e-12 here)
        var = np.where(n_rr >= 2, (s2 - s1 * s1 / np.maximum(n_rr, 1)) / np.maximum(n_rr - 1, 1), np.nan)
        sdnn = np.sqrt(np.maximum(var, 0.0))
        rmssd = np.where(n_dd >= 1, np.sqrt(sd / np.maximum(n_dd, 1)), np.nan)
    return mean, sdnn, rmssd
