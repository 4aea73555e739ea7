"""Benchmark: ``neuromer features eeg`` on one DEAP-sized subject, end to end versus the floor.

Writes a DEAP-sized trials file (40 trials x 40 channels x 8064 samples, float64, as DEAP's
preprocessed ``sXX.dat``) with neuromer to a temporary folder, then prints the median of
``--runs`` runs of

- **end to end**: ``python -m neuromer features eeg s01.dat --out x.parquet`` as a whole process
  (wall and CPU time of the child);
- **floor**: reading the file (:func:`neuromer.io.read_trials`) plus computing the windowed
  features (:func:`neuromer.eeg.eeg_window_columns`, the numpy columns of
  :func:`~neuromer.eeg.eeg_window_features`; 1 s windows, 0.5 s hop: 4760 windows) with
  everything imported: "warm" repeats them in this process (memory already mapped), "cold" is
  their first call in a fresh process with the default allocator settings, as a library user
  gets it (the first touch of new memory costs page faults);
- the ratios end to end / floor (the issue's definition; target <= 1.3x);
- the least any Python program doing this pays: a fresh interpreter, importing numpy and
  pyarrow.parquet, the cold floor and a bare pyarrow write of the same table (the same Arrow
  arrays and Parquet options, one ``pyarrow.parquet.write_table`` call: no temporary file, no
  fsync, no pandas metadata), and the ratio of the end to end to it;
- where the command's time goes, measured inside one fresh process that runs its steps
  (CPU seconds, summing to that process's total): interpreter start, building the parser,
  importing numpy, pyarrow (with its Parquet writer) and neuromer's modules, the load, the features, the Parquet
  write (:func:`neuromer.io._parquet.write_parquet_columns`: temporary file, fsync, rename) and
  the exit (module teardown, freeing memory).

Wall and CPU times are printed, with the load average: on a loaded machine compare CPU times.
Run: ``python bench/e2e_deap.py [--runs 5] [--keep DIR]``. Threads are limited to one (one core).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, also for children
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# One fresh process that times its own stages, as the command runs them. The first stamp is the
# CPU the interpreter used to start (process_time counts from the process start); the last one
# lets the parent take the exit (module teardown, freeing memory) from the child's total CPU.
STAGES = """
import time, json, sys
def now():
    return time.perf_counter(), time.process_time()
t = [now()]
start_cpu = t[0][1]
from neuromer.cli import build_parser
build_parser()
t.append(now())
import numpy
t.append(now())
import pyarrow
if sys.argv[3] == "neuromer":
    import pyarrow._parquet  # what the command imports to write (not pyarrow.parquet: see io._parquet)
else:
    import pyarrow.parquet
t.append(now())
from neuromer.io import read_trials
import neuromer.io.deap, neuromer.eeg.features
from neuromer.eeg import eeg_window_columns
from neuromer.windows import WindowGrid
from neuromer.io._parquet import _column_array, write_parquet_columns
if sys.argv[3] == "neuromer":  # as the command does (glibc: keep freed heap pages for reuse)
    from neuromer.features_cli import _keep_freed_memory
    _keep_freed_memory()
t.append(now())
trials = read_trials(sys.argv[1])
t.append(now())
columns = eeg_window_columns(trials, grid=WindowGrid(1.0, 0.5))
t.append(now())
if sys.argv[3] == "neuromer":  # as the command writes: atomic, synced, with pandas' metadata
    write_parquet_columns(columns, sys.argv[2], overwrite=True)
else:  # the least a program pays to write this table: the same Arrow arrays (no copy) and options, one call
    from neuromer.io._atomic import parquet_options
    table = pyarrow.Table.from_arrays([_column_array(k, v) for k, v in columns.items()], names=list(columns))
    pyarrow.parquet.write_table(table, sys.argv[2], **parquet_options({k: v.dtype.kind for k, v in columns.items()}))
t.append(now())
names = ["cli", "numpy", "pyarrow", "neuromer", "load", "features", "write"]
out = {n: [t[i + 1][k] - t[i][k] for k in (0, 1)] for i, n in enumerate(names)}
out["start"] = [float("nan"), start_cpu]
out["end_cpu"] = time.process_time()
print(json.dumps(out), flush=True)
if sys.argv[3] == "neuromer":
    from neuromer.cli import _spare_exit_collection  # what the command does before its exit
    _spare_exit_collection()
