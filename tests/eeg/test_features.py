import mne
import numpy as np
import pytest

from neuromer.eeg import (DEFAULT_BANDS, EEGTrialFeatures, EEGWindowFeatures, eeg_trial_features,
                          eeg_window_features)
from neuromer.windows import KEY_COLUMNS, WindowGrid, sliding_windows

from ._helpers import DEAP_EEG, make_trials

SF = 128.0


def test_sine_lands_in_alpha(rng):
    t = np.arange(int(11 * SF)) / SF
    data = 10 * np.sin(2 * np.pi * 10 * t)[None, None] + 0.01 * rng.standard_normal((1, 1, t.size))
    table = eeg_window_features(make_trials(data, ch_names=["Cz"]))
    assert list(table.columns[:6]) == list(KEY_COLUMNS)
    assert len(table) == WindowGrid().n_windows(10.0) == 19
    alpha = table["eeg_alpha_Cz"].mean()
    for band in ("theta", "beta", "gamma"):
        assert alpha > 1000 * table[f"eeg_{band}_Cz"].mean()
    # band-limited variance of a sine of amplitude 10 is 50 µV² (Hamming leakage stays in band)
    assert alpha == pytest.approx(50, rel=0.05)
    assert table["eeg_rel_alpha_Cz"].min() > 0.99
    assert table["eeg_spectral_entropy_Cz"].max() < 0.3


def test_band_power_matches_psd_array_welch(rng):
    data = rng.standard_normal((2, 3, int(6 * SF)))
    trials = make_trials(data)
    table = eeg_window_features(trials)
    win = sliding_windows(data, SF, WindowGrid(), start_s=1.0)
    psd, freqs = mne.time_frequency.psd_array_welch(win, SF, n_fft=128, n_per_seg=128, n_overlap=0,
                                                    window="hamming", verbose="error")
    for band, (lo, hi) in DEFAULT_BANDS.items():
        ref = psd[..., (freqs >= lo) & (freqs < hi)].sum(-1) * (freqs[1] - freqs[0])  # (2, 3, n_win)
        got = table[[f"eeg_{band}_{c}" for c in trials.ch_names]].to_numpy()
        np.testing.assert_allclose(got, ref.transpose(0, 2, 1).reshape(-1, 3), rtol=1e-9)


def test_differential_entropy_of_gaussian_noise(rng):
    sigma = 3.0
    data = sigma * rng.standard_normal((20, 1, int(61 * SF)))
    band = {"broad": (4.0, 45.0)}
    table = eeg_window_features(make_trials(data, ch_names=["Cz"]), grid=WindowGrid(2.0, 2.0), bands=band)
    # white noise: band-limited variance = sigma^2 * (bins in band * df) / (sfreq / 2)
    n_bins = np.sum((np.arange(129) * 0.5 >= 4) & (np.arange(129) * 0.5 < 45))
    var_band = sigma ** 2 * n_bins * 0.5 / (SF / 2)
    expected = 0.5 * np.log(2 * np.pi * np.e * var_band)
    np.testing.assert_allclose(table["eeg_de_broad_Cz"], 0.5 * np.log(2 * np.pi * np.e * table["eeg_broad_Cz"]))
    assert table["eeg_de_broad_Cz"].mean() == pytest.approx(expected, abs=0.02)
    assert table["eeg_broad_Cz"].mean() == pytest.approx(var_band, rel=0.02)


def _planted(rng, n_trials, label, channel_gain, freq_band, n_ch=32, dur=21.0):
    """Noise plus band-limited oscillations whose amplitude follows a label on some channels."""
    n = int((dur + 1) * SF)
    t = np.arange(n) / SF
    data = rng.standard_normal((n_trials, n_ch, n))
    for i in range(n_trials):
        for ch, gain in channel_gain(label[i]).items():
            f = rng.uniform(*freq_band, size=4)
            osc = sum(np.sin(2 * np.pi * fk * t + rng.uniform(0, 6.3)) for fk in f)
            data[i, ch] += gain * osc
    return data


