"""The circular-shift null of :func:`neuromer.trf.fit_trf`, computed exactly without refitting.

See :func:`_shift_null` for why the null repeats the whole outer cross-validation and how that is
done with one factorisation per fold and one circular cross-correlation per trial.
"""

from __future__ import annotations

import numpy as np


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
