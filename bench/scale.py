"""Scale-out benchmark: `neuromer run` on 1 vs 2 Dask workers, and memory per worker vs study size.

Prints wall time with 1 and 2 single-threaded workers on the same simulated study (target
parallel efficiency >= 80% on 2 cores), per-subject cost, and peak resident memory per worker
for 8 vs 16 subjects (target: equal within 10%). Run from the repository root:

    .venv/bin/python bench/scale.py [--subjects 16] [--trials 8] [--stimulus-s 15]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from dask.distributed import Client, LocalCluster

from neuromer.pipeline import read_config, run
from neuromer.simulate import simulate_study

CONFIG = """
[study]
inputs = ["study/xdf/sub-{pattern}.xdf"]
protocol = "study/protocol.toml"
out = "{out}"
[models]
targets = ["arousal"]
feature_sets = [["eeg"]]
n_permutations = 0
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_run(root: Path, out: str, n_workers: int, pattern: str = "*") -> tuple[float, dict, dict]:
    path = root / f"{out}.toml"
    path.write_text(CONFIG.format(out=out, pattern=pattern))
    cfg = read_config(path)
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        t0 = time.perf_counter()
        record = run(cfg, scheduler=cluster.scheduler_address, report=False)
        wall = time.perf_counter() - t0
        memory = client.run(peak_rss_mb)
    assert not record["failed"], record["failed"]
    return wall, record, memory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=16)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--stimulus-s", type=float, default=15.0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="neuromer-scale-"))
    try:
        t0 = time.perf_counter()
        simulate_study(root / "study", n_subjects=args.subjects, n_trials=args.trials,
                       stimulus_s=args.stimulus_s, seed=0)
        print(f"simulated {args.subjects} subjects x {args.trials} trials in {time.perf_counter() - t0:.1f} s")
        w1, rec1, _ = timed_run(root, "run1", 1)
        w2, rec2, _ = timed_run(root, "run2", 2)
        per_subject = [s["seconds"] for s in rec1["subjects"].values()]
        eff = w1 / (2 * w2)
        print(f"wall time, 1 worker : {w1:7.2f} s")
        print(f"wall time, 2 workers: {w2:7.2f} s   speed-up {w1 / w2:.2f}x, parallel efficiency {eff:.0%} "
              f"(target >= 80%)")
        print(f"per-subject cost    : mean {sum(per_subject) / len(per_subject):.2f} s, "
              f"max {max(per_subject):.2f} s")
        half = args.subjects // 2
        # the first half of the subjects, linked into a study folder of its own
        sub = root / "half"
        (sub / "study" / "xdf").mkdir(parents=True)
        shutil.copy(root / "study" / "protocol.toml", sub / "study" / "protocol.toml")
        (sub / "study" / "stimuli").symlink_to(root / "study" / "stimuli")
        for i in range(1, half + 1):
            (sub / "study" / "xdf" / f"sub-{i:02d}.xdf").symlink_to(root / "study" / "xdf" / f"sub-{i:02d}.xdf")
        _, _, mem_half = timed_run(sub, "run_half", 2)
        _, _, mem_full = timed_run(root, "run_full", 2)
        m_half, m_full = max(mem_half.values()), max(mem_full.values())
        print(f"peak RSS per worker : {half} subjects {m_half:.0f} MB, {args.subjects} subjects {m_full:.0f} MB "
              f"(ratio {m_full / m_half:.2f}; target within 10%)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
