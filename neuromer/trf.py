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
  the **null** correlates each held-out prediction with its own trial's data circularly shifted
  by at least ``min_shift_s`` (the shift's r for every lag comes from one FFT), averaging one
  random shift per trial ``n_null`` times; ``p = (1 + #null >= r) / (1 + n_null)``;
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


def _choose_alpha(train: list, XX, XY, YY, n_feat: int, lambdas, folds: int, scale: float) -> float:
    # the penalty grows with the number of trials fitted (``scale`` is per trial)
    """The penalty with the best mean validation r over ``folds`` folds of ``train``."""
    parts = _folds(len(train), folds)
    score = np.zeros(len(lambdas))
    for part in parts:
        val = [train[i] for i in part]
        fit = [t for t in train if t not in set(val)]
        if not fit:
            continue
        xx, xy = sum(XX[i] for i in fit), sum(XY[i] for i in fit)
        vxx, vxy, vyy = sum(XX[i] for i in val), sum(XY[i] for i in val), sum(YY[i] for i in val)
        for j, lam in enumerate(lambdas):
            score[j] += np.nanmean(_val_r(_solve(xx, xy, n_feat, lam * scale * len(fit)), vxx, vxy, vyy))
    return float(lambdas[int(np.argmax(score))])


def fit_trf(X: list, Y: list, sfreq: float, *, lags_s=(-0.1, 0.5), lambdas=DEFAULT_LAMBDAS, folds: int = 5,
            outer: str = "loto", n_null: int = 1000, min_shift_s: float = 1.0, random_state=0,
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
    total_xx = sum(XX)
    scale = float(np.mean(np.diag(total_xx)) / n_tr)  # per-trial mean diagonal: penalty per trial's data

    tests = [np.array([k]) for k in range(n_tr)] if outer == "loto" else _folds(n_tr, folds)
    r = np.full((n_tr, Y[0].shape[1]), np.nan)
    preds: dict[int, np.ndarray] = {}
    alphas = []
    for test in tests:
        train = [i for i in range(n_tr) if i not in set(test)]
        lam = _choose_alpha(train, XX, XY, YY, n_feat, lambdas, folds, scale)
        alphas.append(lam)
        w = _solve(sum(XX[i] for i in train), sum(XY[i] for i in train), n_feat,
                   lam * scale * len(train))
        for k in test:
            preds[k] = predict(X[k], w, smin)
            r[k] = _r(preds[k], Y[k])
    alpha = _choose_alpha(list(range(n_tr)), XX, XY, YY, n_feat, lambdas, folds, scale)
    weights = _solve(total_xx, sum(XY), n_feat, alpha * scale * n_tr)
    null = _shift_null([preds[k] for k in range(n_tr)], Y, int(round(min_shift_s * sfreq)), n_null, random_state)
    return TrfResult(weights, np.arange(smin, smax) / sfreq, alpha, r, null, np.asarray(alphas),
                     list(inputs) if inputs is not None else [f"x{i}" for i in range(n_feat)],
                     list(outputs) if outputs is not None else [f"y{i}" for i in range(Y[0].shape[1])])


def _shift_null(preds: list, Y: list, min_shift: int, n_null: int, random_state) -> np.ndarray:
    """(n_null, n_outputs): trial-mean r of predictions against circularly shifted data."""
    rng = np.random.default_rng(random_state)
    out = np.zeros((n_null, Y[0].shape[1]))
    if n_null == 0:
        return out[:0]
    for p, y in zip(preds, Y):
        n = len(y)
        a = (p - p.mean(0)) / np.maximum(p.std(0), 1e-300)
        b = (y - y.mean(0)) / np.maximum(y.std(0), 1e-300)
        # r for every circular shift at once (cross-correlation theorem)
        rr = np.fft.irfft(np.fft.rfft(a, axis=0).conj() * np.fft.rfft(b, axis=0), n, axis=0) / n
        lo = min(min_shift, n // 4)
        allowed = np.arange(lo, n - lo + 1) if n - 2 * lo > 0 else np.arange(1, n)
        out += rr[rng.choice(allowed, n_null)]
    return out / len(Y)
