"""Temporal response functions (TRF): which musical features the EEG follows, at what latency.

- **Forward model** (encoding): EEG ~ lagged stimulus features, per channel.
- **Backward model** (decoding): the stimulus envelope ~ lagged EEG of all channels.

Both are ridge regressions fitted by MNE (:class:`mne.decoding.TimeDelayingRidge`'s own
correlation and solver functions, called per trial so that cross-validation over trials sums
per-trial matrices instead of refitting; :func:`fit_trf` checks equality with the public
estimator). Conventions:

- features and EEG are z-scored within each trial's stimulus period (so weights are µV-free:
  SD of EEG per SD of feature), from the trial's onset (refine it first with
  :mod:`neuromer.onsets`) for ``duration_s``;
- a lag ``τ > 0`` means the response follows the feature by ``τ`` seconds (forward lags
  ``lags_s``, -0.1..0.5 s by default; backward lags ``backward_lags_s``, -0.25..0 s: the envelope
  at ``t`` read from the EEG up to 250 ms later);
- the ridge penalty is ``lambda x mean(diag(XᵀX))`` (relative, so one grid suits any study
  size), chosen by **nested cross-validation over trials**: for each held-out trial (forward) or
  fold of trials (backward) the penalty maximising the mean validation r over ``folds`` folds of
  the remaining trials is used; validation r comes from the correlation matrices (the lagged
  design has mean ~0 after per-trial z-scoring);
- **scores**: the held-out prediction's Pearson r per channel (and ``all`` = mean over channels);
  the **null** repeats the outer cross-validation (each fold with the penalty it chose) ``n_null``
  times after circularly shifting every trial's response by one common random shift of at least
  ``min_shift_s``, so stimulus and response no longer line up but each keeps its own structure;
  ``p = (1 + #null >= r) / (1 + n_null)``;
- **unique contribution** of melodic/expressive features (``note_onsets``, ``pitch``) over the
  acoustic ones: r of the full model minus r of the acoustic-only model, per channel, with a
  sign-flip test over trials (partial r).

The null is computed by :mod:`neuromer.trf_null` (exactly, without refitting), the stimulus
features and per-trial data by :mod:`neuromer.trf_data`, and the per-subject tables, the join
with emotion and the pipeline stages by :mod:`neuromer.trf_stage`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._checks import check_positive
from .errors import NeuromerError
from .trf_null import _shift_null

DEFAULT_FEATURES = ("envelope", "flux", "note_onsets", "pitch")
MELODIC_FEATURES = ("note_onsets", "pitch")
DEFAULT_LAMBDAS = tuple(float(x) for x in np.logspace(-4, 3, 8))

# ----------------------------------------------------------------------------- fitting
def lag_samples(lags_s, sfreq: float) -> tuple[int, int]:
    """(first lag, last lag + 1) in samples, as TimeDelayingRidge rounds them."""
    lo, hi = (float(v) for v in lags_s)
    if not hi > lo:
        raise NeuromerError(f"[trf] lags must be (earliest, latest) with latest > earliest, got {lags_s!r}.")
    return int(round(lo * sfreq)), int(round(hi * sfreq)) + 1


def _corrs(x: np.ndarray, y: np.ndarray, smin: int, smax: int) -> tuple[np.ndarray, np.ndarray]:
    """One trial's lagged auto- and cross-correlations (MNE's TimeDelayingRidge internals)."""
    import mne
    from mne.decoding.time_delaying_ridge import _compute_corrs

    with mne.utils.use_log_level("warning"):  # no progress bar per trial
        xx, xy, _, _, _ = _compute_corrs(x, y, smin, smax, fit_intercept=False, edge_correction=True)
    return xx, xy


def _solve(xx: np.ndarray, xy: np.ndarray, n_feat: int, alpha: float) -> np.ndarray:
    """Ridge weights (n_outputs, n_features, n_lags) from summed correlations (MNE's solver)."""
    from mne.decoding.time_delaying_ridge import _fit_corrs

    return _fit_corrs(xx, xy, n_feat, "ridge", alpha, n_feat)


def predict(x: np.ndarray, w: np.ndarray, smin: int) -> np.ndarray:
    """Response of lagged inputs: ``out[t, c] = sum_f sum_l w[c, f, l] x[t - smin - l, f]``.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_features)
    w : ndarray, shape (n_outputs, n_features, n_lags)
    smin : int
        First lag in samples.

    Returns
    -------
    ndarray, shape (n_samples, n_outputs)
    """
    import scipy.signal

    n = len(x)
    full = sum(scipy.signal.fftconvolve(x[:, f:f + 1], w[:, f, :].T, axes=0) for f in range(x.shape[1]))
    idx = np.arange(n) - smin
    out = np.zeros((n, w.shape[0]))
    ok = (idx >= 0) & (idx < len(full))
    out[ok] = full[idx[ok]]
    return out


def _r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = np.sqrt((a ** 2).sum(0) * (b ** 2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(0) / den, np.nan)


@dataclass
class TrfResult:
    """A cross-validated TRF of one subject.

    Attributes
    ----------
    weights : ndarray, shape (n_outputs, n_inputs, n_lags)
        Model fitted on every trial with ``alpha`` (z-score units).
    lags_s : ndarray, shape (n_lags,)
    alpha : float
        Relative penalty chosen by cross-validation over all trials.
    r : ndarray, shape (n_trials, n_outputs)
        Held-out prediction r per trial and output.
    null : ndarray, shape (n_null, n_outputs)
        Null distribution of the trial-mean r per output.
    alphas : ndarray, shape (n_tests,)
        Penalty chosen (nested) for each held-out trial or fold.
    inputs, outputs : list of str
    """

    weights: np.ndarray
    lags_s: np.ndarray
    alpha: float
    r: np.ndarray
    null: np.ndarray
    alphas: np.ndarray
    inputs: list
    outputs: list

    @property
    def mean_r(self) -> np.ndarray:
        return np.nanmean(self.r, axis=0)

    def p_values(self) -> np.ndarray:
        """One-sided p of the trial-mean r per output, and of their mean (last entry)."""
        obs = np.append(self.mean_r, np.nanmean(self.mean_r))
        null = np.column_stack([self.null, self.null.mean(axis=1)])
        return (1 + (null >= obs[None, :] - 1e-12).sum(0)) / (1 + len(null))


def _folds(n: int, k: int) -> list[np.ndarray]:
    k = max(2, min(k, n))
    return [np.arange(n)[i::k] for i in range(k)]


def _val_r(w: np.ndarray, xx: np.ndarray, xy: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Validation r per output from correlation matrices (w: (C, F, L) -> flat (F*L, C))."""
    wf = w.reshape(w.shape[0], -1).T  # MNE orders the design feature-major, lag-minor
    num = (wf * xy).sum(0)
    var = ((xx @ wf) * wf).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / np.sqrt(np.maximum(var, 1e-300) * yy)


def _choose_alpha(train: list, XX, XY, YY, n_feat: int, lambdas, folds: int, scale: float,
                  sums: tuple | None = None) -> float:
    """The penalty with the best mean validation r over ``folds`` folds of ``train``.

    ``scale`` is the penalty per trial fitted; ``sums`` = (sum of XX, sum of XY) over ``train``
    (the fit sets are then that minus the validation fold: no re-summing per fold).
    """
    xx_all, xy_all = sums if sums is not None else (sum(XX[i] for i in train), sum(XY[i] for i in train))
    parts = _folds(len(train), folds)
    score = np.zeros(len(lambdas))
    for part in parts:
        val = [train[i] for i in part]
        n_fit = len(train) - len(val)
        if not n_fit:
            continue
        vxx, vxy, vyy = sum(XX[i] for i in val), sum(XY[i] for i in val), sum(YY[i] for i in val)
        xx, xy = xx_all - vxx, xy_all - vxy
        for j, lam in enumerate(lambdas):
            score[j] += np.nanmean(_val_r(_solve(xx, xy, n_feat, lam * scale * n_fit), vxx, vxy, vyy))
    return float(lambdas[int(np.argmax(score))])


def fit_trf(X: list, Y: list, sfreq: float, *, lags_s=(-0.1, 0.5), lambdas=DEFAULT_LAMBDAS, folds: int = 5,
            outer: str = "loto", n_null: int = 200, min_shift_s: float = 1.0, random_state=0,
            inputs=None, outputs=None) -> TrfResult:
    """Nested cross-validated ridge TRF mapping per-trial ``X`` to ``Y``.

    Parameters
    ----------
    X, Y : list of ndarray, shapes (n_samples_k, n_inputs) and (n_samples_k, n_outputs)
        One pair per trial (z-scored; see :func:`trf_data`).
    sfreq : float
        Rate in Hz.
    lags_s : (float, float)
        First and last lag in seconds (``Y`` at ``t`` depends on ``X`` at ``t - lag``).
    lambdas : sequence of float
        Relative ridge penalties searched.
    folds : int
        Inner folds (and outer folds when ``outer="kfold"``).
    outer : ``"loto"`` | ``"kfold"``
        Leave one trial out, or ``folds`` folds of trials, for the held-out scores.
    n_null, min_shift_s : int, float
        Null draws and the smallest circular shift (s).
    random_state : int
        Seed of the null's shifts.

    Returns
    -------
    TrfResult

    Raises
    ------
    NeuromerError
        Fewer than 3 trials, or lags longer than a trial.
    """
    from threadpoolctl import threadpool_limits

    # the systems are small (features x lags): BLAS threads only contend, badly on a busy machine
    with threadpool_limits(limits=1):
        return _fit_trf(X, Y, sfreq, lags_s=lags_s, lambdas=lambdas, folds=folds, outer=outer, n_null=n_null,
                        min_shift_s=min_shift_s, random_state=random_state, inputs=inputs, outputs=outputs)


def _fit_trf(X, Y, sfreq, *, lags_s, lambdas, folds, outer, n_null, min_shift_s, random_state, inputs, outputs):
    n_tr = len(X)
    if n_tr < 3:
        raise NeuromerError(f"TRF: cross-validation over trials needs >= 3 trials, got {n_tr}.")
    sfreq = check_positive(sfreq, "sfreq")
    smin, smax = lag_samples(lags_s, sfreq)
    n_lags = smax - smin
    for k, x in enumerate(X):
        if len(x) <= max(abs(smin), abs(smax - 1)) or len(x) < n_lags:
            raise NeuromerError(f"TRF: lags {lags_s[0]:g}..{lags_s[1]:g} s are longer than trial {k + 1} "
                                f"({len(x) / sfreq:.2f} s).")
    lambdas = np.asarray(sorted(float(v) for v in lambdas))
    if not len(lambdas) or (lambdas <= 0).any():
        raise NeuromerError(f"[trf] lambdas must be positive numbers, got {list(lambdas)!r}.")
    n_feat = X[0].shape[1]
    corrs = [_corrs(x, y, smin, smax) for x, y in zip(X, Y)]
    XX = [c[0] for c in corrs]
    XY = [c[1] for c in corrs]
    YY = [(y ** 2).sum(0) for y in Y]
    total_xx, total_xy = sum(XX), sum(XY)
    scale = float(np.mean(np.diag(total_xx)) / n_tr)  # per-trial mean diagonal: penalty per trial's data

    tests = [np.array([k]) for k in range(n_tr)] if outer == "loto" else _folds(n_tr, folds)
    r = np.full((n_tr, Y[0].shape[1]), np.nan)
    preds: dict[int, np.ndarray] = {}
    alphas = []
    for test in tests:
        train = [i for i in range(n_tr) if i not in set(test)]
        sums = (total_xx - sum(XX[i] for i in test), total_xy - sum(XY[i] for i in test))
        lam = _choose_alpha(train, XX, XY, YY, n_feat, lambdas, folds, scale, sums)
        alphas.append(lam)
        w = _solve(*sums, n_feat, lam * scale * len(train))
        for k in test:
            preds[k] = predict(X[k], w, smin)
            r[k] = _r(preds[k], Y[k])
    alpha = _choose_alpha(list(range(n_tr)), XX, XY, YY, n_feat, lambdas, folds, scale, (total_xx, total_xy))
    weights = _solve(total_xx, total_xy, n_feat, alpha * scale * n_tr)
    null = _shift_null(X, Y, XX, tests, alphas, scale, smin, smax, n_feat, int(round(min_shift_s * sfreq)),
                       n_null, random_state)
    return TrfResult(weights, np.arange(smin, smax) / sfreq, alpha, r, null, np.asarray(alphas),
                     list(inputs) if inputs is not None else [f"x{i}" for i in range(n_feat)],
                     list(outputs) if outputs is not None else [f"y{i}" for i in range(Y[0].shape[1])])


# ----------------------------------------------------------------------------- peaks
def gfp_peaks(weights: np.ndarray, lags_s: np.ndarray, windows_s) -> pd.DataFrame:
    """Peak latencies of a multichannel TRF, read from its global field power to a fraction of a lag.

    The GFP (the SD over channels at each lag; Lehmann & Skrandies 1980, Electroencephalogr Clin
    Neurophysiol 48:609) pools every channel that carries the response, so a weak component keeps
    its latency where one channel's waveform is flattened by noise (a ridge TRF's noise is smooth
    along lags: at one channel a weak P1 becomes a plateau whose largest sample can sit a few lags
    off). In each window the largest GFP lag is refined with a parabola through it and its
    neighbours, so latencies are not tied to the lag grid (7.8 ms at 128 Hz).

    Parameters
    ----------
    weights : ndarray, shape (n_channels, n_lags)
        One feature's TRF (e.g. ``TrfResult.weights[:, f, :]``).
    lags_s : ndarray, shape (n_lags,)
        Lags in s (evenly spaced).
    windows_s : sequence of (float, float)
        Search windows in s, e.g. ``[(0.02, 0.08), (0.07, 0.14), (0.14, 0.25)]`` for P1, N1, P2.

    Returns
    -------
    DataFrame
        One row per window: ``start_s, end_s, latency_s`` (NaN if the window holds no lag),
        ``gfp`` (at the peak lag, weight units) and ``polarity``: the sign of the channel with the
        largest absolute weight there (+1 for a P component at its maximum channel, -1 for an N).

    Examples
    --------
    >>> lags = np.arange(-13, 65) / 128
    >>> w = np.outer([1.0, 0.5, -0.2], np.exp(-(lags - 0.1) ** 2 / (2 * 0.02 ** 2)))
    >>> round(float(gfp_peaks(w, lags, [(0.05, 0.15)]).latency_s[0]), 3)
    0.1
    """
    w = np.asarray(weights, dtype=np.float64)
    lags_s = np.asarray(lags_s, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(lags_s):
        raise NeuromerError(f"gfp_peaks: weights must be (n_channels, n_lags={len(lags_s)}), got {w.shape}.")
    gfp = w.std(axis=0)
    step = float(lags_s[1] - lags_s[0]) if len(lags_s) > 1 else 0.0
    rows = []
    for lo, hi in windows_s:
        inside = np.flatnonzero((lags_s >= lo - 1e-9) & (lags_s <= hi + 1e-9))
        if not len(inside):
            rows.append({"start_s": lo, "end_s": hi, "latency_s": np.nan, "gfp": np.nan, "polarity": 0})
            continue
        j = int(inside[np.argmax(gfp[inside])])
        frac = 0.0
        if 0 < j < len(gfp) - 1:
            y0, y1, y2 = gfp[j - 1], gfp[j], gfp[j + 1]
            den = y0 - 2 * y1 + y2
            frac = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5)) if den < 0 else 0.0
        top = int(np.argmax(np.abs(w[:, j])))
        rows.append({"start_s": lo, "end_s": hi, "latency_s": float(lags_s[j] + frac * step), "gfp": float(gfp[j]),
                     "polarity": int(np.sign(w[top, j]))})
    return pd.DataFrame(rows)
