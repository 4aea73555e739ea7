"""Temporal response functions: MNE equality, mTRFpy agreement, planted kernel, nulls, bad input."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from neuromer.errors import NeuromerError
from neuromer.session import Trials
from neuromer.trf import _corrs, _solve, fit_trf, lag_samples, predict
from neuromer.trf_data import stimulus_features, trf_data
from neuromer.trf_stage import check_config, subject_trf, tracking_vs_emotion

FS = 128.0


def _random_trials(rng, n_tr=4, n=640, n_feat=2, n_out=3):
    return [rng.normal(size=(n, n_feat)) for _ in range(n_tr)], [rng.normal(size=(n, n_out)) for _ in range(n_tr)]


def test_summed_trial_matrices_equal_timedelayingridge():
    """Per-trial correlations summed and solved == mne's TimeDelayingRidge on the epoched data."""
    from mne.decoding import TimeDelayingRidge

    rng = np.random.default_rng(0)
    X, Y = _random_trials(rng)
    smin, smax = lag_samples((-0.1, 0.5), FS)
    xx = sum(_corrs(x, y, smin, smax)[0] for x, y in zip(X, Y))
    xy = sum(_corrs(x, y, smin, smax)[1] for x, y in zip(X, Y))
    w = _solve(xx, xy, 2, 37.0)
    tdr = TimeDelayingRidge(-0.1, 0.5, FS, alpha=37.0, fit_intercept=False)
    tdr.fit(np.stack(X, axis=1), np.stack(Y, axis=1))  # (n_times, n_epochs, n_features)
    np.testing.assert_allclose(w, tdr.coef_, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(predict(X[0], w, smin), tdr.predict(X[0]), rtol=1e-9, atol=1e-12)
    from neuromer.trf_null import _cross, _spectrum  # the null's cross-correlations: same as MNE's

    for lo, hi in [(smin, smax), (-32, 1), (2, 10)]:
        np.testing.assert_allclose(_cross(_spectrum(X[1]), Y[1], lo, hi), _corrs(X[1], Y[1], lo, hi)[1], atol=1e-10)


def test_predict_lag_convention():
    """A weight at lag +5 samples delays the input by 5 samples."""
    x = np.zeros((50, 1))
    x[10] = 1.0
    w = np.zeros((1, 1, 8))
    smin = -2
    w[0, 0, 5 - smin] = 2.0
    out = predict(x, w, smin)
    assert out[15, 0] == pytest.approx(2.0) and np.abs(np.delete(out[:, 0], 15)).max() < 1e-12


def test_weights_equal_mtrf():
    """mTRFpy on the same data, lags and lambda: weights equal to 1e-6 relative."""
    mtrf = pytest.importorskip("mtrf.model")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from trf import edge_free
    finally:
        sys.path.pop(0)
    rng = np.random.default_rng(1)
    X = [edge_free(rng.normal(size=(900, 3)), 70) for _ in range(5)]
    Y = [y - y.mean(0) for y in (rng.normal(size=(900, 4)) for _ in range(5))]
    model = mtrf.TRF()
    model.train(X, Y, int(FS), -0.1, 0.5, 0.5, verbose=False)
    smin, smax = lag_samples((-0.1, 0.5), FS)
    xx = sum(_corrs(x, y, smin, smax)[0] for x, y in zip(X, Y))
    xy = sum(_corrs(x, y, smin, smax)[1] for x, y in zip(X, Y))
    ours = np.transpose(_solve(xx, xy, 3, 0.5 * FS * len(X)), (1, 2, 0)) * FS
    assert np.abs(ours - model.weights).max() / np.abs(model.weights).max() < 1e-6


def test_null_holds_without_response_and_finds_planted_one():
    ps = []
    for seed in range(6):  # pure noise: p-values spread out, few small ones
        X, Y = _random_trials(np.random.default_rng(seed), n_tr=5, n=640, n_feat=1, n_out=2)
        res = fit_trf(X, Y, FS, lambdas=[1.0], n_null=50)
        ps += list(res.p_values()[:2])
        assert np.abs(res.null.mean()) < 0.01
    ps = np.array(ps)
    assert (ps < 0.05).sum() <= 2 and ps.max() > 0.5, ps
    rng = np.random.default_rng(2)
    X, Y = _random_trials(rng, n_tr=6, n=1280, n_feat=1, n_out=2)
    smin, smax = lag_samples((-0.1, 0.5), FS)
    w = np.zeros((2, 1, smax - smin))
    w[0, 0, 13 - smin] = 1.0  # channel 0 follows the feature by 13 samples
    Y2 = [y + 0.8 * predict(x, w, smin) for x, y in zip(X, Y)]
    res = fit_trf(X, Y2, FS, n_null=200)
    p = res.p_values()
    assert p[0] < 0.01 and p[0] < p[1]
    assert res.lags_s[np.argmax(res.weights[0, 0])] == pytest.approx(13 / FS)
    assert res.r.shape == (6, 2) and len(res.alphas) == 6


@pytest.fixture(scope="module")
def tracking_study(tmp_path_factory):
    from neuromer.simulate import simulate_study

    return simulate_study(tmp_path_factory.mktemp("trf") / "study", n_subjects=2, n_trials=8, stimulus_s=16.0,
                          seed=21)


def _subject_trials(study, k):
    from neuromer.epochs import make_trials
    from neuromer.io.xdf import read_xdf
    from neuromer.onsets import refine_session_onsets
    from neuromer.protocol import read_protocol

    protocol = read_protocol(study.protocol)
    s = refine_session_onsets(read_xdf(study.xdf[k], protocol=protocol), "StimAudio")
    trials = make_trials(s, sfreq=FS)
    trials.subject = f"{k + 1:02d}"
    return trials, {st.id: st.file for st in protocol.stimuli}


@pytest.mark.slow
def test_planted_kernel_and_tracking_every_subject(tracking_study):
    """P1/N1/P2 latencies (GFP peaks, fractional) within one 128 Hz sample, with the planted
    polarity at Fz; forward and backward p < 0.01 per subject."""
    from neuromer.simulate import TRF_KERNEL
    from neuromer.trf import gfp_peaks

    for k in range(2):
        trials, stimuli = _subject_trials(tracking_study, k)
        out = subject_trf(trials, stimuli, features=["envelope"], n_null=100, lambdas=[0.01, 0.1, 1.0, 10.0])
        w = out["weights"].query("model == 'forward'").pivot(index="channel", columns="lag_s", values="weight")
        lags = w.columns.to_numpy(float)
        peaks = gfp_peaks(w.to_numpy(), lags, [(lat - 0.035, lat + 0.035) for lat, _, _ in TRF_KERNEL])
        fz = w.loc["Fz"].to_numpy()
        for (latency, amp, _), found, pol in zip(TRF_KERNEL, peaks.latency_s, peaks.polarity):
            assert abs(found - latency) <= 1 / FS, (k, latency, found)
            assert pol == np.sign(amp) == np.sign(np.interp(found, lags, fz)), (k, latency)
        sc = out["scores"].set_index(["model", "channel"])
        assert sc.loc[("forward", "all"), "p"] < 0.01 and sc.loc[("forward", "Fz"), "p"] < 0.01
        assert sc.loc[("forward", "Fz"), "r"] > 0.1 > abs(sc.loc[("forward", "Fz"), "null_mean"])
        assert sc.loc[("backward", "all"), "p"] < 0.01 and sc.loc[("backward", "all"), "r"] > 0.1
        assert sc.loc[("forward", "O1"), "r"] < sc.loc[("forward", "Fz"), "r"] / 3  # no planted response there
        t = out["trials"]
        assert len(t) == 8 and t.onset_offset_s.between(0.004, 0.081).all()


def _tiny_trials(n_tr=3, dur_s=4.0, baseline_s=1.0, rng=None, stim_ids=None):
    rng = rng or np.random.default_rng(0)
    n = int((baseline_s + dur_s) * FS)
    meta = pd.DataFrame({"trial": np.arange(1, n_tr + 1), "stimulus_id": stim_ids or [f"s{i}" for i in range(n_tr)],
                         "onset_s": 10.0 * np.arange(1, n_tr + 1), "duration_s": dur_s})
    return Trials(rng.normal(size=(n_tr, 2, n)), FS, ["Cz", "Fz"], ["eeg", "eeg"], baseline_s=baseline_s,
                  metadata=meta, subject="x")


def _tone(path, dur_s, sr=22050, gap=None):
    t = np.arange(int(dur_s * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    if gap:
        y[int(gap[0] * sr):int(gap[1] * sr)] = 0.0
    sf.write(path, y, sr, subtype="FLOAT")
    return path


def test_feature_series_must_cover_the_trial(tmp_path):
    stimuli = {f"s{i}": _tone(tmp_path / f"s{i}.wav", 4.0) for i in range(3)}
    stimuli["s1"] = _tone(tmp_path / "short.wav", 2.5)
    with pytest.raises(NeuromerError, match=r"trial 2 \(stimulus 's1'\): the feature series cover 2.50 s of the "
                                            r"4.00 s stimulus period"):
        trf_data(_tiny_trials(), stimuli, ["envelope"])
    with pytest.raises(NeuromerError, match=r"trial 1 \(stimulus 's0'\) has no stimulus audio"):
        trf_data(_tiny_trials(), {}, ["envelope"])
    with pytest.raises(NeuromerError, match="unknown feature 'loudness'"):
        stimulus_features(stimuli["s0"], FS, ["loudness"])


def test_nan_spans_are_excluded_with_a_count(tmp_path, caplog):
    stimuli = {f"s{i}": _tone(tmp_path / f"s{i}.wav", 4.0, gap=(1.0, 1.5) if i == 0 else None) for i in range(3)}
    x = stimulus_features(stimuli["s0"], FS, ["envelope", "audio_centroid_hz"])
    assert x.shape == (512, 2) and np.isnan(x[:, 1]).sum() > 30  # centroid undefined in the silence
    with caplog.at_level("WARNING", logger="neuromer"):
        d = trf_data(_tiny_trials(), stimuli, ["envelope", "audio_centroid_hz"])
    assert d.n_nan == int(np.isnan(x[:, 1]).sum()) and f"{d.n_nan} sample(s) with NaN" in caplog.text
    assert all(np.isfinite(xx).all() for xx in d.X)


def test_lags_longer_than_a_trial():
    rng = np.random.default_rng(3)
    X, Y = _random_trials(rng, n_tr=3, n=40)
    with pytest.raises(NeuromerError, match=r"lags -0.1..0.5 s are longer than trial 1 \(0.31 s\)"):
        fit_trf(X, Y, FS)
    with pytest.raises(NeuromerError, match=">= 3 trials"):
        fit_trf(X[:2], Y[:2], FS, lags_s=(0, 0.1))


def test_config_errors_name_the_key():
    from neuromer.pipeline import DEFAULTS

    def sections(**kw):
        s = {k: dict(v) for k, v in DEFAULTS.items()}
        for key, value in kw.items():
            sec, name = key.split("__")
            s[sec][name] = value
        return s

    check_config(sections(), "cfg")
    for kw, msg in [({"trf__lags_s": [0.5, -0.1]}, "'trf.lags_s'"), ({"trf__lambdas": [1, -2]}, "'trf.lambdas'"),
                    ({"trf__features": ["envelop"]}, "'trf.features'"), ({"trf__folds": 1}, "'trf.folds'"),
                    ({"align__refine_onsets": 3}, "'align.refine_onsets'"),
                    ({"align__refine_search_s": [0.1]}, "'align.refine_search_s'")]:
        with pytest.raises(NeuromerError, match=msg):
            check_config(sections(**kw), "cfg")


def test_tracking_vs_emotion_finds_a_planted_link():
    rng = np.random.default_rng(4)
    rows = []
    for s in ("01", "02", "03"):
        arousal = rng.uniform(1, 9, 12)
        rows.append(pd.DataFrame({"subject": s, "trial": np.arange(1, 13), "forward_r": 0.02 * arousal
                                  + rng.normal(0, 0.01, 12), "self_arousal": arousal,
                                  "self_valence": rng.uniform(1, 9, 12)}))
    t = pd.concat(rows)
    out = tracking_vs_emotion(t[["subject", "trial", "forward_r"]], t.drop(columns="forward_r"), n_permutations=200)
    pooled = out[out.scope == "pooled"].set_index("emotion")
    assert pooled.loc["self_arousal", "pearson"] > 0.7 and pooled.loc["self_arousal", "p_pearson"] < 0.01
    assert pooled.loc["self_valence", "p_pearson"] > 0.01
    group = out[out.scope == "group"].set_index("emotion")
    assert group.loc["self_arousal", "n"] == 3 and group.loc["self_arousal", "pearson"] > 0.7


def test_gfp_peaks_fractional_latency():
    """Peaks between lags are found to a fraction of a lag; a noisy single channel's plateau is not."""
    from neuromer.trf import gfp_peaks

    lags = np.arange(-13, 65) / FS
    pattern = np.array([1.0, 0.8, 0.6, -0.3, 0.0])
    for true in (0.050, 0.0532, 0.1011):
        w = np.outer(pattern, np.exp(-(lags - true) ** 2 / (2 * 0.015 ** 2)))
        p = gfp_peaks(w, lags, [(true - 0.035, true + 0.035)])
        assert abs(p.latency_s[0] - true) < 0.1 / FS and p.polarity[0] == 1
        p = gfp_peaks(-w, lags, [(true - 0.035, true + 0.035)])
        assert p.polarity[0] == -1
    assert np.isnan(gfp_peaks(w, lags, [(0.7, 0.8)]).latency_s[0])
    with pytest.raises(NeuromerError, match="weights must be"):
        gfp_peaks(w[0], lags, [(0, 0.1)])


def _refit_null_reference(X, Y, XX, tests, alphas, scale, smin, smax, n_feat, min_shift, n_null, random_state):
    """The null computed the slow, obvious way: roll, re-correlate, refit each fold, predict, correlate."""
    from neuromer.trf import _r
    from neuromer.trf_null import _cross, _spectrum

    rng = np.random.default_rng(random_state)
    n_min = min(len(y) for y in Y)
    lo = min(min_shift, n_min // 4)
    allowed = np.arange(lo, n_min - lo + 1) if n_min - 2 * lo > 0 else np.arange(1, n_min)
    out = np.zeros((n_null, Y[0].shape[1]))
    for d in range(n_null):
        shift = int(rng.choice(allowed))
        Ys = [np.roll(y, shift, axis=0) for y in Y]
        XYs = [_cross(_spectrum(x), y, smin, smax) for x, y in zip(X, Ys)]
        r = np.zeros((len(X), Y[0].shape[1]))
        for test, lam in zip(tests, alphas):
            w = _solve(sum(XX) - sum(XX[i] for i in test), sum(XYs) - sum(XYs[i] for i in test), n_feat,
                       lam * scale * (len(X) - len(test)))
            for k in test:
                r[k] = _r(predict(X[k], w, smin), Ys[k])
        out[d] = np.nanmean(r, axis=0)
    return out


@pytest.mark.parametrize("lags_s", [(-0.1, 0.5), (0.02, 0.3), (-0.25, 0.0)])
def test_fast_null_equals_refitting_draw_by_draw(lags_s):
    """The circular-shift null from factorised folds and shifted correlations == rolling the data,
    refitting every outer fold and predicting, draw by draw (unequal trial lengths, non-zero means)."""
    from neuromer.trf_null import _cross, _shift_null, _shifted_cross, _spectrum

    rng = np.random.default_rng(5)
    X = [rng.normal(size=(n, 2)) + 0.3 for n in (300, 340, 310, 420)]
    Y = [rng.normal(size=(len(x), 3)) + np.roll(x[:, :1], 7, axis=0) - 0.2 for x in X]
    smin, smax = lag_samples(lags_s, FS)
    shifts = np.array([40, 77, 299])
    fast = _shifted_cross(X[1], Y[1], shifts, smin, smax)
    for s, got in zip(shifts, fast):
        np.testing.assert_allclose(got, _cross(_spectrum(X[1]), np.roll(Y[1], s, axis=0), smin, smax), atol=1e-9)
    XX = [_corrs(x, y, smin, smax)[0] for x, y in zip(X, Y)]
    scale = float(np.mean(np.diag(sum(XX))) / len(X))
    for tests, alphas in ([[np.array([k]) for k in range(4)], [0.1, 1.0, 10.0, 0.1]],
                          [[np.array([0, 2]), np.array([1, 3])], [1.0, 100.0]]):
        args = (X, Y, XX, tests, alphas, scale, smin, smax, 2, 64, 7, 3)
        np.testing.assert_allclose(_shift_null(*args, max_bytes=1.0), _refit_null_reference(*args), atol=1e-9)
        np.testing.assert_allclose(_shift_null(*args), _refit_null_reference(*args), atol=1e-9)
