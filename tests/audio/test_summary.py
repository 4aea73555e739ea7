"""Clip/window summaries, the content-hash cache, the stimulus table and the default emotion predictor."""

import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.stats import spearmanr

from neuromer.audio import audio_features, stimulus_table
from neuromer.windows import WindowGrid

from ._signals import SR, click_track, progression


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "clip.wav"
    sf.write(path, progression("major", bars=4) + click_track(120, 6), SR)
    return path


def test_window_rows_follow_the_grid(wav):
    table = audio_features(wav, window_s=1.0, hop_s=0.5, melody=False)
    starts = WindowGrid(1.0, 0.5).starts(6.0)
    assert table["window"].tolist() == list(range(len(starts)))
    np.testing.assert_allclose(table["t_start"], starts)
    np.testing.assert_allclose(table["t_end"] - table["t_start"], 1.0)
    feats = [c for c in table.columns if c not in ("window", "t_start", "t_end", "duration_s")]
    assert feats and all(c.startswith("audio_") for c in feats)
    for col in ("audio_rms_db_mean", "audio_rms_db_std", "audio_centroid_hz_p90", "audio_flux_slope",
                "audio_mfcc_3_mean", "audio_chroma_C_std", "audio_tempo_bpm", "audio_onset_rate",
                "audio_key_clarity", "audio_mode_strength", "audio_pred_arousal", "audio_pred_quadrant"):
        assert col in table, col
    assert np.isfinite(table["audio_rms_db_mean"]).all()
    # the major progression reads major in every window (4 s key context)
    assert (table["audio_mode"] == 1).all()


def test_clip_row_and_window_stats_agree(wav):
    clip = audio_features(wav, melody=False)
    assert len(clip) == 1 and clip["window"].iloc[0] == -1
    assert clip["duration_s"].iloc[0] == pytest.approx(6.0)
    assert clip["audio_tempo_bpm"].iloc[0] == pytest.approx(120, abs=2)
    wins = audio_features(wav, window_s=3.0, hop_s=3.0, melody=False)
    # the clip mean of a frame feature is the (frame-count weighted) mean of its halves
    assert clip["audio_centroid_hz_mean"].iloc[0] == pytest.approx(wins["audio_centroid_hz_mean"].mean(), rel=0.02)


def test_cache_by_content(wav, tmp_path):
    cache = tmp_path / "cache"
    first = audio_features(wav, window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache)
    assert len(list(cache.glob("*.parquet"))) == 1
    copy = tmp_path / "same_content.wav"
    shutil.copy(wav, copy)
    again = audio_features(copy, window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache)
    assert len(list(cache.glob("*.parquet"))) == 1  # same bytes -> same entry, analysed once
    pd.testing.assert_frame_equal(first, again)
    audio_features(copy, window_s=2.0, hop_s=1.0, melody=False, cache_dir=cache)  # new settings
    y, _ = sf.read(copy)
    sf.write(copy, 0.5 * y, SR)  # edited file -> new entry
    audio_features(copy, window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache)
    assert len(list(cache.glob("*.parquet"))) == 3
    assert not list(cache.glob(".tmp-*"))


def test_clip_shorter_than_a_window(tmp_path, caplog):
    path = tmp_path / "short.wav"
    sf.write(path, click_track(120, 0.4), SR)
    table = audio_features(path, window_s=1.0, hop_s=0.5, melody=False)
    assert len(table) == 0
    assert "shorter than one" in caplog.text
    assert len(audio_features(path, melody=False)) == 1  # the clip summary still exists


def test_stimulus_table_and_planted_arousal_order(study):
    stimuli = {p.stem: p for p in study.stimuli}
    table = stimulus_table(stimuli, window_s=1.0, hop_s=0.5, melody=False)
    assert set(table["stimulus_id"]) == set(stimuli)
    assert table.columns[:3].tolist() == ["stimulus_id", "window", "t_start"]
    truth = pd.read_csv(study.root / "ground_truth.csv").drop_duplicates("stimulus_id").set_index("stimulus_id")
    per_stim = table.groupby("stimulus_id")["audio_pred_arousal"].mean()
    assert spearmanr(per_stim, truth.loc[per_stim.index, "planted_arousal"])[0] == pytest.approx(1.0)


def test_default_predictor_ranks_simulated_stimuli(tmp_path_factory):
    """Eight stimuli over the four quadrants: arousal ranks in the planted order; mode -> valence side."""
    from neuromer.simulate import simulate_study

    study = simulate_study(tmp_path_factory.mktemp("rank") / "s", n_subjects=1, n_trials=8,
                           stimulus_s=12.0, seed=3)
    truth = pd.read_csv(study.root / "ground_truth.csv").drop_duplicates("stimulus_id").set_index("stimulus_id")
    rows = {p.stem: audio_features(p, melody=False).iloc[0] for p in study.stimuli}
    pred = pd.DataFrame(rows).T.loc[truth.index]
    planted = truth["planted_arousal"].to_numpy()
    got = pred["audio_pred_arousal"].to_numpy(dtype=float)
    assert spearmanr(got, planted)[0] > 0.9
    # every pair of stimuli more than half a scale point apart is in the planted order
    i, j = np.where(planted[:, None] - planted[None, :] > 0.5)
    assert (got[i] > got[j]).all()
    # major-mode stimuli (planted valence > 5) get higher predicted valence than minor ones
    major = truth["planted_valence"].to_numpy() > 5
    val = pred["audio_pred_valence"].to_numpy(dtype=float)
    assert val[major].min() > val[~major].max()
    assert set(pred["audio_pred_quadrant"]) <= {"Q1", "Q2", "Q3", "Q4"}


def test_stimulus_table_with_a_corrupt_stimulus(wav, tmp_path):
    from neuromer.errors import DataFormatError

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt broken")
    stimuli = {"good": wav, "bad": bad}
    with pytest.raises(DataFormatError, match="bad.wav"):
        stimulus_table(stimuli, melody=False)
    errors, seen = {}, []
    table = stimulus_table(stimuli, melody=False, on_error="warn", errors=errors, progress=seen.append)
    assert set(table["stimulus_id"]) == {"good"} and list(errors) == ["bad"] and "bad.wav" in errors["bad"]
    assert seen == ["good", "bad"]  # progress still reaches the total
