"""Benchmark: audio features of a folder of compressed clips, per core and on a 2-worker Dask cluster.

1. Decode profile: seconds of CPU per minute of audio for each decode path on the same clips
   -- soundfile (libsndfile/mpg123), neuromer's ``load_audio`` (soundfile + soxr resampling to
   22.05 kHz mono), ``librosa.load`` and audioread (the fallback for formats soundfile lacks).
2. Per-core speed: ``audio_features`` (clip summaries, melody on: what ``neuromer audio train``
   computes) of every clip in-process with one thread, incl. decoding, as real-time factor
   (audio seconds per CPU second and per wall second).
3. Parallel efficiency: the same clips through ``neuromer.audio.catalog.clip_tables`` in-process
   and on a local Dask cluster of 2 single-threaded workers, each with a fresh temporary cache so
   everything is computed: efficiency = T1 / (2 T2) by wall time on the clip phase (from the
   workers being up and warmed -- libraries imported -- to the last result), and in-process CPU
   seconds / the cluster's CPU seconds (workers + the scheduler, nannies and client in this process:
   what Dask costs, much less dependent on other tenants than wall time).

CPU time is printed beside wall time: on a shared machine (see the load average printed) wall
time measures the other tenants as much as this code.

Run: ``python bench/audio_catalog.py DIR [--clips 16] [--workers 2]`` (DIR is searched
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
    """CPU seconds of each thread of this process (a Dask worker: its task thread and the rest)."""
    import psutil

    return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}


def split_threads(before: dict, after: dict) -> tuple[float, float]:
    """(CPU s of the busiest thread -- the task thread of a 1-thread worker --, CPU s of the others)."""
    grown = sorted((after[k] - before.get(k, 0.0) for k in after), reverse=True)
    return grown[0], sum(grown[1:])


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--clips", type=int, default=16, help="number of clips (spread over the folder; default 16)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-melody", action="store_true")
    args = ap.parse_args()

    from neuromer.audio.catalog import clip_tables
    from neuromer.audio.summary import audio_features

    every = sorted(p for p in Path(args.folder).rglob("*") if p.suffix.lower() in AUDIO)
    if not every:
        raise SystemExit(f"{args.folder}: no audio files")
    step = max(1, len(every) // args.clips)
    files = [str(p) for p in every[::step][: args.clips]]
    seconds = sum(sf.info(f).duration for f in files)
    print(f"{len(files)} clips of {len(every)} in {args.folder}: {seconds / 60:.1f} min of audio; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    decode_profile(files, seconds)

    melody = not args.no_melody
    audio_features(files[0], melody=melody)  # warm up imports and numba compilation outside the timing
    _, wall, cpu = timed(lambda: [audio_features(f, melody=melody) for f in files])
    print(f"per core: audio_features (clip summaries, melody={melody}) incl. decoding: "
          f"{seconds / cpu:.0f}x real time per CPU second, {seconds / wall:.0f}x per wall second "
          f"({cpu:.1f} CPU s, {wall:.1f} s wall)")

    from dask.distributed import Client

    from neuromer._cluster import local_cluster

    with tempfile.TemporaryDirectory() as cache:
        _, w1, c1 = timed(lambda: clip_tables(files, melody=melody, emotion=False, cache_dir=cache, workers=1))
    print(f"workers=1 (in-process): {w1:.1f} s wall, {c1:.1f} CPU s ({seconds / w1:.0f}x real time)")
    n = args.workers
    # the cluster `neuromer audio features --workers N` starts (run_tasks), started here so that the
    # clip phase can be timed from the workers being up and warmed
    cluster = local_cluster(n)
    with cluster, Client(cluster) as client, tempfile.TemporaryDirectory() as cache:
        mark = {}

        def ready(msg):  # the workers are up and warmed (libraries imported): the clip phase starts
            mark["t"], mark["workers"], mark["main"] = time.perf_counter(), client.run(own_cpu_s), own_cpu_s()
            mark["threads"] = client.run(thread_cpu_s)

        start = time.perf_counter()
        _, failed = clip_tables(files, melody=melody, emotion=False, cache_dir=cache,
                                scheduler=cluster.scheduler_address, announce=ready)
        wn = time.perf_counter() - mark["t"]
        main_cpu = own_cpu_s() - mark["main"]  # scheduler, nannies and client live in this process
        per_worker = {k: v - mark["workers"][k] for k, v in client.run(own_cpu_s).items()}
        threads = {k: split_threads(mark["threads"][k], v) for k, v in client.run(thread_cpu_s).items()}
        total = time.perf_counter() - start
    cn = sum(per_worker.values()) + main_cpu
    print(f"workers={n} (local cluster): {wn:.1f} s wall for the clips ({total:.1f} s incl. start-up and warm-up; "
          f"{seconds / wn:.0f}x real time); CPU s: workers "
          + " + ".join(f"{v:.1f}" for v in per_worker.values()) + f", scheduler/nannies/client {main_cpu:.1f}"
          + (f"; failed: {len(failed)}" if failed else ""))
    in_tasks, other = sum(t[0] for t in threads.values()), sum(t[1] for t in threads.values())
    print(f"  of which computing the clips (the workers' task threads) {in_tasks:.1f} CPU s "
          f"({in_tasks / c1 - 1:+.0%} vs in-process: two busy processes slow each other on shared caches "
          f"and cores); the rest {other + main_cpu:.1f} CPU s ({(other + main_cpu) / len(files) * 1000:.0f} ms per "
          f"clip): the workers' other threads {other:.1f} (Dask's event loop; Arrow's pool writing the cache "
          f"entries, which the in-process run pays too) and scheduler/nannies/client {main_cpu:.1f}")
    print(f"parallel efficiency on {n} workers: {w1 / (n * wn):.0%} by wall time (meaningful on an idle machine "
          f"only); by CPU time {c1 / cn:.0%} = in-process CPU / all cluster CPU (the cluster used "
          f"{(cn - c1) / len(files) * 1000:.0f} ms more CPU per clip, {cn / c1 - 1:+.0%}: split above); "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