def test_frontal_alpha_asymmetry_tracks_valence(rng):
    valence = rng.uniform(1, 9, 30)
    f3, f4 = DEAP_EEG.index("F3"), DEAP_EEG.index("F4")
    data = _planted(rng, 30, valence, lambda v: {f3: 1.0, f4: 0.6 + 0.1 * v}, (8.5, 11.5))
    table = eeg_window_features(make_trials(data, valence=valence))
    faa = table.groupby("trial")["eeg_faa"].mean().to_numpy()
    assert np.corrcoef(faa, valence)[0, 1] > 0.5


def test_beta_gamma_power_tracks_arousal(rng):
    arousal = rng.uniform(1, 9, 30)
    data = _planted(rng, 30, arousal, lambda a: {c: 0.2 * a for c in range(0, 32, 4)}, (14, 40))
    table = eeg_window_features(make_trials(data, arousal=arousal))
    cols = [c for c in table if c.startswith(("eeg_beta_", "eeg_gamma_"))]
    per_trial = table.groupby("trial")[cols].mean().mean(axis=1).to_numpy()
    assert np.corrcoef(per_trial, arousal)[0, 1] > 0.5


def test_columns_asymmetry_and_hjorth(rng):
    data = rng.standard_normal((2, 32, int(4 * SF)))
    table = eeg_window_features(make_trials(data))
    for col in ("eeg_alpha_Fp1", "eeg_rel_alpha_Fp1", "eeg_de_alpha_Fp1", "eeg_dasm_alpha_Fp1-Fp2",
                "eeg_rasm_gamma_O1-O2", "eeg_faa", "eeg_hjorth_mobility_Fp1", "eeg_hjorth_complexity_O2",
                "eeg_spectral_entropy_Cz"):
        assert col in table
    assert sum(c.startswith("eeg_dasm_alpha_") for c in table) == 14
    np.testing.assert_allclose(table["eeg_dasm_beta_F3-F4"], table["eeg_de_beta_F3"] - table["eeg_de_beta_F4"])
    # Hjorth from running sums equals the textbook definition on the window
    win = sliding_windows(data, SF, WindowGrid(), start_s=1.0)[0, 0]
    d1, d2 = np.diff(win, axis=-1), np.diff(win, n=2, axis=-1)
    mob = np.sqrt(d1.var(-1) / win.var(-1))
    comp = np.sqrt(d2.var(-1) / d1.var(-1)) / mob
    first = table[table.trial == 1]
    np.testing.assert_allclose(first["eeg_hjorth_mobility_Fp1"], mob, rtol=1e-9)
    np.testing.assert_allclose(first["eeg_hjorth_complexity_Fp1"], comp, rtol=1e-9)
    # white noise: mobility of differences of white noise is sqrt(2)
    assert np.mean(mob) == pytest.approx(np.sqrt(2), rel=0.1)


def test_baseline_correction(rng):
    data = rng.standard_normal((3, 1, int(6 * SF)))
    t = np.arange(data.shape[-1]) / SF
    data[:, 0, int(2 * SF):] += 4 * np.sin(2 * np.pi * 10 * t[int(2 * SF):])  # alpha after onset
    trials = make_trials(data, ch_names=["Cz"], baseline_s=2.0)
    raw = eeg_window_features(trials)
    sub = eeg_window_features(trials, baseline="subtract")
    ratio = eeg_window_features(trials, baseline="ratio")
    # white noise of unit variance has 4/64 of its power in the 8-12 Hz bins
    assert sub["eeg_alpha_Cz"].mean() == pytest.approx(raw["eeg_alpha_Cz"].mean() - 4 / 64, abs=0.03)
    assert ratio["eeg_alpha_Cz"].mean() > 10
    assert ratio["eeg_theta_Cz"].mean() == pytest.approx(1, abs=0.5)
    # a baseline shorter than a window gives NaN, not an error
    short = eeg_window_features(make_trials(data, ch_names=["Cz"], baseline_s=0.5), baseline="ratio")
    assert short.filter(like="eeg_").isna().all().all()


