"""Physio features from the continuous recording: ECG, SCR minimum, interval context, warnings."""

import warnings

import mne
import neurokit2 as nk
import numpy as np
import pandas as pd
import pytest

from neuromer.epochs import make_trials
from neuromer.physio import physio_trial_features, physio_window_features
from neuromer.session import Session, Trials

SF = 128
DUR_S = 240
ONSETS_S = np.array([20.0, 50.0, 80.0, 110.0, 140.0, 170.0, 200.0])  # 13 s stimuli, 3 s baselines
SCR_TIMES_S = np.arange(8.0, DUR_S, 30.0)  # large SCRs between trials (8, 38, ...), none inside them


def _scr(t, t0, amp):
    """A skin conductance response of peak amplitude ``amp`` starting at ``t0`` (rise ~1.5 s)."""
    u = np.clip(t - t0, 0.0, None)
    y = np.exp(-u / 4.0) - np.exp(-u / 0.75)
    return amp * y / y.max()


def _session(channels: dict[str, tuple[str, np.ndarray]]) -> Session:
    names = list(channels)
    types = [channels[n][0] for n in names]
    # ECG in microvolts like a Trials; the Session holds volts
    data = np.array([channels[n][1] * (1e-6 if channels[n][0] == "ecg" else 1.0) for n in names])
    raw = mne.io.RawArray(data, mne.create_info(names, SF, types), verbose="error")
    table = pd.DataFrame({"trial": np.arange(1, len(ONSETS_S) + 1),
                          "stimulus_id": [f"s{i}" for i in range(len(ONSETS_S))],
                          "onset_s": ONSETS_S, "duration_s": 13.0})
    return Session(raw, trials=table, subject="01")


@pytest.fixture(scope="module")
def recording():
    t = np.arange(DUR_S * SF) / SF
    rng = np.random.default_rng(0)
    eda = 5 + 0.3 * np.sin(2 * np.pi * t / 200) + 0.002 * rng.standard_normal(t.size)  # slow drift + noise
    for t0 in SCR_TIMES_S:
        eda += _scr(t, t0, 0.5)
    ecg = nk.ecg_simulate(duration=DUR_S, sampling_rate=SF, heart_rate=72, method="simple",
                          random_state=1)[:t.size] * 1000.0  # µV
    ppg = nk.ppg_simulate(duration=DUR_S, sampling_rate=SF, heart_rate=90, random_state=2)[:t.size]
    rsp = nk.rsp_simulate(duration=DUR_S, sampling_rate=SF, respiratory_rate=15, method="sinusoidal",
                          random_state=3)[:t.size]
    session = _session({"GSR": ("gsr", eda), "ECG": ("ecg", ecg), "PPG": ("bio", ppg), "Resp": ("resp", rsp)})
    trials = make_trials(session, sfreq=None, baseline_s=3.0, duration_s=13.0)
    assert trials.n_trials == len(ONSETS_S) and trials.n_samples == 16 * SF
    return session, trials


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def test_no_spurious_scrs_when_processed_continuously(recording):
    session, trials = recording
    eda = trials.pick("gsr")
    continuous = _quiet(physio_trial_features, eda, session=session)
    assert (continuous["physio_scr_count"] == 0).all()
    windows = _quiet(physio_window_features, eda, session=session)
    assert windows.attrs["physio_span"] == "session" and (windows["physio_scr_count"] == 0).all()
    # the old path (each 16 s trial on its own, no minimum amplitude) finds noise "SCRs" in every trial
    old = _quiet(physio_trial_features, eda, min_scr_amplitude_us=0.0)
    assert (old["physio_scr_count"] >= 5).all()
    assert (old["physio_scr_amplitude"] < 0.01).all()
    # the minimum amplitude alone removes them on the per-trial path too
    assert (_quiet(physio_trial_features, eda)["physio_scr_count"] == 0).all()


