"""Benchmark: audio features of a folder of compressed clips, per core and on a 2-worker Dask cluster.

1. Decode profile: seconds of CPU per minute of audio for each decode path on the same clips
   -- soundfile (libsndfile/mpg123), neuromer's ``load_audio`` (soundfile + soxr resampling to
   22.05 kHz mono), ``librosa.load`` and audioread (the fallback for formats soundfile lacks).
2. Per-core speed: ``audio_features`` (clip summaries, melody on: what ``neuromer audio train``
   computes) of every clip in-process with one thread, incl. decoding, as real-time factor
   (audio seconds per CPU second and per wall second).
3. Parallel efficiency: the same clips through ``neuromer.audio.catalog.clip_tables`` with
   ``--workers 1`` (in-process) and ``--workers 2`` (local Dask cluster), each with a fresh
   temporary cache so everything is computed: efficiency = T1 / (2 T2) on the clip phase (from
   the cluster being up and warmed -- libraries imported on every worker -- to the last result)
   and on the whole call (incl. starting and warming the cluster).

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
            return np.concatenate([np.frombuffer(b, dtype="<i2") for b in src]), src.backend if hasattr(src, "backend") else type(src).__name__

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
        extra = f" [backend {type(audioread.audio_open(str(files[0]))).__name__}]" if name.startswith("audioread") else ""
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

    walls = {}
    for n in (1, args.workers):
        ready = {}
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            _, failed = clip_tables(files, melody=melody, emotion=False, cache_dir=cache, workers=n,
                                    announce=lambda msg: ready.setdefault("t", time.perf_counter()))
            end = time.perf_counter()
        clip_phase = end - ready.get("t", start)
        walls[n] = (end - start, clip_phase)
        print(f"workers={n}: {end - start:.1f} s in all, {clip_phase:.1f} s for the clips "
              f"({seconds / clip_phase:.0f}x real time){'; failed: ' + str(len(failed)) if failed else ''}")
    (t1, c1), (tn, cn) = walls[1], walls[args.workers]
    print(f"parallel efficiency on {args.workers} workers: {c1 / (args.workers * cn):.0%} on the clip phase, "
          f"{t1 / (args.workers * tn):.0%} incl. cluster start-up; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
