"""CPU time per test file of a pytest run (a pytest plugin), for timing the suite on a shared machine.

Wall-clock times say little while other jobs share the cores; CPU time does. For every test
(setup + call + teardown) this records the CPU seconds of the pytest process (all its threads),
the CPU seconds of the child processes it waited for in that time (subprocess runs of the CLI),
and the wall seconds; at the end it prints the costliest files and the totals, with the load
average, and writes one line per test to ``$PYTEST_CPU_OUT.<worker>.tsv`` if that is set.

    PYTHONPATH=bench .venv/bin/python -m pytest -q -p pytest_cpu                # one process
    PYTHONPATH=bench .venv/bin/python -m pytest -q -p pytest_cpu -n 2 --dist loadfile --no-loadscope-reorder

Under xdist each worker prints nothing (workers' output is not shown); set PYTEST_CPU_OUT and
read the per-worker files. Child processes that outlive their test (a Dask cluster's workers)
are not counted.
"""

from __future__ import annotations

import collections
import os
import resource
import time

_rows: list[tuple[str, float, float, float]] = []
_start: dict[str, tuple[float, float, float]] = {}
_session_wall: list[float] = []


def _cpu_s() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def pytest_sessionstart(session):
    _session_wall.append(time.perf_counter())


def pytest_runtest_logstart(nodeid, location):
    _start[nodeid] = (*_cpu_s(), time.perf_counter())


def pytest_runtest_logfinish(nodeid, location):
    own0, children0, wall0 = _start.pop(nodeid)
    own1, children1 = _cpu_s()
    _rows.append((nodeid, own1 - own0, children1 - children0, time.perf_counter() - wall0))


def pytest_sessionfinish(session):
    out = os.environ.get("PYTEST_CPU_OUT")
    if not out:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    own, children = _cpu_s()
    with open(f"{out}.{worker}.tsv", "w", encoding="utf-8") as fh:
        fh.write(f"# process cpu_s {own:.2f} children cpu_s {children:.2f} loadavg {os.getloadavg()}\n")
        fh.write("test\tcpu_s\tchildren_cpu_s\twall_s\n")
        for nodeid, cpu_s, child_s, wall_s in _rows:
            fh.write(f"{nodeid}\t{cpu_s:.3f}\t{child_s:.3f}\t{wall_s:.3f}\n")


def pytest_terminal_summary(terminalreporter):
    if not _rows:
        return
    per_file: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for nodeid, cpu_s, child_s, wall_s in _rows:
        acc = per_file[nodeid.split("::")[0]]
        acc[0] += cpu_s
        acc[1] += child_s
        acc[2] += wall_s
        acc[3] += 1
    write = terminalreporter.write_line
    write("")
    write("CPU time per test file (costliest 25): cpu_s (pytest process) + children_s, wall_s, tests")
    for name, (cpu_s, child_s, wall_s, n) in sorted(per_file.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:25]:
        write(f"  {cpu_s:8.1f} + {child_s:7.1f}  {wall_s:8.1f}  {n:4d}  {name}")
    own, children = _cpu_s()
    wall = time.perf_counter() - _session_wall[0] if _session_wall else float("nan")
    write(f"session: wall {wall:.1f} s, cpu {own:.1f} s + children {children:.1f} s, "
          f"loadavg {tuple(round(x, 2) for x in os.getloadavg())}")
