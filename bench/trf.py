"""Benchmark: a forward TRF of one DEAP-sized subject, on one core, and agreement with mTRFpy.

Data: 40 trials x 60 s at 128 Hz, 3 stimulus features, 32 EEG channels that follow the features
through a known kernel plus noise; lags -0.1..0.5 s (78), 8 penalties, 5 inner folds. Prints

- the time of :func:`neuromer.trf.fit_trf` with its nested cross-validation (leave one trial out,
  the penalty chosen within each training set by 5-fold CV; target <= 10 s), and the time per
  draw of its null (the outer CV refitted after a circular shift, :mod:`neuromer.trf_null`);
- the time of mTRFpy's ``TRF.train`` with the same 8 penalties and 5 folds (one level of CV, then
  the final fit), and of neuromer doing the same (5-fold CV over the penalties + final fit), so
  the two are compared like for like (target: neuromer at least as fast);
- the largest relative difference between neuromer's weights and mTRFpy's on the same data, lags
  and penalty (target <= 1e-6). mTRFpy always fits an unregularised bias and averages the trials'
  covariances, and scales weights by the rate: neuromer's penalty ``alpha = lambda * fs *
  n_trials`` and weights ``* fs`` are the same model when the lagged features are orthogonal to
  the bias, so the comparison uses features that are zero-mean and zero at the trial edges.

Run: ``python bench/trf.py`` (needs the test extra ``mtrf``).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core
    os.environ[_var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402

from neuromer.trf import DEFAULT_LAMBDAS, _choose_alpha, _corrs, _solve, fit_trf, lag_samples  # noqa: E402

FS, N_TRIALS, TRIAL_S, N_CH, N_FEAT = 128, 40, 60.0, 32, 3
LAGS = (-0.1, 0.5)


def edge_free(x: np.ndarray, m: int) -> np.ndarray:
    """Zero the first and last ``m`` samples (tapered), then make the interior zero-mean."""
    w = np.ones(len(x))
    ramp = np.hanning(2 * m)[:m]
    w[:m], w[m:2 * m], w[-2 * m:-m], w[-m:] = 0, ramp, ramp[::-1], 0
    x = x * w[:, None]
    inside = w > 0
    x[inside] -= x[inside].mean(0)
    return x


def make_data(rng):
    n = int(TRIAL_S * FS)
    smin, smax = lag_samples(LAGS, FS)
    lags = np.arange(smin, smax) / FS
    kernel = np.exp(-0.5 * ((lags - 0.1) / 0.02) ** 2) - 0.6 * np.exp(-0.5 * ((lags - 0.2) / 0.03) ** 2)
    mix = rng.normal(size=(N_FEAT, N_CH))
    X, Y = [], []
    for _ in range(N_TRIALS):
        x = edge_free(rng.normal(size=(n, N_FEAT)), 80)
        y = np.zeros((n, N_CH))
        for f in range(N_FEAT):
            resp = np.convolve(x[:, f], kernel)[-smin:-smin + n]
            y += resp[:, None] * mix[f]
        y += 3 * rng.normal(size=(n, N_CH))
        X.append(x)
        Y.append(y - y.mean(0))
    return X, Y


def main() -> None:
    rng = np.random.default_rng(0)
    X, Y = make_data(rng)
    fit_trf(X[:3], [y[:, :2] for y in Y[:3]], FS, lambdas=[1.0], n_null=10)  # numba compile, once
    t0, c0 = time.perf_counter(), time.process_time()
    res = fit_trf(X, Y, FS, lags_s=LAGS, lambdas=DEFAULT_LAMBDAS, folds=5, n_null=0)
    t_nested, c_nested = time.perf_counter() - t0, time.process_time() - c0
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times inflate with load; "
          "CPU time is the process's own)")
    print(f"neuromer nested CV (LOTO x 5 inner folds x 8 lambdas, {N_TRIALS} x {TRIAL_S:g} s x {N_CH} ch, "
          f"{N_FEAT} features, 78 lags): {t_nested:.2f} s wall, {c_nested:.2f} s CPU (target <= 10 s); "
          f"mean r {np.nanmean(res.mean_r):.3f}, chosen lambda {res.alpha:g}")
    n_draws = 100
    from threadpoolctl import threadpool_limits

    from neuromer.trf_null import _shift_null

    smin, smax = lag_samples(LAGS, FS)
    with threadpool_limits(limits=1):
        XX = [_corrs(x, y, smin, smax)[0] for x, y in zip(X, Y)]
        scale = float(np.mean(np.diag(sum(XX))) / N_TRIALS)
        t0, c0 = time.perf_counter(), time.process_time()
        _shift_null(X, Y, XX, [np.array([k]) for k in range(N_TRIALS)], res.alphas, scale, smin, smax, N_FEAT,
                    int(FS), n_draws, 0)
        t_null, c_null = (time.perf_counter() - t0) / n_draws, (time.process_time() - c0) / n_draws
    print(f"null (the LOTO outer CV refitted after each circular shift, exactly, without refitting): "
          f"{t_null:.3f} s wall / {c_null:.3f} s CPU per draw ({n_draws} draws: {n_draws * c_null:.1f} s CPU)")

    try:
        from mtrf.model import TRF
    except ImportError:
        print("mtrf not installed (pip install -c constraints.txt mtrf): agreement and speed comparison skipped")
        return
    smin, smax = lag_samples(LAGS, FS)
    lambdas = list(DEFAULT_LAMBDAS)
    t0, c0 = time.perf_counter(), time.process_time()
    m = TRF()
    m.train(X, Y, FS, LAGS[0], LAGS[1], lambdas, k=5, verbose=False)
    t_mtrf, c_mtrf = time.perf_counter() - t0, time.process_time() - c0

    from threadpoolctl import threadpool_limits

    t0, c0 = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1):
        corrs = [_corrs(x, y, smin, smax) for x, y in zip(X, Y)]
        XX, XY = [c[0] for c in corrs], [c[1] for c in corrs]
        YY = [(y ** 2).sum(0) for y in Y]
        scale = float(np.mean(np.diag(sum(XX))) / N_TRIALS)
        lam = _choose_alpha(list(range(N_TRIALS)), XX, XY, YY, N_FEAT, np.asarray(lambdas), 5, scale)
        w = _solve(sum(XX), sum(XY), N_FEAT, lam * scale * N_TRIALS)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    print(f"5-fold CV over 8 lambdas + final fit: neuromer {t_ours:.2f} s wall / {c_ours:.2f} s CPU, "
          f"mTRFpy {t_mtrf:.2f} s wall / {c_mtrf:.2f} s CPU (speed-up {c_mtrf / c_ours:.1f}x CPU; target >= 1)")

    # agreement on the same data, lags and penalty (mTRFpy's lambda = neuromer's alpha / (fs n_trials))
    lam_mtrf = 0.5
    m.train(X, Y, FS, LAGS[0], LAGS[1], lam_mtrf, verbose=False)
    w = _solve(sum(XX), sum(XY), N_FEAT, lam_mtrf * FS * N_TRIALS)  # (channels, features, lags)
    ours = np.transpose(w, (1, 2, 0)) * FS  # mTRFpy: (features, lags, channels), weights x fs
    rel = np.abs(ours - m.weights).max() / np.abs(m.weights).max()
    print(f"weights vs mTRFpy (lambda {lam_mtrf}): max relative difference {rel:.2e} (target <= 1e-6)")


if __name__ == "__main__":
    main()
