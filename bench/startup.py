"""Benchmark: start-up time of the ``neuromer`` command, each run a fresh process.

Prints the median wall time (of ``--runs`` runs, after one warm-up run) of

- a bare ``python -c pass`` (the interpreter's own start-up, the floor),
- ``import neuromer``,
- ``neuromer --help`` (target <= 0.3 s),
- a sub-command's ``--help``: ``features eeg``, ``audio features``, ``run``, ``online``
  (target <= 0.5 s),

and each one's ratio to the bare interpreter. It also prints the median CPU time (user + system)
of the child process, which depends much less than wall time on other processes sharing the
machine. The commands run as ``python -m neuromer`` with the
interpreter running this script. Bytecode caching is switched on for the child processes (an
installed package has its ``.pyc`` files; ``PYTHONDONTWRITEBYTECODE`` would otherwise make every
run recompile neuromer's sources), and the warm-up run writes the cache.

Run: ``python bench/startup.py [--runs 15]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = [
    ("python -c pass", ["-c", "pass"], None),
    ("import neuromer", ["-c", "import neuromer"], None),
    ("neuromer --help", ["-m", "neuromer", "--help"], 0.3),
    ("neuromer features eeg --help", ["-m", "neuromer", "features", "eeg", "--help"], 0.5),
    ("neuromer audio features --help", ["-m", "neuromer", "audio", "features", "--help"], 0.5),
    ("neuromer run --help", ["-m", "neuromer", "run", "--help"], 0.5),
    ("neuromer online --help", ["-m", "neuromer", "online", "--help"], 0.5),
]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``python argv``."""
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    subprocess.run([sys.executable, *argv], check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0, _children_cpu_s() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per case (default 15)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    repo = str(Path(__file__).resolve().parents[1])  # this checkout's neuromer, not another install
    env["PYTHONPATH"] = os.pathsep.join([repo] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; Python {platform.python_version()}; "
          f"median of {args.runs} runs (after one warm-up)")
    wall, cpu = {}, {}
    for label, argv, _ in CASES:
        timed(argv, env)  # warm-up: bytecode cache, file-system cache
        runs = [timed(argv, env) for _ in range(args.runs)]
        wall[label] = statistics.median(r[0] for r in runs)
        cpu[label] = statistics.median(r[1] for r in runs)
    print(f"{'':<34} {'wall':>8} {'ratio':>6} {'CPU':>8} {'ratio':>6}")
    for label, _, target in CASES:
        verdict = "" if target is None else f"  target <= {target:.1f} s: {'ok' if wall[label] <= target else 'MISSED'}"
        print(f"{label:<34} {wall[label]:7.3f}s {wall[label] / wall['python -c pass']:5.1f}x "
              f"{cpu[label]:7.3f}s {cpu[label] / cpu['python -c pass']:5.1f}x{verdict}")


if __name__ == "__main__":
    main()