def test_bad_input_flat_nan_short(rng):
    data = rng.standard_normal((2, 3, int(5 * SF)))
    data[:, 1] = 7.0  # flat
    data[0, 2, 200:210] = np.nan
    table = eeg_window_features(make_trials(data, ch_names=["F3", "F4", "Cz"]))
    assert (table["eeg_alpha_F4"] == 0).all()
    assert table["eeg_hjorth_mobility_F4"].isna().all()
    assert table["eeg_faa"].isna().all() and table["eeg_de_alpha_F4"].isna().all()
    assert table["eeg_rel_alpha_F4"].isna().all() and table["eeg_spectral_entropy_F4"].isna().all()
    nan_rows = table[(table.trial == 1)]["eeg_alpha_Cz"].isna()
    # samples 200-209 fall in the windows starting at 0.5 s and 1.0 s after onset (sample 128 + ...)
    assert nan_rows.sum() == 2 and table[table.trial == 2]["eeg_alpha_Cz"].notna().all()
    # a stimulus shorter than one window: no rows, no error
    short = eeg_window_features(make_trials(rng.standard_normal((2, 2, int(1.5 * SF))), ch_names=["F3", "F4"]))
    assert len(short) == 0 and "eeg_alpha_F3" in short


def test_trial_features_deap_set(rng):
    data = rng.standard_normal((3, 32, int(11 * SF)))
    trials = make_trials(data)
    table = eeg_trial_features(trials)
    feats = [c for c in table if c.startswith("eeg_")]
    assert len(feats) == 32 * 5 + 14 * 4 and len(table) == 3
    win = eeg_window_features(trials)
    np.testing.assert_allclose(table["eeg_alpha_O1"], win.groupby("trial")["eeg_alpha_O1"].mean(), rtol=1e-9)


def test_transformers_follow_sklearn(rng):
    from sklearn.base import clone

    data = rng.standard_normal((3, 32, int(6 * SF)))
    trials = make_trials(data)
    bands = dict(DEFAULT_BANDS)
    est = EEGTrialFeatures(sfreq=SF, ch_names=DEAP_EEG, bands=bands, baseline_s=1.0)
    assert est.fit(data) is est and est.get_params()["bands"] is bands
    clone(est)
    X = est.transform(data)
    np.testing.assert_allclose(X, eeg_trial_features(trials).filter(like="eeg_").to_numpy(), rtol=1e-9)
    np.testing.assert_array_equal(X, est.transform(data.copy()))
    win = sliding_windows(data, SF, WindowGrid(), start_s=1.0)[0].transpose(1, 0, 2)  # windows x ch x samples
    wt = EEGWindowFeatures(sfreq=SF, ch_names=DEAP_EEG).fit(win)
    ref = eeg_window_features(trials)
    ref = ref[ref.trial == 1][list(wt.get_feature_names_out())].to_numpy()
    np.testing.assert_allclose(wt.transform(win), ref, rtol=1e-7)


def test_gather_view_and_general_path_agree(rng):
    """Full grids take the reshaped view; reordered or missing windows the indexed copy with NaN rows."""
    from neuromer.eeg.features import _gather

    trials = make_trials(rng.standard_normal((3, 1, int(4 * SF))), ch_names=["Cz"])
    feats = rng.standard_normal((2, 3, 5))  # features x trials x windows
    columns = feats.reshape(2, 15)
    full = {"trial": np.repeat(trials.column("trial"), 5), "window": np.tile(np.arange(5), 3)}
    view = _gather(feats, full, trials)
    assert np.shares_memory(view, feats)
    np.testing.assert_array_equal(view, columns)
    shuffled = {k: v[::-1].copy() for k, v in full.items()}
    np.testing.assert_array_equal(_gather(feats, shuffled, trials), columns[:, ::-1])
    extra = {"trial": np.append(full["trial"], trials.column("trial")[0]), "window": np.append(full["window"], 5)}
    out = _gather(feats, extra, trials)
    assert not np.shares_memory(out, feats)
    np.testing.assert_array_equal(out[:, :15], columns)
    assert np.isnan(out[:, 15]).all()