"""


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child(argv: list[str], env: dict, cwd: Path) -> tuple[float, float, str]:
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    out = subprocess.run([sys.executable, *argv], check=True, capture_output=True, text=True, env=env, cwd=cwd)
    return time.perf_counter() - t0, _children_cpu_s() - cpu0, out.stdout


def write_subject(path: Path) -> None:
    from neuromer.io import write_trials
    from neuromer.io.deap import DEAP_CHANNEL_TYPES, DEAP_CHANNELS_GENEVA
    from neuromer.session import Trials

    rng = np.random.default_rng(0)
    data = rng.standard_normal((40, 40, 8064)) * 20.0  # microvolts, DEAP's dtype (float64)
    trials = Trials(data, 128.0, list(DEAP_CHANNELS_GENEVA), list(DEAP_CHANNEL_TYPES),
                    labels=rng.uniform(1, 9, (40, 4)), subject="01")
    write_trials(trials, path, overwrite=True)


def compare_pickles(dat: Path, runs: int) -> None:
    """Print the CPU time of loading ``dat`` and a protocol-2 copy, restricted vs plain unpickler."""
    import pickle

    from neuromer.io.deap import _load_dat

    p2 = dat.with_name("s01_protocol2.dat")
    with open(dat, "rb") as fh:
        obj = pickle.load(fh)
    with open(p2, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)
    del obj
    for path in (dat, p2):
        times = {"restricted": [], "plain": []}
        for _ in range(runs):
            c0 = time.process_time()
            _load_dat(path)
            c1 = time.process_time()
            with open(path, "rb") as fh:
                pickle.load(fh, encoding="latin1")
            times["restricted"].append(c1 - c0)
            times["plain"].append(time.process_time() - c1)
        print(f"load {path.name} ({path.stat().st_size / 1e6:.0f} MB): neuromer's restricted unpickler "
              f"{statistics.median(times['restricted']):.3f} s CPU, plain pickle.load "
              f"{statistics.median(times['plain']):.3f} s CPU")
    p2.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each measurement (default 5)")
    parser.add_argument("--keep", help="write the file into this folder and keep it (default: a temporary folder)")
    parser.add_argument("--pickles", action="store_true",
                        help="also time the load: neuromer's restricted unpickler against plain pickle.load, "
                             "on this file (protocol 5) and on the same data as a protocol-2 pickle written by "
                             "Python 3 (150 MB of latin-1 text; writes it beside the file)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: .pyc cached
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        dat = folder / "s01.dat"
        write_subject(dat)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
              f"Python {platform.python_version()}; one thread; median of {args.runs} runs")
        print(f"file: {dat.name}, {dat.stat().st_size / 1e6:.0f} MB (40 x 40 x 8064 float64, written by neuromer)")

        command = ["-m", "neuromer", "features", "eeg", str(dat), "--out", str(folder / "x.parquet"), "--overwrite"]
        _child(command, env, folder)  # warm-up: bytecode and file-system caches
        e2e = [_child(command, env, folder)[:2] for _ in range(args.runs)]
        e2e_wall, e2e_cpu = statistics.median(r[0] for r in e2e), statistics.median(r[1] for r in e2e)

        from neuromer.eeg import eeg_window_columns
        from neuromer.io import read_trials
        from neuromer.windows import WindowGrid

        runs = []  # (load wall, load CPU, features wall, features CPU)
        for _ in range(args.runs):
            w0, c0 = time.perf_counter(), time.process_time()
            trials = read_trials(dat)
            w1, c1 = time.perf_counter(), time.process_time()
            eeg_window_columns(trials, grid=WindowGrid(1.0, 0.5))
            runs.append((w1 - w0, c1 - c0, time.perf_counter() - w1, time.process_time() - c1))
        load, load_cpu, feat, feat_cpu = (statistics.median(r[i] for r in runs) for i in range(4))
        floor, floor_cpu = load + feat, load_cpu + feat_cpu

        if args.pickles:
            compare_pickles(dat, args.runs)

        stage, bare_stage = ({}, {})
        for mode, into in (("neuromer", stage), ("bare", bare_stage)):
            stages = []
            for _ in range(args.runs):
                wall, cpu, out = _child(["-c", STAGES, str(dat), str(folder / f"{mode}.parquet"), mode], env, folder)
                one = json.loads(out)
                one["exit"] = [float("nan"), cpu - one.pop("end_cpu")]  # teardown after the last stamp
                one["total"] = [wall, cpu]
                stages.append(one)
            into.update({k: [statistics.median(s[k][i] for s in stages) for i in (0, 1)] for k in stages[0]})
        bare = [_child(["-c", "pass"], env, folder)[:2] for _ in range(args.runs)]
        bare = [statistics.median(b[i] for b in bare) for i in (0, 1)]

    # the cold floor as a library user gets it: a fresh process, the default allocator settings
    cold = [bare_stage["load"][i] + bare_stage["features"][i] for i in (0, 1)]
    print(f"{'':<36} {'wall':>7} {'CPU':>7}")
    print(f"{'end to end (whole process)':<36} {e2e_wall:6.2f}s {e2e_cpu:6.2f}s")
    print(f"{'floor, warm (load + features)':<36} {floor:6.2f}s {floor_cpu:6.2f}s  "
          f"(load {load:.2f} s / {load_cpu:.2f} s CPU, features {feat:.2f} s / {feat_cpu:.2f} s CPU)")
    print(f"{'floor, cold (load + features)':<36} {cold[0]:6.2f}s {cold[1]:6.2f}s  (load "
          f"{bare_stage['load'][1]:.3f} s CPU, features {bare_stage['features'][1]:.3f} s CPU; in the command, "
          f"which keeps freed heap pages (glibc mallopt): load {stage['load'][1]:.3f}, "
          f"features {stage['features'][1]:.3f} s CPU)")
    for label, ratio in (("warm floor, wall", e2e_wall / floor), ("warm floor, CPU", e2e_cpu / floor_cpu),
                         ("cold floor, wall", e2e_wall / cold[0]), ("cold floor, CPU", e2e_cpu / cold[1])):
        print(f"end to end / {label:<22} {ratio:6.2f}x  (target <= 1.3x: {'ok' if ratio <= 1.3 else 'MISSED'})")
    # the least any Python program doing this pays: its interpreter, numpy and pyarrow, the load
    # and the features, and a bare pyarrow write of the same table (no temporary file, no fsync)
    python_floor = [bare[i] + bare_stage["numpy"][i] + bare_stage["pyarrow"][i] + bare_stage["load"][i]
                    + bare_stage["features"][i] + bare_stage["write"][i] for i in (0, 1)]
    print(f"{'least any Python program pays':<36} {python_floor[0]:6.2f}s {python_floor[1]:6.2f}s  "
          f"(interpreter {bare[1]:.3f} + numpy {bare_stage['numpy'][1]:.3f} + pyarrow {bare_stage['pyarrow'][1]:.3f}"
          f" + load {bare_stage['load'][1]:.3f} + features {bare_stage['features'][1]:.3f} + bare write "
          f"{bare_stage['write'][1]:.3f} s CPU)")
    print(f"end to end / least any Python program pays: wall {e2e_wall / python_floor[0]:6.2f}x, "
          f"CPU {e2e_cpu / python_floor[1]:6.2f}x")
    print("inside one fresh process (wall / CPU s): interpreter {:.2f}/{:.2f}, ".format(*bare)
          + ", ".join(f"{k} {v[0]:.2f}/{v[1]:.2f}" for k, v in stage.items() if k not in ("start", "exit", "total")))
    print(f"CPU breakdown of that process (s, medians; about its total {stage['total'][1]:.2f} s):")
    order = ["start", "cli", "numpy", "pyarrow", "neuromer", "load", "features", "write", "exit"]
    total = sum(stage[k][1] for k in order)
    for k in order:
        print(f"  {k:<10} {stage[k][1]:6.3f}  {100 * stage[k][1] / total:5.1f} %"
              + ("  (floor)" if k in ("load", "features") else ""))
    print(f"bare pyarrow write of the same table (no temporary file, no fsync, no pandas metadata): "
          f"{bare_stage['write'][0]:.3f} s wall / {bare_stage['write'][1]:.3f} s CPU; exit of that process "
          f"{bare_stage['exit'][1]:.3f} s CPU")
    print(f"load average at the end {os.getloadavg()[0]:.2f} "
          "(with other processes on the machine, wall times stretch; CPU times much less)")


if __name__ == "__main__":
    main()
