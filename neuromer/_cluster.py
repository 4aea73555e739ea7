"""One Dask setup for every parallel command (``neuromer run``, ``neuromer audio ...``).

Tasks run in-process (``workers <= 1`` and no scheduler), on a local cluster of single-threaded
worker processes, or on an existing scheduler. Results are yielded as tasks complete, each with
the index of its input, so callers can put them back in input order (results then do not depend
on the number of workers).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._logging import logger


#: Dask settings for the local clusters :func:`run_tasks` starts (they do not touch a remote
#: ``scheduler``'s workers). Measured on 30 s MP3 clips, 2 workers (bench/audio_catalog.py):
#: - Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also switches off glibc's
#:   adaptive mmap threshold: every numpy temporary over 128 kB is then mapped and unmapped afresh,
#:   and the page faults doubled a clip's CPU time in a worker (9x the system time). Left to
#:   glibc's defaults, a worker's task thread (a thread, so a non-main malloc arena) still
#:   re-faulted ~4000 pages per clip (the in-process run ~20) and took 0-20 % more CPU than the
#:   in-process run. Workers now keep freed memory for reuse: temporaries under 32 MiB come from
#:   the heap and up to 128 MiB of free heap is kept (the settings ``neuromer features`` applies
#:   with ``mallopt``): ~170-300 faults per clip, task CPU within the in-process run's noise.
#: - The statistical profiler (a stack sample every 10 ms), the event-loop health tick (every
#:   20 ms), the system monitor (500 ms) and the nanny's memory poll (100 ms) cost the workers'
#:   other threads and the calling process (scheduler and nannies live there) about 30 % of the
#:   clips' CPU time under load; with these settings about 8 %. The memory limit is then enforced
#:   within 1 s.
#: - The system monitor's disk counters (psutil reading /proc/diskstats) were in 17 of 90 stack
#:   samples of the calling process's busy event loop during a clip phase (12 clips, 2 workers,
#:   under load); the dashboard then shows no disk I/O plot.
LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": str(128 << 20),
    "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.disk": False,
    "distributed.worker.memory.monitor-interval": "1s",
}


def local_cluster(workers: int, *, memory_limit: str = "4GiB", **kwargs):
    """The local Dask cluster of :func:`run_tasks`: ``workers`` single-threaded worker processes.

    Started with :data:`LOCAL_CLUSTER_CONFIG`. A nanny sets its workers' environment variables in
    this process before spawning them (Dask's ``pre-spawn-environ``); the values this process had
    are put back once the workers run, so programs it starts later do not inherit them. As in
    Dask, a variable set in this process's environment wins over the config, except a
    ``MALLOC_TRIM_THRESHOLD_`` of Dask's own default value (what an earlier Dask cluster's nanny
    leaves behind).

    Parameters
    ----------
    workers : int
        Number of worker processes.
    memory_limit : str
        Memory limit per worker (Dask syntax, e.g. ``"4GiB"``).
    **kwargs
        More ``LocalCluster`` arguments (e.g. ``host``).

    Returns
    -------
    distributed.LocalCluster
    """
    import os

    import dask
    from dask.distributed import LocalCluster

    prefix = "distributed.nanny.pre-spawn-environ."
    names = [k[len(prefix):] for k in LOCAL_CLUSTER_CONFIG if k.startswith(prefix)]
    before = {n: os.environ.get(n) for n in names}
    for n, value in before.items():
        # Dask lets this process's environment override the config; a value equal to Dask's own
        # default was left here by an earlier cluster's nanny, not set by the user
        if value is not None and value == str(dask.config.get(prefix + n, default=None)):
            del os.environ[n]
    with dask.config.set(LOCAL_CLUSTER_CONFIG):  # the nannies hand this config to their workers
        try:
            return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                memory_limit=memory_limit, dashboard_address=":0", **kwargs)
        finally:
            for n, value in before.items():
                if value is None:
                    os.environ.pop(n, None)
                else:
                    os.environ[n] = value


def run_tasks(func: Callable[..., Any], args: Sequence[tuple], *, keys: Sequence[str] | None = None,
              workers: int = 1, scheduler: str | None = None, memory_limit: str = "4GiB",
              announce: Callable[[str], None] = logger.info, retries: int = 2,
              catch: tuple[type[BaseException], ...] = (),
              warm_up: Callable[[], Any] | None = None,
              costs: Sequence[float] | None = None) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Run ``func(*a)`` for every ``a`` in ``args``; yield ``(index, result, error)`` as tasks finish.

    Parameters
    ----------
    func : callable
        A module-level function (it is sent to worker processes).
    args : sequence of tuple
        Positional arguments of each task.
    keys : sequence of str | None
        Readable task names for the Dask dashboard (default ``task-<index>``).
    workers : int
        ``> 1`` starts a local Dask cluster with that many single-threaded worker processes, one
        task per worker at a time, so peak memory per worker does not grow with the number of tasks.
    scheduler : str | None
        Address of an existing Dask scheduler (``tcp://host:8786``); overrides ``workers``.
    memory_limit : str
        Memory limit per local worker (Dask syntax, e.g. ``"4GiB"``).
    announce : callable
        Called with the dashboard address.
    retries : int
        Dask retries of a task whose worker died or that raised.
    catch : tuple of exception types
        In-process, these exceptions are yielded as ``error`` instead of raised. On a cluster any
        exception of a task (including a lost worker) is yielded as ``error``.
    warm_up : callable | None
        On a cluster, run once on every worker before the tasks (e.g. to import the libraries and
        load compiled code there, which costs seconds per fresh process, before timing starts).
    costs : sequence of float | None
        Expected cost of each task (e.g. its file size). On a cluster the costliest start first,
        so a long task does not start last and leave the other workers idle at the end. Results
        are the same whatever the order.

    Yields
    ------
    (int, object, BaseException | None)
        Index into ``args``, the result (``None`` on error) and the error.
    """
    if not args:
        return
    if not scheduler and workers <= 1:
        for i, a in enumerate(args):
            try:
                result = func(*a)
            except catch as exc:
                yield i, None, exc
            else:
                yield i, result, None
        return
    from dask.distributed import Client, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = local_cluster(workers, memory_limit=memory_limit)
        client = Client(cluster)
    if warm_up is not None:
        client.run(warm_up)
    announce(f"Dask dashboard: {client.dashboard_link}")
    token = uuid.uuid4().hex[:8]
    names = list(keys) if keys is not None else [f"task-{i}" for i in range(len(args))]
    try:
        # the costliest first: Dask runs higher priorities first (ties in submission order)
        rank = [0] * len(args) if costs is None else _ranks(costs)
        futures = [client.submit(func, *a, pure=False, retries=retries, key=f"{names[i]}-{token}",
                                 priority=rank[i]) for i, a in enumerate(args)]
        index = {f.key: i for i, f in enumerate(futures)}
        # results fetched on the client's event loop as tasks finish: a blocking `fut.result()` per
        # task cost ~1 ms more CPU per task in this process (a hop from this thread to the loop)
        for fut, result in as_completed(futures, with_results=True, raise_errors=False):
            if fut.status == "finished":
                yield index[fut.key], result, None
            else:  # the task raised (after its retries), its worker was lost, or it was cancelled
                exc = result[1] if isinstance(result, tuple) else result
                yield index[fut.key], None, exc if isinstance(exc, BaseException) else RuntimeError(str(exc))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _ranks(costs: Sequence[float]) -> list[int]:
    """Rank of each cost, 0 for the cheapest (equal costs: the earlier task ranks higher)."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -i))
    rank = [0] * len(costs)
    for r, i in enumerate(order):
        rank[i] = r
    return rank
