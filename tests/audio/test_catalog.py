"""Audio catalogs on Dask: `neuromer audio features|train|predict` on a real LocalCluster.

One 2-worker cluster serves the whole module (started once, as `--workers 2` would start it:
:data:`neuromer._cluster.LOCAL_CLUSTER_CONFIG`); the commands reach it with `--scheduler`. The
`--workers N` path that starts its own cluster is tested in tests/test_scale.py.
"""

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from neuromer._cluster import _ranks
from neuromer.cli import main

from ._signals import SR, click_track, progression

CLIP_S = 2.0


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import Client

    from neuromer._cluster import local_cluster

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as an earlier Dask cluster in this process leaves it
        local = local_cluster(2, host="127.0.0.1")
        env_after = {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")}
    with local, Client(local) as client:
        yield local.scheduler_address, client, env_after


def _worker_settings():
    import os

    import dask

    return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_MMAP_THRESHOLD_"),
            dask.config.get("distributed.worker.profile.enabled"),
            dask.config.get("distributed.admin.tick.interval"), dask.config.get("distributed.admin.system-monitor.disk"))


def test_workers_keep_freed_memory_and_run_no_profiler(cluster):
    # Dask's 64 kB trim threshold doubled the CPU per clip in a worker, glibc's defaults cost a
    # worker's task thread ~4000 page faults per clip (see neuromer._cluster.LOCAL_CLUSTER_CONFIG)
    assert set(cluster[1].run(_worker_settings).values()) == {(str(128 << 20), str(32 << 20), False, "1s", False)}
    # the calling process gets its own environment back (here: an earlier cluster's trim threshold)
    assert cluster[2] == {"MALLOC_TRIM_THRESHOLD_": "65536", "MALLOC_MMAP_THRESHOLD_": None}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    paths = []
    for i, mode in enumerate(("major", "minor", "major")):
        p = folder / f"clip{i}.wav"
        y = progression(mode, bars=2, bar_s=CLIP_S / 2) + click_track(90 + 25 * i, CLIP_S)
        sf.write(p, y[: int(CLIP_S * SR)], SR)
        paths.append(str(p))
    return paths


def _corrupt(tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3" + bytes(7) + np.random.default_rng(1).integers(0, 256, 6000, dtype=np.uint8).tobytes())
    return str(bad)


@pytest.mark.slow
def test_features_on_a_local_cluster_match_the_in_process_run_bit_for_bit(tmp_path, clips, cluster, capfd):
    bad = _corrupt(tmp_path)
    files = [clips[0], bad, clips[1], clips[2]]
    common = ["--window-s", "1", "--hop-s", "0.5", "--no-melody", "-q"]
    assert main(["audio", "features", *files, "--out", str(tmp_path / "one.parquet"), *common]) == 1
    err = capfd.readouterr().err
    assert f"failed: {bad}: not a readable audio file" in err and "1 of 4 clips failed" in err
    cache = tmp_path / "cache"
    assert main(["audio", "features", *files, "--out", str(tmp_path / "two.parquet"), *common,
                 "--scheduler", cluster[0], "--cache", str(cache)]) == 1
    err = capfd.readouterr().err
    assert f"failed: {bad}: not a readable audio file" in err and "1 of 4 clips failed" in err
    one, two = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "two.parquet")
    assert one["file"].unique().tolist() == [clips[0], clips[1], clips[2]]  # input order, bad clip left out
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert len(list(cache.glob("*.npz"))) == 3 and not list(cache.glob(".tmp-*"))


def _features_at_the_same_time(path, cache, me, other):
    """On a worker: wait until the other task has started too, then compute (and cache) the clip."""
    from distributed import Event

    from neuromer.audio import audio_features

    Event(me).set()
    assert Event(other).wait(timeout=60)  # both processes compute and write the same entry together
    return audio_features(path, window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache).to_json()


@pytest.mark.slow
def test_two_processes_on_one_clip_leave_one_whole_cache_entry(tmp_path, clips, cluster):
    from neuromer.audio import audio_features

    client = cluster[1]
    workers = sorted(client.scheduler_info()["workers"])
    assert len(workers) == 2
    cache = tmp_path / "cache"
    events = [f"arrived-{tmp_path.name}-{i}" for i in range(2)]
    futures = [client.submit(_features_at_the_same_time, clips[0], str(cache), events[i], events[1 - i],
                             workers=[w], pure=False) for i, w in enumerate(workers)]  # one per process
    results = client.gather(futures)
    assert results[0] == results[1]
    entries = list(cache.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".npz"  # no temporary file left behind
    fresh = audio_features(clips[0], window_s=1.0, hop_s=0.5, melody=False)
    again = audio_features(clips[0], window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache)  # from the entry
    pd.testing.assert_frame_equal(fresh, again, check_exact=True)


@pytest.mark.slow
def test_train_and_predict_on_a_local_cluster(tmp_path, clips, cluster, capsys):
    ann = tmp_path / "ann.csv"
    pd.DataFrame({"audio": clips * 2, "valence": [7, 3, 6, 2, 5, 4], "arousal": [4, 6, 5, 7, 3, 5]}).to_csv(
        ann, index=False)
    for tag, extra in (("one", []), ("two", ["--scheduler", cluster[0]])):
        assert main(["audio", "train", str(ann), "--out", str(tmp_path / f"{tag}.skops"), "--folds", "2",
                     "--report", str(tmp_path / f"{tag}-scores.csv"), *extra]) == 0
        assert main(["audio", "predict", str(tmp_path / "one.skops"), *clips, "--out",
                     str(tmp_path / f"{tag}-pred.csv"), *extra]) == 0
    capsys.readouterr()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one-scores.csv"), pd.read_csv(tmp_path / "two-scores.csv"),
                                  check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one-pred.csv"), pd.read_csv(tmp_path / "two-pred.csv"),
                                  check_exact=True)


def test_costliest_tasks_rank_first():
    # Dask runs higher priorities first: the biggest file gets the highest rank, ties keep input order
    assert _ranks([10, 300, 20, 300, 0]) == [1, 4, 2, 3, 0]
    assert _ranks([]) == []


def test_a_clip_task_returns_the_table_packed_and_bit_for_bit(clips):
    # what a worker holds and sends: a JSON header and numeric blocks, which Dask sizes in
    # microseconds (a 500-column DataFrame: ~23 ms per sizeof, twice per clip on the worker's loop)
    from dask.sizeof import sizeof

    from neuromer.audio._cache import unpack
    from neuromer.audio.catalog import clip_table

    table = clip_table(clips[1], 1.0, 0.5, False, False, True, None)
    header, blocks = clip_table(clips[1], 1.0, 0.5, False, False, True, None, True)
    assert isinstance(header, str) and all(isinstance(b, np.ndarray) for b in blocks)
    assert [b.dtype for b in blocks] == [np.dtype("int64"), np.dtype("float64")]
    assert sizeof((header, blocks)) >= sum(b.nbytes for b in blocks)  # still counted for the memory limit
    pd.testing.assert_frame_equal(unpack(header, blocks), table, check_exact=True)


def _half_or_fail(x):
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x / 2


def test_run_tasks_yields_each_result_or_its_error(cluster):
    from neuromer._cluster import run_tasks

    got = {i: (r, e) for i, r, e in run_tasks(_half_or_fail, [(4,), (-1,), (3,)], scheduler=cluster[0], retries=0)}
    assert got[0] == (2.0, None) and got[2] == (1.5, None)
    assert got[1][0] is None and isinstance(got[1][1], ValueError) and str(got[1][1]) == "negative: -1"
