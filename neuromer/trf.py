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

Features (``[trf] features``): ``envelope`` (broadband Hilbert envelope, see
:func:`~neuromer.onsets.sound_envelope`), ``flux`` (spectral flux / onset strength), ``note_onsets``
(a unit impulse at each melody note onset), ``pitch`` (the melody note's MIDI pitch minus the
clip's mean, 0 between notes) and ``audio_<name>`` for any frame series of
:func:`neuromer.audio.features.frame_features` (e.g. ``audio_rms_db``, ``audio_centroid_hz``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._checks import check_positive
from ._logging import logger
from .errors import NeuromerError

DEFAULT_FEATURES = ("envelope", "flux", "note_onsets", "pitch")
MELODIC_FEATURES = ("note_onsets", "pitch")
DEFAULT_LAMBDAS = tuple(float(x) for x in np.logspace(-4, 3, 8))


# ----------------------------------------------------------------------------- stimulus features
def stimulus_features(path, sfreq: float, names, n_samples: int | None = None) -> np.ndarray:
    """TRF feature series of one stimulus at ``sfreq`` Hz from its first sample.

    Parameters
    ----------
    path : path-like
        Audio file.
    sfreq : float
        Rate in Hz (the trials' rate).
    names : sequence of str
        Feature names (see the module docstring).
    n_samples : int | None
        Length to return; default the audio's length at ``sfreq``.

    Returns
    -------
    ndarray, shape (n_samples, n_features)
        NaN where a feature is undefined (e.g. spectral shape in digital silence) and beyond the
        end of the audio.
    """
    from .audio.features import load_audio
    from .onsets import sound_envelope

    y, sr = load_audio(path, sr=None)
    y = np.asarray(y, dtype=np.float64)
    n_audio = int(round(len(y) / sr * sfreq))
    n = n_audio if n_samples is None else int(n_samples)
    t = np.arange(n) / sfreq
    cols = []
    frames = notes = None
    for name in names:
        if name == "envelope":
            col = sound_envelope(y, sr, sfreq)
        elif name == "flux" or name.startswith("audio_"):
            if frames is None:
                from .audio.features import frame_features

                frames = frame_features(y.astype(np.float32), int(sr))
            key = "flux" if name == "flux" else name.removeprefix("audio_")
            if key not in frames.values:
                raise NeuromerError(f"[trf] features: unknown feature {name!r} (frame series: "
                                    f"{', '.join('audio_' + k for k in frames.values)}).")
            col = np.interp(np.arange(n_audio) / sfreq, frames.times, frames.values[key])
        elif name in MELODIC_FEATURES:
            if notes is None:
                from .audio.melody import f0_contour, note_events

                notes = note_events(f0_contour(y, sr))
            col = np.zeros(n_audio)
            if name == "note_onsets":
                idx = np.round(notes["onset_s"].to_numpy(float) * sfreq).astype(int)
                col[idx[(idx >= 0) & (idx < n_audio)]] = 1.0
            elif len(notes):
                mean = float(notes["midi"].mean())
                for on, off, midi in notes[["onset_s", "offset_s", "midi"]].to_numpy(float):
                    col[int(round(on * sfreq)):int(round(off * sfreq))] = midi - mean
        else:
            raise NeuromerError(f"[trf] features: unknown feature {name!r} (use envelope, flux, note_onsets, "
                                "pitch or audio_<frame series>).")
        col = np.asarray(col, dtype=np.float64)[:n]
        cols.append(np.pad(col, (0, n - len(col)), constant_values=np.nan))
    return np.column_stack(cols) if cols else np.empty((n, 0))


# ----------------------------------------------------------------------------- data per trial
@dataclass
class TrfData:
    """Per-trial feature and EEG series of one subject, z-scored within each trial.

    Attributes
    ----------
    X : list of ndarray, shape (n_samples_k, n_features)
    Y : list of ndarray, shape (n_samples_k, n_channels)
    features, channels : list of str
    trials : DataFrame
        The trials' metadata rows (same order).
    sfreq : float
    n_nan : int
        Samples set to 0 (excluded) because a feature or channel was NaN there.
    """

    X: list
    Y: list
    features: list
    channels: list
    trials: pd.DataFrame
    sfreq: float
    n_nan: int = 0
    ch_types: list = field(default_factory=list)


def _zscore(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu, sd = np.nanmean(a, axis=0), np.nanstd(a, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (a - mu) / sd


def trf_data(trials, stimuli, features=DEFAULT_FEATURES, *, feature_cache: dict | None = None) -> TrfData:
    """Cut each trial's stimulus period out of a :class:`~neuromer.session.Trials` and pair it
    with its stimulus features.

    Parameters
    ----------
    trials : Trials
        EEG trials (the EEG channels are used).
    stimuli : mapping of str -> path
        Stimulus id -> audio file.
    features : sequence of str
    feature_cache : dict | None
        Reused across calls: (stimulus id, rate, features) -> series.

    Returns
    -------
    TrfData

    Raises
    ------
    NeuromerError
        A stimulus without audio, or a feature series that does not cover the trial.
    """
    features = list(features)
    if not features:
        raise NeuromerError("[trf] features: no feature given.")
    picks = trials.picks("eeg")
    if not len(picks):
        raise NeuromerError("TRF: the trials have no EEG channel.")
    sfreq = float(trials.sfreq)
    n_base = int(round(trials.baseline_s * sfreq))
    cache = {} if feature_cache is None else feature_cache
    X, Y, n_nan = [], [], 0
    for k, row in trials.metadata.reset_index(drop=True).iterrows():
        sid = row["stimulus_id"]
        where = f"trial {row['trial']} (stimulus {sid!r})"
        if sid not in stimuli:
            raise NeuromerError(f"TRF: {where} has no stimulus audio file in the protocol.")
        n = min(int(round(float(row["duration_s"]) * sfreq)), trials.data.shape[2] - n_base)
        key = (sid, sfreq, tuple(features))
        if key not in cache:
            cache[key] = stimulus_features(stimuli[sid], sfreq, features)
        x = cache[key]
        if len(x) < n - 1:  # one sample of rounding is allowed
            raise NeuromerError(f"TRF: {where}: the feature series cover {len(x) / sfreq:.2f} s of the "
                                f"{n / sfreq:.2f} s stimulus period.")
        x = np.pad(x[:n], ((0, max(0, n - len(x))), (0, 0)), mode="edge")
        y = trials.data[k][picks, n_base:n_base + n].T.astype(np.float64)
        bad = ~np.isfinite(x).all(axis=1) | ~np.isfinite(y).all(axis=1)
        x, y = _zscore(x), _zscore(y)
        if bad.any():
            n_nan += int(bad.sum())
            x[bad], y[bad] = 0.0, 0.0
        X.append(np.nan_to_num(x))
        Y.append(np.nan_to_num(y))
    if n_nan:
        logger.warning("TRF: %d sample(s) with NaN features or EEG set to zero (excluded).", n_nan)
    return TrfData(X, Y, features, [trials.ch_names[i] for i in picks], trials.metadata.reset_index(drop=True),
                   sfreq, n_nan, [trials.ch_types[i] for i in picks])


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


def _spectrum(x: np.ndarray) -> np.ndarray:
    from scipy.fft import next_fast_len, rfft

    return rfft(x, next_fast_len(2 * len(x) - 1), axis=0)


def _cross(x_spec: np.ndarray, y: np.ndarray, smin: int, smax: int) -> np.ndarray:
    """The cross-correlation part of :func:`_corrs` (same layout, (n_features * n_lags, n_outputs)),
    from the input's spectrum: ``xy[f * n_lags + l, c] = sum_t x[t - (smin + l), f] y[t, c]`` with
    ``x`` zero outside the trial."""
    from scipy.fft import irfft, next_fast_len, rfft

    n_fft = next_fast_len(2 * len(y) - 1)
    cc = irfft(x_spec.conj()[:, :, None] * rfft(y, n_fft, axis=0)[:, None, :], n_fft, axis=0)
    idx = np.arange(smin, smax) % n_fft
    return cc[idx].transpose(1, 0, 2).reshape(-1, y.shape[1])


def _edge_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``out[..., m, f, c] = sum_t a[t + m, f] b[..., t, c]`` for ``m`` in ``[0, P)`` (``a``: (P, F),
    ``b``: (..., P, C)), zero beyond the ends: the few products a circular correlation has and a
    linear one has not."""
    from scipy.fft import irfft, rfft

    n = 2 * len(a)
    spec = rfft(b, n, axis=-2).conj()[..., :, None, :] * rfft(a, n, axis=0)[:, :, None]
    return irfft(spec, n, axis=-3)[..., :len(a), :, :]


def _shifted_cross(x: np.ndarray, y: np.ndarray, shifts: np.ndarray, smin: int, smax: int) -> np.ndarray:
    """:func:`_cross` of ``x`` with ``np.roll(y, s, axis=0)`` for every ``s`` in ``shifts``, from one
    circular cross-correlation.

    Rolling ``y`` by ``s`` turns its circular cross-correlation with ``x`` at lag ``τ`` into the one
    at ``τ - s``; the linear (zero-padded) correlation the model uses differs from the circular one
    only by the ``|τ|`` products that wrap around the trial's ends, which are subtracted.

    Returns
    -------
    ndarray, shape (n_shifts, n_features * n_lags, n_outputs)
    """
    from scipy.fft import irfft, rfft

    n, n_f = x.shape
    n_c = y.shape[1]
    taus = np.arange(smin, smax)
    circ = irfft(rfft(x, n, axis=0).conj()[:, :, None] * rfft(y, n, axis=0)[:, None, :], n, axis=0)
    out = circ[(taus[None, :] - shifts[:, None]) % n]  # (S, L, F, C)
    p, q = max(smax - 1, 0), max(-smin, 0)
    if p:  # tau > 0: sum_{t < tau} x[n - tau + t] yr[t]
        heads = y[(np.arange(p)[None, :] - shifts[:, None]) % n]  # the rolled y's first p samples
        wrap = _edge_corr(x[n - p:], heads)  # m = p - tau
        pos = taus > 0
        out[:, pos] -= wrap[:, p - taus[pos]]
    if q:  # tau < 0: sum_{j < |tau|} x[j] yr[n - |tau| + j]
        tails = y[(np.arange(n - q, n)[None, :] - shifts[:, None]) % n]  # and its last q
        wrap = _edge_corr_rev(x[:q], tails)  # m = q - |tau|
        neg = taus < 0
        out[:, neg] -= wrap[:, q + taus[neg]]
    return out.transpose(0, 2, 1, 3).reshape(len(shifts), n_f * len(taus), n_c)


def _edge_corr_rev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``out[..., m, f, c] = sum_j a[j, f] b[..., j + m, c]`` for ``m`` in ``[0, Q)``, zero beyond the ends."""
    from scipy.fft import irfft, rfft

    n = 2 * len(a)
    spec = rfft(a, n, axis=0).conj()[:, :, None] * rfft(b, n, axis=-2)[..., :, None, :]
    return irfft(spec, n, axis=-3)[..., :len(a), :, :]


def _shift_null(X, Y, XX, tests, alphas, scale, smin, smax, n_feat, min_shift, n_null, random_state,
                max_bytes: float = 64e6) -> np.ndarray:
    """(n_null, n_outputs): trial-mean held-out r after circularly shifting every trial's response
    by one common random shift and refitting each outer fold with its chosen penalty.

    Why refit: held-out r of trials that share training data are positively correlated (the fold
    models are fitted on each other's trials), so scoring the already-fitted models on shifted
    responses gives a null that is too narrow (about 1.3x for 5 trials of white noise). The whole
    outer cross-validation is therefore repeated on the shifted data -- but exactly and cheaply:

    - a circular shift leaves each trial's lagged autocorrelation ``XX`` unchanged, so every
      fold's regularised normal matrix is factorised once (Cholesky) and a refit is one solve;
    - the shifted cross-correlations ``XY`` of all shifts come from one circular
      cross-correlation per trial (:func:`_shifted_cross`);
    - the held-out r needs no prediction: with ``p = predict(x, w)``, ``sum p y = w . XY``,
      ``sum p^2 = w' XX w`` (MNE's edge-corrected ``XX`` is the exact Gram matrix of the lagged,
      zero-padded design) and ``sum p`` is a dot product with the lagged sums of ``x``; the sums of
      ``y`` do not change with a circular shift.

    The result equals refitting and predicting draw by draw (tested to 1e-9), at a fraction of the
    cost. Shifts are drawn as before: one per draw, common to all trials, at least ``min_shift``
    samples from either end of the shortest trial.
    """
    import scipy.linalg

    rng = np.random.default_rng(random_state)
    n_out = Y[0].shape[1]
    out = np.zeros((n_null, n_out))
    if n_null <= 0:
        return out
    n_min = min(len(y) for y in Y)
    lo = min(min_shift, n_min // 4)
    allowed = np.arange(lo, n_min - lo + 1) if n_min - 2 * lo > 0 else np.arange(1, n_min)
    shifts = np.array([int(rng.choice(allowed)) for _ in range(n_null)])
    n_tr = len(X)
    n_w = XX[0].shape[0]
    total_xx = sum(XX)
    factors = []
    for test, lam in zip(tests, alphas):
        mat = total_xx - sum(XX[i] for i in test)
        mat = mat + lam * scale * (n_tr - len(test)) * np.eye(n_w)
        factors.append(scipy.linalg.cho_factor(mat, check_finite=False))
    # per trial: lagged sums of x (for the prediction's mean), and the response's sum and centred
    # sum of squares, none of which a circular shift changes
    taus = np.arange(smin, smax)
    x_sums, y_sums, y_ss = [], [], []
    for x, y in zip(X, Y):
        n = len(x)
        cs = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
        lo_i, hi_i = np.clip(-taus, 0, n), np.clip(n - taus, 0, n)
        x_sums.append((cs[hi_i] - cs[lo_i]).T.reshape(-1))  # feature-major, lag-minor
        y_sums.append(y.sum(0))
        y_ss.append(((y - y.mean(0)) ** 2).sum(0))
    per_draw = n_tr * n_w * n_out * 8.0
    batch = int(max(1, min(n_null, max_bytes // per_draw)))
    for b0 in range(0, n_null, batch):
        s_b = shifts[b0:b0 + batch]
        xys = np.stack([_shifted_cross(x, y, s_b, smin, smax) for x, y in zip(X, Y)], axis=1)  # (B, T, W, C)
        totals = xys.sum(axis=1)
        n_b = len(s_b)
        r = np.zeros((n_b, n_tr, n_out))
        for test, fac in zip(tests, factors):  # every draw of the batch in one solve
            rhs = (totals - xys[:, test].sum(axis=1)).transpose(1, 0, 2).reshape(n_w, n_b * n_out)
            w = scipy.linalg.cho_solve(fac, rhs, check_finite=False)  # (W, B * C)
            for k in test:
                n = len(X[k])
                num = (w.reshape(n_w, n_b, n_out) * xys[:, k].transpose(1, 0, 2)).sum(0)  # (B, C)
                p_sum = (x_sums[k] @ w).reshape(n_b, n_out)
                p_ss = ((XX[k] @ w) * w).sum(0).reshape(n_b, n_out)
                cov = num - p_sum * y_sums[k] / n
                den = np.sqrt(np.maximum(p_ss - p_sum ** 2 / n, 0.0) * y_ss[k])
                with np.errstate(invalid="ignore", divide="ignore"):
                    r[:, k] = np.where(den > 0, cov / den, np.nan)
        out[b0:b0 + n_b] = np.nanmean(r, axis=1)
    return out


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
