"""`neuromer audio ...` end to end through the real CLI entry point."""

import pandas as pd
import pytest
import soundfile as sf

from neuromer.cli import main

from ._signals import SR, click_track, progression


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def clips(tmp_path):
    paths = []
    for i, mode in enumerate(("major", "minor")):
        p = tmp_path / f"clip{i}.wav"
        sf.write(p, progression(mode, bars=3) + click_track(100 + 30 * i, 4.5), SR)
        paths.append(str(p))
    return paths


def test_features_per_window_and_per_clip(tmp_path, clips, capsys):
    out = tmp_path / "f.parquet"
    code, text, _ = run(capsys, "audio", "features", *clips, "--out", str(out), "--window-s", "1",
                        "--hop-s", "0.5", "--no-melody", "-q")
    assert code == 0 and "rows" in text
    table = pd.read_parquet(out)
    assert table["file"].nunique() == 2 and (table.groupby("file").size() == 8).all()
    assert table.filter(like="audio_").shape[1] > 100
    code, _, err = run(capsys, "audio", "features", *clips, "--out", str(out), "--no-melody", "-q")
    assert code == 2 and "exists" in err  # never overwrites without --overwrite
    csv = tmp_path / "clips.csv"
    assert run(capsys, "audio", "features", *clips, "--out", str(csv), "--no-melody", "-q")[0] == 0
    clip = pd.read_csv(csv)
    assert len(clip) == 2 and (clip["window"] == -1).all()
    assert clip["audio_mode"].tolist() == [1, 0]


def test_bad_inputs_are_one_line_errors(tmp_path, clips, capsys):
    code, _, err = run(capsys, "audio", "features", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "x.parquet"))
    assert code == 2 and "missing.wav" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "audio", "features", clips[0], "--out", str(tmp_path / "x.txt"), "-q", "--no-melody")
    assert code == 2 and ".parquet or .csv" in err
    code, _, err = run(capsys, "audio", "predict", str(tmp_path / "none.skops"), clips[0])
    assert code == 2 and "none.skops" in err


def test_train_predict_and_separate(tmp_path, clips, capsys):
    ann = tmp_path / "ann.csv"
    pd.DataFrame({"audio": clips * 2, "valence": [7, 3, 6, 2], "arousal": [4, 6, 5, 7]}).to_csv(ann, index=False)
    model = tmp_path / "m.skops"
    code, text, _ = run(capsys, "audio", "train", str(ann), "--out", str(model), "--folds", "2",
                        "--report", str(tmp_path / "scores.csv"))
    assert code == 0 and "rmse" in text and model.is_file()
    assert set(pd.read_csv(tmp_path / "scores.csv")["model"]) == {"xgboost", "linear"}
    code, text, _ = run(capsys, "audio", "predict", str(model), *clips, "--out", str(tmp_path / "p.csv"))
    assert code == 0 and "pred_arousal" in text
    assert len(pd.read_csv(tmp_path / "p.csv")) == 2
    code, text, _ = run(capsys, "audio", "separate", clips[0], "--out-dir", str(tmp_path / "sep"))
    assert code == 0
    vocals, sr = sf.read(tmp_path / "sep" / "clip0.vocals.wav")
    backing, _ = sf.read(tmp_path / "sep" / "clip0.accompaniment.wav")
    assert sr == SR and len(vocals) == len(backing) == int(4.5 * SR)


