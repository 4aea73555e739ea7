"""The window-level (DEAM-style) emotion model on generated clips whose cues follow known curves."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from neuromer.audio.dynamic import dynamic_labels, predict_dynamic, train_dynamic_model
from neuromer.errors import NeuromerError

from ._signals import SR

DUR_S = 16.0


def _curve(t, period_s, phase):
    return 0.5 + 0.4 * np.sin(2 * np.pi * t / period_s + phase)


def _song(path, rng):
    """A chord pad whose loudness follows one smooth curve and brightness another; returns both."""
    t = np.arange(int(DUR_S * SR)) / SR
    loud = (rng.uniform(6, 12), rng.uniform(0, 2 * np.pi))
    bright = (rng.uniform(6, 12), rng.uniform(0, 2 * np.pi))
    f0 = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    dull = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
    shiny = sum(np.sin(2 * np.pi * f0 * k * t) / np.sqrt(k) for k in range(4, 14) if f0 * k < SR / 2.2)
    dull, shiny = dull / np.std(dull), shiny / np.std(shiny)  # brightness must not change the level
    b = _curve(t, *bright)
    y = ((1 - b) * dull + b * shiny) * 10 ** ((-36 + 30 * _curve(t, *loud)) / 20)
    sf.write(path, 0.3 * y, SR)
    return loud, bright


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Six 16 s songs and their 2 Hz annotations from 2 s to 14 s (arousal: loudness, valence: brightness)."""
    root = tmp_path_factory.mktemp("dyn")
    rng = np.random.default_rng(3)
    rows = []
    for i in range(6):
        path = root / f"song{i}.wav"
        loud, bright = _song(path, rng)
        for ts in np.arange(2.0, 14.01, 0.5):
            rows.append({"audio_path": str(path), "song_id": f"s{i}", "artist": np.nan, "title": np.nan,
                         "time_s": ts, "valence": 1 + 8 * _curve(ts, *bright), "arousal": 1 + 8 * _curve(ts, *loud)})
    return pd.DataFrame(rows), root / "cache"


def test_dynamic_labels_on_the_grid():
    ann = pd.DataFrame({"song_id": "a", "time_s": [15.0, 15.5, 16.0, 16.5],
                        "valence": [1.0, 2.0, 3.0, 4.0], "arousal": [5.0, 5.0, 5.0, 5.0]})
    win = pd.DataFrame({"song_id": "a", "t_start": [0.0, 14.75, 15.0, 15.5, 16.0],
                        "t_end": [1.0, 15.75, 16.0, 16.5, 17.0]})
    lab = dynamic_labels(ann, win)
    assert lab["valence"].isna().tolist() == [True, False, False, False, True]  # outside the annotated span
    # the mean of the linear curve at 11 points over the window (held flat before the first sample):
    # [14.75, 15.75] -> 1, 1, 1, 1.1, 1.3, ..., 2.5
    np.testing.assert_allclose(lab["valence"].iloc[1:4], [17.4 / 11, 2.0, 3.0], rtol=1e-9)
    np.testing.assert_allclose(lab["arousal"].iloc[1:4], 5.0)
    lagged = dynamic_labels(ann, win, lag_s=0.5)  # window [15, 16] gets the ratings of [15.5, 16.5]
    assert lagged["valence"].iloc[2] == pytest.approx(3.0)


def test_curves_are_tracked_and_shuffled_curves_are_not(songs, tmp_path):
    ann, cache = songs
    summary, per_song = train_dynamic_model(ann, melody=False, n_splits=4, cache_dir=cache,
                                            out=tmp_path / "dyn.skops")
    s = summary.set_index("target")
    assert (s["songs"] == 6).all() and (s["folds"] == 4).all()
    assert s.loc["arousal", "windows"] == 6 * 23  # windows [2, 3] .. [13, 14] lie inside the 2-14 s span
    assert s.loc["arousal", "r_mean"] > 0.95 and s.loc["valence", "r_mean"] > 0.9
    assert set(per_song["song_id"]) == {f"s{i}" for i in range(6)}
    # on the 1-9 scale; with the timbre_harmony series (crest factor, local mode strength follow the
    # brightness curve within a song but sit at a pitch-dependent level) the worst of 12 song-targets is 1.15
    assert per_song["rmse"].max() < 1.25 and per_song["rmse"].mean() < 0.7
    # each song's annotation samples shuffled in time: nothing to learn
    rng = np.random.default_rng(0)
    shuffled = ann.copy()
    for sid, idx in ann.groupby("song_id").groups.items():
        shuffled.loc[idx, ["valence", "arousal"]] = ann.loc[rng.permutation(idx), ["valence", "arousal"]].to_numpy()
    bad, bad_songs = train_dynamic_model(shuffled, melody=False, n_splits=4, cache_dir=cache)
    # (a window's label averages ~3 shuffled samples, so a song's chance r spreads about +-0.3)
    assert (bad["r_mean"].abs() < 0.4).all() and (bad_songs["r"] < 0.8).all()
    # the saved model predicts per window of the grid; a silent file gets NaN
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(3 * SR), SR)
    pred = predict_dynamic(tmp_path / "dyn.skops", [ann["audio_path"].iloc[0], silent], cache_dir=cache)
    first = pred[pred["audio"] == ann["audio_path"].iloc[0]]
    assert len(first) == 31 and first[["pred_valence", "pred_arousal"]].notna().all().all()
    assert pred.loc[pred["audio"] == str(silent), "pred_arousal"].isna().all()


def test_dynamic_problems(songs):
    ann, cache = songs
    with pytest.raises(NeuromerError, match="no window of the grid lies inside"):
        train_dynamic_model(ann.assign(time_s=ann["time_s"] + 100), melody=False, cache_dir=cache)
    with pytest.raises(NeuromerError, match="at least 2"):
        train_dynamic_model(ann[ann["song_id"] == "s0"], melody=False, cache_dir=cache)
    taken = cache.parent / "taken.skops"
    taken.write_bytes(b"a user's file")
    with pytest.raises(NeuromerError, match="taken.skops: file exists"):
        train_dynamic_model(ann, melody=False, cache_dir=cache, out=taken)
    assert taken.read_bytes() == b"a user's file"


def test_ridge_search_path_matches_the_pipeline():
    from neuromer.audio.dynamic import K_BEST, RIDGE_ALPHAS, _model, _ridge_path_sse

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 120))
    x[3, 5] = np.nan
    x[:, 7] = 1.0  # a constant feature
    y = np.clip(5 + x[:, :2] @ np.ones((2, 2)) + rng.standard_normal((60, 2)), 1, 9)
    sse = _ridge_path_sse(x[:40], y[:40], x[40:], y[40:])
    ref = [[np.sum((np.clip(_model("ridge", 0, a, k).fit(pd.DataFrame(x[:40]), y[:40]).predict(pd.DataFrame(x[40:])),
                            1, 9) - y[40:]) ** 2) for a in RIDGE_ALPHAS] for k in K_BEST]
    np.testing.assert_allclose(sse, ref, rtol=1e-8)
