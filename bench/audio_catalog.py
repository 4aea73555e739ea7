"""Benchmark: audio features of a folder of compressed clips, per core and on a 2-worker Dask cluster.

1. Decode profile: seconds of CPU per minute of audio for each decode path on the same clips
   -- soundfile (libsndfile/mpg123), neuromer's ``load_audio`` (soundfile + soxr resampling to
   22.05 kHz mono), ``librosa.load`` and audioread (the fallback for formats soundfile lacks).
2. Per-core speed: ``audio_features`` (clip summaries, melody on: what ``neuromer audio train``
   computes) of every clip in-process with one thread, incl. decoding, as real-time factor
   (audio seconds per CPU second and per wall second).
3. Per-clip overheads: CPU to write and to read one cache entry, and the size of what a task
   returns (pickled, as Dask sends it).
4. Parallel efficiency: the same clips through ``neuromer.audio.catalog.clip_tables`` in-process
   (warm: libraries imported and compiled code loaded, as the workers are) and on local Dask
   clusters of 1 and N single-threaded workers, each run with a fresh temporary cache so every clip
   is computed. The clip phase is timed from the workers being up and warmed to the last result.
   - headline: T(in-process) / (N T(N workers)) by wall time;
   - second figure: T(1 Dask worker) / (N T(N workers)), Dask's fixed costs on both sides;
   - CPU per clip in-process vs on each cluster (workers + the scheduler, nannies and client, which
     live in this process), split into the workers' task threads (the clips' own computation),
     their other threads by name (Dask's event loop ...) and this process; minor page faults per
     clip of the task code (a malloc that maps and unmaps its temporaries shows here).
   - control: two in-process runs at the same time, in two fresh processes, each on half the clips:
     the CPU inflation two busy processes cause each other without any Dask.

CPU time is printed beside wall time: on a shared machine (see the load averages printed) wall
time measures the other tenants as much as this code. Rerun on an idle machine for the wall-time
figures.

Run: ``python bench/audio_catalog.py DIR [--clips 16] [--workers 2] [--no-decode]`` (DIR is searched
recursively for .mp3/.wav/.flac/.ogg/.m4a; e.g. the 4QAED ``Dataset`` folder).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one core per process

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import soundfile as sf  # noqa: E402

AUDIO = (".mp3", ".wav", ".flac", ".ogg", ".m4a")


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def own_cpu_s() -> float:
    """CPU seconds of this process only (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def thread_cpu_s() -> dict:
    """``{(thread id, name): CPU s}`` of each thread of this process (a Dask worker's task thread is
    named ``Dask-Default-Threads-...``), plus ``("minflt", "")``: minor page faults of the process."""
    import threading

    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {(t.id, names.get(t.id, "native")): t.user_time + t.system_time for t in psutil.Process().threads()}
    out[("minflt", "")] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return out


def split_threads(before: dict, after: dict) -> tuple[float, dict, float]:
    """(CPU s of the task thread, {name: CPU s} of the other threads, minor page faults) between two
    :func:`thread_cpu_s` readings of a 1-thread worker."""
    task, other = 0.0, {}
    for key, v in after.items():
        if key[0] == "minflt":
            continue
        grown = v - before.get(key, 0.0)
        if "Dask-Default-Threads" in key[1]:
            task += grown
        else:
            name = key[1].strip("0123456789-_") or "native"
            other[name] = other.get(name, 0.0) + grown
    return task, other, after[("minflt", "")] - before[("minflt", "")]


def timed(func):
    w, c = time.perf_counter(), cpu_s()
    out = func()
    return out, time.perf_counter() - w, cpu_s() - c


def decode_profile(files, seconds_total):
    import audioread
    import librosa
    import numpy as np

    from neuromer.audio.features import load_audio

    def read_audioread(f):
        with audioread.audio_open(str(f)) as src:
            return np.concatenate([np.frombuffer(b, dtype="<i2") for b in src])

    paths = {
        "soundfile.read (native rate)": lambda f: sf.read(f, dtype="float32"),
        "neuromer load_audio (22.05 kHz mono, soxr_hq)": lambda f: load_audio(f),
        "librosa.load (22.05 kHz mono, default soxr_hq)": lambda f: librosa.load(f, sr=22050, mono=True),
        "audioread (int16, native rate)": read_audioread,
    }
    print(f"decode profile on {len(files)} clips, {seconds_total / 60:.1f} min of audio:")
    for name, func in paths.items():
        try:
            func(files[0])  # imports and first-call set-up outside the timing
            out, wall, cpu = timed(lambda: [func(f) for f in files])
        except Exception as exc:  # a backend may be missing on this machine
            print(f"  {name:<48} unavailable ({type(exc).__name__}: {exc})")
            continue
        extra = ""
        if name.startswith("audioread"):
            with audioread.audio_open(str(files[0])) as src:
                extra = f" [backend {type(src).__name__}]"
        print(f"  {name:<48} {cpu / seconds_total * 60:6.2f} CPU s per audio min "
              f"({seconds_total / cpu:6.0f}x real time per core; wall {wall:.1f} s){extra}")


def in_process_half(files, melody, conn):
    """Child process of the co-run control: one in-process clip_tables run; sends (CPU s, minor faults)."""
    from neuromer.audio.catalog import clip_tables, warm_up

    warm_up()
    with tempfile.TemporaryDirectory() as cache:
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF), own_cpu_s()
        clip_tables(files, melody=melody, emotion=False, cache_dir=cache, workers=1)
        conn.send((own_cpu_s() - c0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0.ru_minflt))