def test_cache_and_out_dir_that_are_files(tmp_path, clips, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    code, _, err = run(capsys, "audio", "features", clips[0], "--out", str(tmp_path / "x.parquet"), "-q",
                       "--no-melody", "--cache", str(blocker))
    assert code == 2 and "internal error" not in err and "blocker" in err and "cache folder" in err
    code, _, err = run(capsys, "audio", "separate", clips[0], "--out-dir", str(blocker))
    assert code == 2 and "internal error" not in err and "blocker" in err and "--out-dir" in err


@pytest.mark.slow
def test_train_and_predict_reuse_the_features_cache(tmp_path, capsys):
    """`audio features` fills the cache; `audio train` on a 4QAED folder and `audio predict` compute nothing."""
    import numpy as np

    root = tmp_path / "4qaed"
    songs, quads = [], []
    for i, (q, mode, bpm) in enumerate([("Q1", "major", 150), ("Q2", "minor", 160), ("Q3", "minor", 70),
                                        ("Q4", "major", 80)] * 2):
        (root / q).mkdir(parents=True, exist_ok=True)
        y = progression(mode, bars=2) + click_track(bpm + 5 * i, 3.0) * (1.0 if q in ("Q1", "Q2") else 0.2)
        sf.write(root / q / f"MT{i}.mp3", y, SR, format="MP3")
        songs.append(f"MT{i}")
        quads.append(q)
    pd.DataFrame({"Song": songs, "Quadrant": quads}).to_csv(root / "panda_dataset_taffc_annotations.csv", index=False)
    pd.DataFrame({"Song": songs, "Artist": [f"A{i % 5}" for i in range(8)], "Title": songs,
                  "Quadrant": quads}).to_csv(root / "panda_dataset_taffc_metadata.csv", index=False)
    clips = [str(root / q / f"{s}.mp3") for s, q in zip(songs, quads)]
    cache = tmp_path / "cache"
    assert run(capsys, "audio", "features", *clips, "--out", str(tmp_path / "f.parquet"), "--cache", str(cache),
               "-q")[0] == 0
    entries = {p: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    assert len(entries) == 8
    code, text, err = run(capsys, "-v", "audio", "train", str(root), "--out", str(tmp_path / "m.skops"),
                          "--folds", "2", "--cache", str(cache))
    assert code == 0 and "f1_macro" in text
    assert err.count("from cache") == 8
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.npz")} == entries  # nothing recomputed
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(3 * SR), SR)
    code, text, err = run(capsys, "-v", "audio", "predict", str(tmp_path / "m.skops"), clips[0], str(silent),
                          "--cache", str(cache), "--out", str(tmp_path / "p.csv"))
    assert code == 0 and err.count("from cache") == 1
    assert f"{silent}: silent" in err
    pred = pd.read_csv(tmp_path / "p.csv")
    assert pred["pred_quadrant"].iloc[0] in {"Q1", "Q2", "Q3", "Q4"} and pd.isna(pred["pred_quadrant"].iloc[1])


def test_corrupt_mp3_on_the_command_line(tmp_path, capfd):
    import numpy as np

    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3" + bytes(7) + np.random.default_rng(1).integers(0, 256, 6000, dtype=np.uint8).tobytes())
    code = main(["audio", "features", str(bad), "--out", str(tmp_path / "x.parquet"), "-q"])
    err = capfd.readouterr().err  # at the file-descriptor level: the MP3 decoder writes there directly
    assert code == 2 and "broken.mp3: not a readable audio file (corrupt" in err
    assert len(err.strip().splitlines()) == 1, err


def test_mpeg_frame_check_on_real_mp3(tmp_path):
    import numpy as np

    from neuromer.audio.features import _has_mpeg_frames

    good = tmp_path / "good.mp3"
    sf.write(good, progression("major", bars=1), SR, format="MP3")
    assert _has_mpeg_frames(good)
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    assert not _has_mpeg_frames(noise)


@pytest.mark.slow
def test_dynamic_model_on_a_deam_layout(tmp_path, capsys):
    """`audio train --dynamic` on DEAM's layout, then `audio predict` gives one row per window."""
    import numpy as np

    audio = tmp_path / "deam" / "DEAM_audio" / "MEMD_audio"
    audio.mkdir(parents=True)
    dyn = tmp_path / "deam" / "annotations" / "dynamic (per second annotations)"
    dyn.mkdir(parents=True)
    static = tmp_path / "deam" / "annotations" / "song_level"
    static.mkdir(parents=True)
    times = np.arange(1.0, 6.01, 0.5)
    cols = [f"sample_{int(t * 1000)}ms" for t in times]
    val, aro = [], []
    for sid in (1, 2, 3):
        level = 0.2 + 0.6 * (np.sin(2 * np.pi * times / (3 + sid)) + 1) / 2
        t = np.arange(int(6 * SR)) / SR
        env = np.interp(t, times, level)
        sf.write(audio / f"{sid}.mp3", progression("major", bars=4)[: len(t)] * env, SR, format="MP3")
        aro.append([sid] + list(2 * level - 1))
        val.append([sid] + list(np.full(len(times), 0.1 * sid)))
    pd.DataFrame(val, columns=["song_id"] + cols).to_csv(dyn / "valence.csv", index=False)
    pd.DataFrame(aro, columns=["song_id"] + cols).to_csv(dyn / "arousal.csv", index=False)
    (static / "static_annotations_averaged_songs_1_2000.csv").write_text(
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std\n1,5,1,5,1\n2,5,1,5,1\n3,5,1,5,1\n")
    model = tmp_path / "dyn.skops"
    code, _, err = run(capsys, "audio", "train", str(tmp_path / "deam"), "--out", str(model), "--window-s", "1")
    assert code == 2 and "add --dynamic" in err
    code, text, _ = run(capsys, "audio", "train", str(tmp_path / "deam"), "--dynamic", "--out", str(model),
                        "--folds", "3", "--cache", str(tmp_path / "cache"), "--report", str(tmp_path / "songs.csv"))
    assert code == 0 and "r_mean" in text and model.is_file()
    songs = pd.read_csv(tmp_path / "songs.csv")
    assert sorted(songs["song_id"].unique()) == [1, 2, 3] and set(songs["target"]) == {"valence", "arousal"}
    code, text, _ = run(capsys, "audio", "predict", str(model), str(audio / "1.mp3"), "--out", str(tmp_path / "p.csv"))
    pred = pd.read_csv(tmp_path / "p.csv")
    assert code == 0 and len(pred) == 11 and pred["pred_arousal"].between(1, 9).all()
    assert pred["t_start"].tolist()[:3] == [0.0, 0.5, 1.0]
