import warnings

import neurokit2 as nk
import numpy as np
import pandas as pd
import pytest

from neuromer.physio import physio_trial_features, physio_window_features
from neuromer.session import Trials
from neuromer.windows import KEY_COLUMNS, WindowGrid

SF = 128.0
BASE = 3.0
DUR = 40.0
NAMES = ["GSR", "Plethysmograph", "Respiration", "Temperature", "zEMG", "hEOG", "vEOG"]
TYPES = ["gsr", "bio", "resp", "temperature", "emg", "eog", "eog"]


def _blinks(n, every_s, rng):
    t = np.arange(n) / SF
    x = 3 * rng.standard_normal(n)
    for b in np.arange(1.0, t[-1] - 0.5, every_s):
        x += 250 * np.exp(-0.5 * ((t - b) / 0.08) ** 2)
    return x


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(7)
    n_trials = 8
    arousal = np.array([1, 2, 3, 4, 5, 6, 7, 8], float)
    heart_rate = np.linspace(55, 95, n_trials)
    n = int((BASE + DUR) * SF)
    t = np.arange(n) / SF
    data = np.zeros((n_trials, len(NAMES), n))
    for i in range(n_trials):
        data[i, 0] = nk.eda_simulate(length=n, sampling_rate=int(SF), scr_number=int(2 * arousal[i]),
                                     drift=0.0, noise=0.002, random_state=i)
        data[i, 1] = nk.ppg_simulate(duration=int(n // SF) + 1, sampling_rate=int(SF), heart_rate=heart_rate[i],
                                     random_state=i)[:n]
        data[i, 2] = nk.rsp_simulate(length=n, duration=int(n // SF) + 1, sampling_rate=int(SF), respiratory_rate=15,
                                     random_state=i)[:n]
        data[i, 3] = 33.0 + 0.01 * t
        data[i, 4] = 20 * np.sin(2 * np.pi * 40 * t)
        data[i, 5] = rng.standard_normal(n)
        data[i, 6] = _blinks(n, 3.0, rng)
    meta = pd.DataFrame({"trial": np.arange(1, n_trials + 1), "stimulus_id": [f"s{i}" for i in range(n_trials)],
                         "arousal": arousal})
    trials = Trials(data, SF, NAMES, TYPES, baseline_s=BASE, metadata=meta, subject="01")
    return trials, arousal, heart_rate


def test_window_table_layout(study):
    trials, _, _ = study
    table = physio_window_features(trials)
    assert list(table.columns[:6]) == list(KEY_COLUMNS)
    assert len(table) == trials.n_trials * WindowGrid().n_windows(DUR)
    for col in ("physio_eda_tonic", "physio_scr_count", "physio_scr_amplitude", "physio_scr_rise_time_s",
                "physio_hr_bpm", "physio_hrv_rmssd_ms", "physio_hrv_sdnn_ms", "physio_resp_rate_bpm",
                "physio_resp_amplitude", "physio_resp_irregularity", "physio_temp_mean",
                "physio_temp_slope_per_s", "physio_emg_rms_zEMG", "physio_blink_rate_per_min"):
        assert col in table, col
    # 1 s windows hold at most one beat interval: HRV comes from the 30 s context around each
    assert table["physio_hrv_rmssd_ms"].notna().all() and table["physio_hrv_sdnn_ms"].notna().all()
    assert table["physio_resp_irregularity"].notna().all()
    assert table["physio_hr_bpm"].notna().all()
    assert table.attrs["physio_span"] == "trial"
    assert table.attrs["physio_sources"]["physio_hr_bpm"] == "PPG channel 'Plethysmograph'"
    np.testing.assert_allclose(table["physio_temp_slope_per_s"], 0.01, rtol=1e-6)
    np.testing.assert_allclose(table["physio_temp_mean"], 33.0 + 0.01 * (BASE + table["t_start"] + 0.5 - 0.5 / SF),
                               rtol=1e-9)
    np.testing.assert_allclose(table["physio_emg_rms_zEMG"], 20 / np.sqrt(2), rtol=0.01)
    # 10 s windows allow HRV
    long = physio_window_features(trials, grid=WindowGrid(10.0, 5.0))
    assert long["physio_hrv_sdnn_ms"].notna().all() and long["physio_hrv_rmssd_ms"].notna().all()


def test_scr_rate_tracks_arousal(study):
    trials, arousal, _ = study
    per_trial = physio_trial_features(trials)
    assert np.corrcoef(per_trial["physio_scr_rate_per_min"], arousal)[0, 1] > 0.8
    windows = physio_window_features(trials)
    counts = windows.groupby("trial")["physio_scr_count"].sum().to_numpy()
    assert np.corrcoef(counts, arousal)[0, 1] > 0.8


def test_heart_rate_of_synthetic_ppg(study):
    trials, _, heart_rate = study
    per_trial = physio_trial_features(trials)
    np.testing.assert_allclose(per_trial["physio_hr_bpm"], heart_rate, atol=3)
    windows = physio_window_features(trials)
    np.testing.assert_allclose(windows.groupby("trial")["physio_hr_bpm"].mean(), heart_rate, atol=3)


def test_respiration_and_blinks(study):
    trials, _, _ = study
    per_trial = physio_trial_features(trials)
    np.testing.assert_allclose(per_trial["physio_resp_rate_bpm"], 15, atol=2)
    assert (per_trial["physio_resp_irregularity"] < 0.3).all()
    np.testing.assert_allclose(per_trial["physio_blink_rate_per_min"], 20, atol=2)


def test_missing_channel_warns_and_is_absent(study, caplog):
    trials, _, _ = study
    gsr_only = trials.pick("gsr")
    with pytest.warns(RuntimeWarning) as record:
        table = physio_window_features(gsr_only)
    assert any("PPG" in str(w.message) and "'bio'" in str(w.message) for w in record)
    assert "physio_eda_tonic" in table and not any(c.startswith("physio_hr") for c in table)
    assert "Plethysmograph" not in table.columns and any("respiration" in r.message for r in caplog.records)


def test_flat_nan_and_short_signals_give_nan(study):
    trials, _, _ = study
    data = trials.data.copy()
    data[0, 0] = 5.0  # flat EDA
    data[1, 1, 1000:1100] = np.nan  # a gap in the PPG during the stimulus
    data[2, 1, 100:200] = np.nan  # a gap in the baseline: the stimulus period is still whole
    bad = Trials(data, SF, NAMES, TYPES, baseline_s=BASE, metadata=trials.metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = physio_trial_features(bad)
        windows = physio_window_features(bad)
    assert np.isnan(table.loc[0, "physio_scr_count"]) and np.isfinite(table.loc[1, "physio_scr_count"])
    assert np.isnan(table.loc[1, "physio_hr_bpm"]) and np.isfinite(table.loc[0, "physio_hr_bpm"])
    assert np.isfinite(table.loc[2, "physio_hr_bpm"])
    # bad samples stay local: only the windows that touch the gap (1000-1100 = 4.8-5.6 s) are NaN
    w = windows[windows["trial"] == 2]
    touching = (w["t_end"] > (1000 / SF - BASE)) & (w["t_start"] < (1100 / SF - BASE))
    assert w.loc[touching, "physio_hr_bpm"].isna().all() and w.loc[~touching, "physio_hr_bpm"].notna().all()
    # trials shorter than a window and a rate too low for the measures: NaN, never an error
    short = Trials(trials.data[:2, :, :int((BASE + 0.6) * SF)], SF, NAMES, TYPES, baseline_s=BASE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(physio_window_features(short)) == 0
        low = Trials(trials.data[:2, :, ::32], SF / 32, NAMES, TYPES, baseline_s=BASE)
        table = physio_trial_features(low)
    assert len(table) == 2


def test_neurokit_failure_is_warned_once_with_count(study):
    trials, _, _ = study
    data = trials.data.copy()
    data[:5, 2] = np.linspace(0.0, 1.0, data.shape[2])  # a ramp: no breath for neurokit2 in 5 trials
    bad = Trials(data, SF, NAMES, TYPES, baseline_s=BASE, metadata=trials.metadata)
    with pytest.warns(RuntimeWarning) as record:
        table = physio_trial_features(bad.pick("resp"))
    about = [str(w.message) for w in record if "Respiration" in str(w.message)]
    assert len(about) == 1, about
    assert "in 5 of 8 trials (1, 2, 3, 4, 5)" in about[0] and "\n" not in about[0]
    assert table["physio_resp_rate_bpm"].iloc[:5].isna().all()
    assert table["physio_resp_rate_bpm"].iloc[5:].notna().all()