def co_run(files, melody):
    """CPU s per clip of two in-process runs at the same time (fresh processes, half the clips each)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    halves = [files[0::2], files[1::2]]
    pipes = [ctx.Pipe(duplex=False) for _ in halves]
    procs = [ctx.Process(target=in_process_half, args=(h, melody, w)) for h, (_, w) in zip(halves, pipes)]
    for p in procs:
        p.start()
    got = [r.recv() for r, _ in pipes]
    for p in procs:
        p.join()
    return sum(g[0] for g in got), sum(g[1] for g in got)


def on_cluster(files, melody, n):
    """Run the clips on a fresh local cluster of ``n`` workers (as ``--workers n`` starts it)."""
    from dask.distributed import Client

    from neuromer._cluster import local_cluster
    from neuromer.audio.catalog import clip_tables

    cluster = local_cluster(n)
    with cluster, Client(cluster) as client, tempfile.TemporaryDirectory() as cache:
        mark = {}

        def ready(msg):  # the workers are up and warmed (libraries imported): the clip phase starts
            mark["t"], mark["main"] = time.perf_counter(), own_cpu_s()
            mark["workers"], mark["threads"] = client.run(own_cpu_s), client.run(thread_cpu_s)

        from dask.distributed import get_task_stream

        start = time.perf_counter()
        with get_task_stream(client) as stream:
            _, failed = clip_tables(files, melody=melody, emotion=False, cache_dir=cache,
                                    scheduler=cluster.scheduler_address, announce=ready)
            wall = time.perf_counter() - mark["t"]
        main_cpu = own_cpu_s() - mark["main"]  # scheduler, nannies and client live in this process
        per_worker = {k: v - mark["workers"][k] for k, v in client.run(own_cpu_s).items()}
        threads = {k: split_threads(mark["threads"][k], v) for k, v in client.run(thread_cpu_s).items()}
        total = time.perf_counter() - start
    other: dict = {}
    for _, names, _ in threads.values():
        for name, v in names.items():
            other[name] = other.get(name, 0.0) + v
    spans: dict = {}  # worker -> [(start, stop)] of its clip computations (time.time() of this machine)
    for rec in stream.data:
        for ss in rec["startstops"]:
            if ss["action"] == "compute":
                spans.setdefault(rec["worker"], []).append((ss["start"], ss["stop"]))
    busy = sum(b - a for v in spans.values() for a, b in v)
    # idle time between consecutive tasks of a worker (spans as its task thread timed them)
    gaps = sum(max(0.0, nxt[0] - prev[1]) for v in spans.values() for prev, nxt in zip(sorted(v), sorted(v)[1:]))
    ends = [max(b for _, b in v) for v in spans.values()]
    return {"wall": wall, "total": total, "main": main_cpu, "workers": list(per_worker.values()),
            "busy": busy, "gaps": gaps, "tail": max(ends) - min(ends),
            "task": sum(t[0] for t in threads.values()), "other": other,
            "minflt": sum(t[2] for t in threads.values()), "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--clips", type=int, default=16, help="number of clips (spread over the folder; default 16)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-melody", action="store_true")
    ap.add_argument("--no-decode", action="store_true", help="skip the decode profile")
    args = ap.parse_args()

    import pickle

    from neuromer.audio._cache import read_entry, write_entry
    from neuromer.audio.catalog import clip_tables, warm_up
    from neuromer.audio.summary import audio_features

    every = sorted(p for p in Path(args.folder).rglob("*") if p.suffix.lower() in AUDIO)
    if not every:
        raise SystemExit(f"{args.folder}: no audio files")
    step = max(1, len(every) // args.clips)
    files = [str(p) for p in every[::step][: args.clips]]
    seconds = sum(sf.info(f).duration for f in files)
    load0 = os.getloadavg()
    print(f"{len(files)} clips of {len(every)} in {args.folder}: {seconds / 60:.1f} min of audio; "
          f"load average {load0[0]:.1f} on {os.cpu_count()} cores")
    k = len(files)

    if not args.no_decode:
        decode_profile(files, seconds)

    melody = not args.no_melody
    warm_up()
    audio_features(files[0], melody=melody)  # warm up imports and numba compilation outside the timing
    _, wall, cpu = timed(lambda: [audio_features(f, melody=melody) for f in files])
    print(f"per core: audio_features (clip summaries, melody={melody}) incl. decoding: "
          f"{seconds / cpu:.0f}x real time per CPU second, {seconds / wall:.0f}x per wall second "
          f"({cpu:.1f} CPU s, {wall:.1f} s wall)")

    # the in-process reference: warm, like the workers, and with its own fresh cache
    with tempfile.TemporaryDirectory() as cache:
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        (tables, _), w1, c1 = timed(lambda: clip_tables(files, melody=melody, emotion=False, cache_dir=cache,
                                                         workers=1))
        flt1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        entries = sorted(Path(cache).glob("*.npz"))
        rounds = 20
        _, _, c_write = timed(lambda: [write_entry(t, Path(cache) / "bench.npz") for t in tables * rounds])
        _, _, c_read = timed(lambda: [read_entry(e) for e in entries * rounds])
        entry_kb = os.path.getsize(entries[0]) / 1000
    from dask.sizeof import sizeof

    from neuromer.audio._cache import pack

    packed, _, c_pack = timed(lambda: [pack(t) for t in tables])
    sent = sum(len(pickle.dumps(p, protocol=5)) for p in packed) / k
    # what Dask pays on a worker's event loop to size a result it holds or sends
    _, _, c_size_df = timed(lambda: [sizeof(t) for t in tables])
    _, _, c_size_packed = timed(lambda: [sizeof(p) for p in packed])
    print(f"in-process (workers=1, warm): {w1:.1f} s wall, {c1:.2f} CPU s = {c1 / k * 1000:.0f} ms per clip "
          f"({seconds / w1:.0f}x real time by wall); {flt1 / k:.0f} minor page faults per clip")
    print(f"per clip: cache entry write {c_write / (k * rounds) * 1000:.1f} ms CPU, read "
          f"{c_read / (len(entries) * rounds) * 1000:.1f} ms CPU ({entry_kb:.0f} kB); "
          f"a task returns {sent / 1000:.1f} kB pickled ({tables[0].shape[1]} columns, packed); Dask's sizeof of "
          f"the result: {c_size_df / k * 1000:.1f} ms CPU as a DataFrame, {c_size_packed / k * 1000:.3f} ms packed "
          f"(packing {c_pack / k * 1000:.1f} ms, on the task thread)")

    runs = {n: on_cluster(files, melody, n) for n in sorted({1, args.workers})}
    for n, r in runs.items():
        cn = sum(r["workers"]) + r["main"]
        other = sum(r["other"].values())
        print(f"workers={n} (local cluster): {r['wall']:.1f} s wall for the clips ({r['total']:.1f} s incl. "
              f"start-up and warm-up; {seconds / r['wall']:.0f}x real time); CPU {cn / k * 1000:.0f} ms per clip "
              f"({cn / c1 - 1:+.0%} vs in-process)" + (f"; failed: {len(r['failed'])}" if r["failed"] else ""))
        print(f"  per clip: task threads {r['task'] / k * 1000:.0f} ms ({r['task'] / c1 - 1:+.0%} vs in-process, "
              f"{r['minflt'] / k:.0f} minor faults); workers' other threads {other / k * 1000:.0f} ms ("
              + ", ".join(f"{name} {v / k * 1000:.0f}" for name, v in sorted(r["other"].items(), key=lambda x: -x[1])
                          if v / k >= 0.0005)
              + f"); scheduler/nannies/client {r['main'] / k * 1000:.0f} ms")
        print(f"  workers computing {r['busy'] / (n * r['wall']):.0%} of the clip phase; idle between their tasks "
              f"{r['gaps'] / k * 1000:.1f} ms per clip; tail {r['tail']:.2f} s (the first worker done, the last "
              f"still computing)")
    if args.workers > 1:
        c2, flt2 = co_run(files, melody)
        print(f"control, no Dask: two in-process runs at once (half the clips each): {c2 / k * 1000:.0f} ms CPU "
              f"per clip ({c2 / c1 - 1:+.0%} vs one run alone), {flt2 / k:.0f} minor faults per clip")
        n, rn = args.workers, runs[args.workers]
        cn = sum(rn["workers"]) + rn["main"]
        print(f"PARALLEL EFFICIENCY on {n} workers by wall time: {w1 / (n * rn['wall']):.0%} against the in-process "
              f"run (headline; meaningful on an idle machine only)")
        print(f"  second figure, against a 1-worker Dask cluster: {runs[1]['wall'] / (n * rn['wall']):.0%} by wall time")
        print(f"  by CPU time: {c1 / cn:.0%} = in-process CPU / all the {n}-worker cluster's CPU")
    load1 = os.getloadavg()
    print(f"load average (1, 5, 15 min): at start {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f}, "
          f"now {load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f}")


if __name__ == "__main__":
    main()
