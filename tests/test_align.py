import numpy as np
import pandas as pd
import pytest

from neuromer.align import align, lag_analysis
from neuromer.eeg import eeg_window_features
from neuromer.errors import NeuromerError
from neuromer.session import Trials
from neuromer.windows import KEY_COLUMNS, WindowGrid

SF = 128.0


@pytest.fixture(scope="module")
def trials():
    rng = np.random.default_rng(3)
    n = int((2 + 10) * SF)
    data = rng.standard_normal((3, 3, n))
    data[:, 2] = 5 + 0.1 * rng.standard_normal((3, n))
    meta = pd.DataFrame({"trial": [1, 2, 3], "stimulus_id": ["s2", "s0", "s1"], "onset_s": [10.0, 40.0, 70.0],
                         "duration_s": [10.0, 10.0, 8.0]})
    return Trials(data, SF, ["F3", "F4", "GSR"], ["eeg", "eeg", "gsr"], baseline_s=2.0, metadata=meta,
                  subject="07")


def _audio(grid=WindowGrid(), duration_s=10.0):
    rows = []
    for s in range(3):
        starts = grid.starts(duration_s)
        rows.append(pd.DataFrame({
            "stimulus_id": f"s{s}", "window": np.arange(len(starts)), "t_start": starts,
            "t_end": starts + grid.window_s, "audio_value": 1000.0 * s + np.arange(len(starts)),
            "audio_pred_valence": 0.1 * s, "audio_pred_arousal": -0.1 * s,
            "audio_pred_quadrant": [f"Q{s + 1}"] * len(starts)}))
    return pd.concat(rows, ignore_index=True)


def test_aligned_table_has_every_window_and_exact_audio(trials):
    table = align(trials, _audio(), physio=False)
    keys = WindowGrid().table(trials.metadata, "07")
    assert list(table.columns[:6]) == list(KEY_COLUMNS)
    pd.testing.assert_frame_equal(table[list(KEY_COLUMNS)], keys.astype({"trial": "int64", "window": "int64"}))
    assert len(table) == 19 + 19 + 15
    assert {"eeg_alpha_F3", "eeg_faa", "audio_value", "audio_pred_quadrant"} <= set(table.columns)
    assert table.filter(like="audio_").notna().all().all()
    stim = table["stimulus_id"].str[1].astype(int)
    np.testing.assert_array_equal(table["audio_value"], 1000 * stim + table["window"])
    assert (table["audio_pred_quadrant"] == "Q" + (stim + 1).astype(str)).all()
    # the EEG columns are exactly the EEG window features
    eeg = eeg_window_features(trials)
    np.testing.assert_allclose(table["eeg_faa"], eeg["eeg_faa"])


@pytest.mark.parametrize("latency, shift, first_valid", [(1.0, 2, 2), (0.3, 1, 1), (0.2, 0, 0)])
def test_audio_latency_shifts_by_whole_windows(trials, latency, shift, first_valid):
    table = align(trials, _audio(), eeg=False, physio=False, audio_latency_s=latency)
    for _, grp in table.groupby("trial"):
        stim = int(grp["stimulus_id"].iloc[0][1])
        values = grp["audio_value"].to_numpy()
        assert np.isnan(values[:first_valid]).all()
        np.testing.assert_array_equal(values[first_valid:], 1000 * stim + grp["window"].to_numpy()[first_valid:] - shift)
        # audio changes exactly once per window boundary: consecutive rows differ by one audio window
        np.testing.assert_array_equal(np.diff(values[first_valid:]), 1.0)


def test_precomputed_families_and_errors(trials):
    eeg = eeg_window_features(trials)
    table = align(trials, eeg=eeg, physio=False)
    assert "eeg_alpha_F4" in table and not any(c.startswith("audio_") for c in table)
    with pytest.raises(NeuromerError, match="different window grid"):
        align(trials, eeg=eeg_window_features(trials, grid=WindowGrid(1.0, 0.25)).query("window < 30"),
              physio=False)
    with pytest.raises(NeuromerError, match="stimulus_id"):
        align(trials, pd.DataFrame({"t_start": [0.0], "audio_x": [1.0]}), eeg=False, physio=False)
    # physio computed here: GSR columns present, missing kinds absent
    with pytest.warns(RuntimeWarning):
        table = align(trials, eeg=False)
    assert "physio_eda_tonic" in table and "physio_hr_bpm" not in table


