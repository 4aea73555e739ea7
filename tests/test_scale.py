"""`neuromer run` on a real Dask LocalCluster (2 workers, loopback)."""

import os
import signal
import threading
import time

import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster

from neuromer.pipeline import read_config, run

pytestmark = pytest.mark.slow

CONFIG = """
[study]
inputs = ["study/xdf/*.xdf"]
protocol = "study/protocol.toml"
out = "{out}"
[features]
audio = false
[models]
targets = ["arousal"]
feature_sets = [["eeg"]]
n_permutations = 0
"""


@pytest.fixture(scope="module")
def scale_study(tmp_path_factory):
    from neuromer.simulate import simulate_study

    root = tmp_path_factory.mktemp("scale")
    simulate_study(root / "study", n_subjects=3, n_trials=4, stimulus_s=6.0, seed=5)
    return root


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      host="127.0.0.1") as c, Client(c) as client:
        yield c, client


def cfg(root, out):
    path = root / f"{out}.toml"
    path.write_text(CONFIG.format(out=out))
    return read_config(path)


def tables(run_dir):
    return {p.relative_to(run_dir).as_posix(): pd.read_parquet(p)
            for p in sorted(run_dir.rglob("*.parquet"))}


def test_cluster_gives_the_same_tables_as_in_process(scale_study, cluster):
    c, _ = cluster
    local = run(cfg(scale_study, "run_local"), report=False)
    dist = run(cfg(scale_study, "run_dask"), scheduler=c.scheduler_address, report=False)
    assert local["failed"] == dist["failed"] == []
    a, b = tables(scale_study / "run_local"), tables(scale_study / "run_dask")
    assert set(a) == set(b) and len(a) >= 10
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_local_cluster_from_workers_option(scale_study):
    messages = []
    rec = run(cfg(scale_study, "run_workers"), workers=2, report=False, announce=messages.append)
    assert rec["failed"] == [] and len(rec["subjects"]) == 3
    assert any(m.startswith("Dask dashboard: http") for m in messages)


def test_killed_worker_task_is_retried_and_run_completes(scale_study, cluster):
    c, client = cluster
    pids = client.run(os.getpid)
    killed = []

    def killer():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    rec = run(cfg(scale_study, "run_killed_worker"), scheduler=c.scheduler_address, report=False)
    t.join()
    assert killed, "no worker was busy long enough to be killed"
    assert rec["failed"] == [] and all(s["status"] == "done" for s in rec["subjects"].values())


def test_failing_subject_fails_alone_on_cluster_and_rerun_skips(scale_study, cluster):
    c, _ = cluster
    bad = scale_study / "study" / "xdf" / "sub-09.xdf"
    bad.write_bytes(b"not an xdf file")
    try:
        rec = run(cfg(scale_study, "run_bad"), scheduler=c.scheduler_address, report=False)
        assert rec["failed"] == ["09"] and "sub-09.xdf" in rec["subjects"]["09"]["error"]
        assert sum(s["status"] == "done" for s in rec["subjects"].values()) == 3
        again = run(cfg(scale_study, "run_bad"), scheduler=c.scheduler_address, report=False)
        done = [s for s in again["subjects"].values() if s["status"] == "done"]
        assert len(done) == 3 and all(s.get("skipped") for s in done)
    finally:
        bad.unlink()
