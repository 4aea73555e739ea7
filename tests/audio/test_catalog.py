"""Audio catalogs on Dask: `neuromer audio features|train|predict --workers N` on a real LocalCluster."""

import multiprocessing as mp

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from neuromer.cli import main

from ._signals import SR, click_track, progression


@pytest.fixture()
def clips(tmp_path):
    paths = []
    for i, mode in enumerate(("major", "minor", "major")):
        p = tmp_path / f"clip{i}.wav"
        sf.write(p, progression(mode, bars=2) + click_track(90 + 25 * i, 3.0), SR)
        paths.append(str(p))
    return paths


def _corrupt(tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3" + bytes(7) + np.random.default_rng(1).integers(0, 256, 6000, dtype=np.uint8).tobytes())
    return str(bad)


@pytest.mark.slow
def test_features_on_a_local_cluster_match_the_in_process_run_bit_for_bit(tmp_path, clips, capfd):
    bad = _corrupt(tmp_path)
    files = [clips[0], bad, clips[1], clips[2]]
    common = ["--window-s", "1", "--hop-s", "0.5", "--no-melody", "-q"]
    assert main(["audio", "features", *files, "--out", str(tmp_path / "one.parquet"), *common]) == 1
    err = capfd.readouterr().err
    assert f"failed: {bad}: not a readable audio file" in err and "1 of 4 clips failed" in err
    cache = tmp_path / "cache"
    assert main(["audio", "features", *files, "--out", str(tmp_path / "two.parquet"), *common,
                 "--workers", "2", "--cache", str(cache)]) == 1
    err = capfd.readouterr().err
    assert f"failed: {bad}: not a readable audio file" in err and "1 of 4 clips failed" in err
    one, two = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "two.parquet")
    assert one["file"].unique().tolist() == [clips[0], clips[1], clips[2]]  # input order, bad clip left out
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert len(list(cache.glob("*.parquet"))) == 3 and not list(cache.glob(".tmp-*"))


def _features_in_process(path, cache, barrier, queue):
    from neuromer.audio import audio_features

    barrier.wait()  # both processes compute and write the same entry at the same time
    table = audio_features(path, window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache)
    queue.put(table.to_json())


@pytest.mark.slow
def test_two_processes_on_one_clip_leave_one_whole_cache_entry(tmp_path, clips):
    from neuromer.audio import audio_features

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    cache = tmp_path / "cache"
    procs = [ctx.Process(target=_features_in_process, args=(clips[0], str(cache), barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results[0] == results[1]
    entries = list(cache.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".parquet"  # no temporary file left behind
    fresh = audio_features(clips[0], window_s=1.0, hop_s=0.5, melody=False)
    again = audio_features(clips[0], window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache)  # from the entry
    pd.testing.assert_frame_equal(fresh, again, check_exact=True)


@pytest.mark.slow
def test_train_and_predict_on_a_local_cluster(tmp_path, clips, capsys):
    ann = tmp_path / "ann.csv"
    pd.DataFrame({"audio": clips * 2, "valence": [7, 3, 6, 2, 5, 4], "arousal": [4, 6, 5, 7, 3, 5]}).to_csv(
        ann, index=False)
    for tag, extra in (("one", []), ("two", ["--workers", "2"])):
        assert main(["audio", "train", str(ann), "--out", str(tmp_path / f"{tag}.skops"), "--folds", "2",
                     "--report", str(tmp_path / f"{tag}-scores.csv"), *extra]) == 0
        assert main(["audio", "predict", str(tmp_path / "one.skops"), *clips, "--out",
                     str(tmp_path / f"{tag}-pred.csv"), *extra]) == 0
    capsys.readouterr()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one-scores.csv"), pd.read_csv(tmp_path / "two-scores.csv"),
                                  check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one-pred.csv"), pd.read_csv(tmp_path / "two-pred.csv"),
                                  check_exact=True)