def test_unknown_stimulus_gives_nan_audio(trials):
    audio = _audio().query("stimulus_id != 's1'")
    table = align(trials, audio, eeg=False, physio=False)
    assert table.loc[table.stimulus_id == "s1", "audio_value"].isna().all()
    assert table.loc[table.stimulus_id != "s1", "audio_value"].notna().all()


def test_lag_analysis_recovers_planted_lag():
    rng = np.random.default_rng(0)
    rows = []
    hop, lag_windows = 0.5, 4  # y follows x by 2 s
    for trial in range(1, 7):
        n = 120
        drive = np.convolve(rng.standard_normal(n + lag_windows + 10), np.ones(3) / 3, mode="same")
        x = drive[lag_windows:lag_windows + n]
        y = drive[:n] + 0.3 * rng.standard_normal(n)  # y(t) = x(t - 2 s) + noise
        rows.append(pd.DataFrame({"subject": "01", "trial": trial, "t_start": np.arange(n) * hop,
                                  "audio_rms_db_mean": x, "eeg_alpha_Fz": y}))
    table = pd.concat(rows, ignore_index=True)
    res = lag_analysis(table, "audio_rms_db_mean", "eeg_alpha_Fz", max_lag_s=5.0)
    assert set(res.columns) == {"subject", "trial", "lag_s", "r", "n", "peak"}
    assert np.allclose(sorted(res["lag_s"].unique()), np.arange(-10, 11) * 0.5)
    mean = res[res["trial"].isna()]
    assert len(mean) == 21
    peak = mean[mean["peak"]]
    assert len(peak) == 1 and peak["lag_s"].iloc[0] == pytest.approx(2.0) and peak["r"].iloc[0] > 0.8
    per_trial = res[res["trial"].notna() & res["peak"]]
    assert len(per_trial) == 6 and (per_trial["lag_s"] == 2.0).all()


def test_cli_handlers_end_to_end(tmp_path, trials):
    import argparse

    from neuromer.features_cli import add_feature_commands
    from neuromer.io import write_trials

    parser = argparse.ArgumentParser(prog="neuromer")
    add_feature_commands(parser.add_subparsers(dest="command"))
    path = tmp_path / "sub-07-epo.fif"
    write_trials(trials, path)
    audio = tmp_path / "audio.parquet"
    _audio().to_parquet(audio)

    def run(*argv):
        args = parser.parse_args([str(a) for a in argv])
        return args.func(args)

    assert run("features", "eeg", path, "--out", tmp_path / "eeg.parquet", "--baseline", "subtract") == 0
    eeg = pd.read_parquet(tmp_path / "eeg.parquet")
    assert len(eeg) == 53 and "eeg_faa" in eeg and list(eeg.columns[:6]) == list(KEY_COLUMNS)
    np.testing.assert_allclose(eeg["eeg_alpha_F3"], eeg_window_features(trials, baseline="subtract")["eeg_alpha_F3"],
                               rtol=1e-4, atol=1e-7)  # -epo.fif stores float32
    assert run("features", "eeg", path, "--out", tmp_path / "eeg_trial.parquet", "--per-trial") == 0
    assert len(pd.read_parquet(tmp_path / "eeg_trial.parquet")) == 3
    with pytest.warns(RuntimeWarning):
        assert run("features", "physio", path, "--out", tmp_path / "physio.parquet", "--window-s", "2",
                   "--hop-s", "1") == 0
    assert "physio_scr_count" in pd.read_parquet(tmp_path / "physio.parquet")
    assert run("align", path, "--audio", audio, "--out", tmp_path / "aligned.parquet", "--no-physio",
               "--audio-latency-s", "0.5") == 0
    aligned = pd.read_parquet(tmp_path / "aligned.parquet")
    assert len(aligned) == 53 and "audio_pred_quadrant" in aligned and "eeg_alpha_F3" in aligned
    assert aligned.groupby("trial")["audio_value"].apply(lambda v: v.isna().sum()).eq(1).all()
    with pytest.raises(NeuromerError, match="exists"):
        run("align", path, "--out", tmp_path / "aligned.parquet", "--no-physio")
    with pytest.raises(NeuromerError, match="not found"):
        run("features", "eeg", tmp_path / "missing-epo.fif", "--out", tmp_path / "x.parquet")
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(SystemExit):
        parser.parse_args(["features", "eeg", "--help"])