def test_min_scr_amplitude_is_respected(recording):
    session, _ = recording
    t = session.raw.times
    raw = session.raw.copy()
    gsr = raw.ch_names.index("GSR")
    # trial 1 (stimulus 20-33 s) gets an SCR of 0.05 µS, trial 2 (50-63 s) one of 0.3 µS
    raw._data[gsr] += _scr(t, 24.0, 0.05) + _scr(t, 54.0, 0.3)
    sess = Session(raw, trials=session.trials, subject="01")
    trials = make_trials(sess, sfreq=None, baseline_s=3.0, duration_s=13.0).pick("gsr")
    counts = {}
    for threshold in (0.01, 0.1, 1.0):
        table = _quiet(physio_trial_features, trials, session=sess, min_scr_amplitude_us=threshold)
        counts[threshold] = table["physio_scr_count"].to_numpy()
        assert (table["physio_scr_amplitude"].dropna() >= threshold).all()
    np.testing.assert_array_equal(counts[0.01], [1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(counts[0.1], [0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(counts[1.0], 0)


def test_ecg_heart_rate_and_hrv(recording):
    session, trials = recording
    ecg_only = trials.pick("ecg")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        windows = physio_window_features(ecg_only, session=session)
    assert not [w for w in record if "ECG or PPG" in str(w.message)]
    np.testing.assert_allclose(windows["physio_hr_bpm"], 72, atol=1)
    assert windows[["physio_hrv_sdnn_ms", "physio_hrv_rmssd_ms"]].notna().all().all()
    assert windows.attrs["physio_sources"]["physio_hr_bpm"] == "ECG channel 'ECG'"
    per_trial = _quiet(physio_trial_features, ecg_only)
    np.testing.assert_allclose(per_trial["physio_hr_bpm"], 72, atol=1)


def test_hrv_equals_neurokit_hrv_time_on_the_same_beats(recording):
    _, trials = recording
    ecg = trials.pick("ecg")
    ecg = ecg[:2]
    table = _quiet(physio_trial_features, ecg, context_s=0.0)  # context = the stimulus period
    for i in range(ecg.n_trials):
        _, info = _quiet(nk.ecg_process, ecg.data[i, 0], sampling_rate=SF)  # neurokit2's own, in full
        beats = np.asarray(info["ECG_R_Peaks"])
        beats = beats[beats >= 3 * SF]
        ref = _quiet(nk.hrv_time, beats, sampling_rate=SF)
        np.testing.assert_allclose(table.loc[i, "physio_hrv_sdnn_ms"], ref["HRV_SDNN"].iloc[0], rtol=1e-9)
        np.testing.assert_allclose(table.loc[i, "physio_hrv_rmssd_ms"], ref["HRV_RMSSD"].iloc[0], rtol=1e-9)


def test_ecg_is_preferred_over_ppg(recording):
    session, trials = recording
    heart = trials.pick(["ecg", "bio"])
    for kwargs in ({}, {"session": session}):
        table = _quiet(physio_window_features, heart, **kwargs)
        np.testing.assert_allclose(table.groupby("trial")["physio_hr_bpm"].mean(), 72, atol=1)  # PPG: 90
        assert table.attrs["physio_sources"]["physio_hrv_rmssd_ms"] == "ECG channel 'ECG'"
    ppg = _quiet(physio_trial_features, trials.pick("bio"), session=session)
    np.testing.assert_allclose(ppg["physio_hr_bpm"].mean(), 90, atol=1)  # the simulated pulse wanders +- 4
    assert ppg.attrs["physio_sources"]["physio_hr_bpm"] == "PPG channel 'PPG'"


def test_respiration_rate_on_13_s_trials_through_the_context(recording):
    session, trials = recording
    rsp = trials.pick("resp")
    for kwargs in ({"session": session}, {}):  # whole recording, or each 16 s trial alone
        windows = _quiet(physio_window_features, rsp, **kwargs)
        np.testing.assert_allclose(windows["physio_resp_rate_bpm"], 15, atol=1)
        if kwargs:  # a 16 s trial alone may lose its first or last breath to the edges
            assert windows["physio_resp_irregularity"].notna().all()
        per_trial = _quiet(physio_trial_features, rsp, **kwargs)
        np.testing.assert_allclose(per_trial["physio_resp_rate_bpm"], 15, atol=1)


def test_undefined_measures_are_warned_once_with_reason_and_count(recording):
    session, trials = recording
    with pytest.warns(RuntimeWarning) as record:
        table = physio_window_features(trials.pick(["ecg", "resp"]), session=session, context_s=0.0)
    messages = [str(w.message) for w in record]
    n = len(table)
    for col, reason in (("physio_hrv_sdnn_ms", "beat intervals"), ("physio_resp_irregularity", "breath intervals")):
        about = [m for m in messages if m.startswith(col)]
        assert len(about) == 1, messages
        assert f"NaN in {n} of {n} windows" in about[0] and reason in about[0] and "0 s around" in about[0]
        assert table[col].isna().all()
    # with the default 30 s context nothing is undefined, and nothing is said
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        physio_window_features(trials.pick(["ecg", "resp"]), session=session)
    assert not [w for w in record if "is NaN in" in str(w.message)]


def test_session_and_trial_paths_cut_the_same_samples(recording):
    session, trials = recording
    t = session.raw.times
    raw = session.raw.copy().add_channels([mne.io.RawArray(
        (33.0 + 0.01 * t)[None], mne.create_info(["Temp"], SF, ["temperature"]), verbose="error")])
    sess = Session(raw, trials=session.trials, subject="01")
    cut = make_trials(sess, sfreq=None, baseline_s=3.0, duration_s=13.0).pick("temperature")
    a = _quiet(physio_window_features, cut, session=sess)
    b = _quiet(physio_window_features, cut)
    pd.testing.assert_frame_equal(a, b)
    onset = np.repeat(ONSETS_S, a.groupby("trial").size().to_numpy())
    np.testing.assert_allclose(a["physio_temp_mean"], 33.0 + 0.01 * (onset + a["t_start"] + 0.5 - 0.5 / SF))


def test_session_at_another_rate_and_with_a_gap(recording):
    session, _ = recording
    raw = session.raw.copy().pick(["Resp"])
    trials = make_trials(Session(raw, trials=session.trials), sfreq=None, baseline_s=3.0, duration_s=13.0)
    fast = raw.copy().resample(256, verbose="error")  # the session at twice the trials' rate
    fast._data[0, int(115.0 * 256):int(115.5 * 256)] = np.nan  # lost samples 5-5.5 s into trial 4
    sess = Session(fast, trials=session.trials, subject="01")
    with pytest.warns(RuntimeWarning, match=r"'Resp' has NaN or infinite samples .* windows of 1 of 7 trials \(4\)"):
        table = physio_window_features(trials, session=sess)
    touching = (table["trial"] == 4) & (table["t_end"] > 5.0) & (table["t_start"] < 5.5)
    assert table.loc[touching, "physio_resp_rate_bpm"].isna().all()
    np.testing.assert_allclose(table.loc[~touching, "physio_resp_rate_bpm"], 15, atol=1)


def test_bad_arguments_are_one_line_errors(recording):
    from neuromer.errors import NeuromerError

    session, trials = recording
    with pytest.raises(NeuromerError, match="min_scr_amplitude_us"):
        physio_window_features(trials, min_scr_amplitude_us=-1)
    with pytest.raises(NeuromerError, match="context_s"):
        physio_window_features(trials, context_s=float("nan"))
    other = Trials(trials.data[:, :1], SF, ["EDA2"], ["gsr"], baseline_s=3.0, metadata=trials.metadata)
    with pytest.raises(NeuromerError, match="no channel 'EDA2'"):
        physio_window_features(other, session=session)


@pytest.mark.slow
def test_pipeline_processes_physio_over_the_session(study, tmp_path):
    from neuromer.pipeline import make_config, process_subject

    xdf = study.xdf[0]
    cfg = make_config({"study": {"inputs": [str(xdf)], "protocol": str(study.protocol)},
                       "features": {"eeg": False, "audio": False, "physio_min_scr_amplitude_us": 0.2,
                                    "physio_context_s": 20.0}},
                      path=tmp_path / "c.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = process_subject(str(xdf), {"sections": cfg.sections, "path": str(tmp_path / "c.toml")},
                                 str(tmp_path / "run"), None)
    assert status["status"] == "done", status
    table = pd.read_parquet(status["outputs"]["physio"])
    assert table.attrs["physio_span"] == "session"
    assert (table["physio_scr_amplitude"].dropna() >= 0.2).all()
    assert table["physio_hr_bpm"].notna().all()


def test_cli_takes_the_scr_minimum_and_context(recording, tmp_path, capsys):
    from neuromer.cli import main
    from neuromer.io import write_trials

    _, trials = recording
    path = write_trials(trials.pick(["gsr", "ecg"]), tmp_path / "sub-01-epo.fif")
    counts = {}
    for threshold in ("0", "0.01"):
        out = tmp_path / f"physio_{threshold}.parquet"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(["features", "physio", str(path), "--out", str(out), "--per-trial",
                         "--min-scr-amplitude-us", threshold, "--context-s", "0"]) == 0
        table = pd.read_parquet(out)
        counts[threshold] = table["physio_scr_count"].to_numpy()
        assert table.attrs["physio_sources"]["physio_hr_bpm"] == "ECG channel 'ECG'"
    assert (counts["0"] >= 5).all() and (counts["0.01"] == 0).all()
    assert main(["features", "physio", str(path), "--out", str(tmp_path / "x.parquet"),
                 "--min-scr-amplitude-us", "-1"]) == 2
    assert "min_scr_amplitude_us" in capsys.readouterr().err


def test_eda_in_another_unit_is_warned_once(recording):
    _, trials = recording
    eda = trials.pick("gsr")
    ohm = Trials(1e6 / eda.data, SF, eda.ch_names, eda.ch_types, baseline_s=3.0, metadata=eda.metadata)
    with pytest.warns(RuntimeWarning) as record:
        physio_trial_features(ohm)
    about = [str(w.message) for w in record if "median level" in str(w.message)]
    assert len(about) == 1 and "in 7 of 7 trials" in about[0] and "e+05)" in about[0], about
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        physio_trial_features(eda)
    assert not [w for w in record if "median level" in str(w.message)]


def test_bad_sample_spans_stay_nan_in_the_session_path(recording):
    """Long NaN runs are filled with a line (so filters run) and marked BAD_nonfinite: not signal."""
    from neuromer.badsamples import repair_nonfinite

    session, _ = recording
    raw = session.raw.copy().pick(["Resp", "GSR"]).load_data()
    raw._data[:, int(145.0 * SF):int(146.0 * SF)] = np.nan  # 1 s lost 5-6 s into trial 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repair_nonfinite(raw)
    assert np.isfinite(raw.get_data()).all()
    sess = Session(raw, trials=session.trials, subject="01")
    trials = make_trials(sess, sfreq=None, baseline_s=3.0, duration_s=13.0)
    with pytest.warns(RuntimeWarning, match=r"'Resp' has NaN or infinite samples .* windows of 1 of 7 trials \(5\)"):
        table = physio_window_features(trials, session=sess)
    touching = (table["trial"] == 5) & (table["t_end"] > 5.0) & (table["t_start"] < 6.0)
    assert touching.sum() == 3
    assert table.loc[touching, ["physio_resp_rate_bpm", "physio_eda_tonic"]].isna().all().all()
    assert table.loc[~touching, ["physio_resp_rate_bpm", "physio_eda_tonic"]].notna().all().all()
