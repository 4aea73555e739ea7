"""Benchmark: per-core speed of ``audio_features`` on real compressed clips, and where a clip's time goes.

1. Per core: ``audio_features`` (clip summaries, melody on, emotion on: what ``neuromer audio
   features`` computes per clip, no cache) of every clip in one single-threaded process, decoding
   included, as real-time factor: audio seconds per CPU second (``resource.getrusage``, user +
   system) and per wall second. Best of ``--repeats`` passes over the clips.
2. Stages (CPU seconds, ``time.process_time``, summed over the clips): decode and resample
   (``load_audio``), each family of ``frame_features`` (STFT, spectral shape, MFCC, chroma, HPSS,
   timbre_harmony, rhythm), the pitch analysis (``f0_contour``), note segmentation
   (``note_events``) and the summaries (window statistics, key, tempo, melody statistics).
3. ``--profile N``: the N functions with the most own CPU time under cProfile (cProfile slows
   Python-heavy code more than numpy calls: use it to find hot spots, the stages for shares).
4. ``--against REV``: the package as of git revision REV (exported with ``git archive`` into a
   temporary folder and imported as ``neuromer_ref``) in the same process, passes interleaved
   with the current code: its per-core speed beside this one's (before/after on the same clips,
   under the same load), and whether the feature tables of the first ``--check-clips`` clips
   (whole clip and 1 s / 0.5 s windows) are the same bit for bit.

CPU time is what to compare on a shared machine: wall time there measures the other tenants (the
load average is printed before and after). Target (issue 13): >= 100x real time per core.

Run: ``python bench/audio_percore.py DIR [--clips 16] [--repeats 2] [--profile 0] [--against REV]`` (DIR is
searched recursively for .mp3/.wav/.flac/.ogg/.m4a, e.g. the 4QAED ``Dataset`` folder; the clips
are spread over the sorted list as in bench/audio_catalog.py).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one core

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

AUDIO = (".mp3", ".wav", ".flac", ".ogg", ".m4a")


def cpu_s() -> float:
    """CPU seconds of this process (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def reference_package(rev: str):
    """The ``neuromer`` package as of git revision ``rev``, imported as ``neuromer_ref``."""
    import importlib
    import io
    import subprocess
    import sys
    import tarfile
    import tempfile

    root = Path(__file__).resolve().parents[1]
    folder = Path(tempfile.mkdtemp(prefix="neuromer_ref_"))
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", rev, "neuromer"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "neuromer").rename(folder / "neuromer_ref")  # the package imports itself relatively
    sys.path.insert(0, str(folder))
    pkg = importlib.import_module("neuromer_ref")
    importlib.import_module("neuromer_ref.audio.summary")
    return pkg


def compare_tables(runs: dict, files: list) -> None:
    """Whether both codes give the same feature tables (whole clip and 1 s / 0.5 s windows)."""
    import numpy as np

    (ref_name, ref), (_, new) = runs.items()
    worst, differ = 0.0, []
    for f in files:
        for kw in ({}, {"window_s": 1.0, "hop_s": 0.5}):
            a, b = ref(f, **kw), new(f, **kw)
            if list(a.columns) != list(b.columns) or a.shape != b.shape:
                differ.append(f"{Path(f).name}: columns or shape")
                continue
            for col in a.columns:
                x, y = a[col].to_numpy(), b[col].to_numpy()
                if x.dtype.kind != "f":
                    same = np.array_equal(x, y)
                else:
                    same = np.array_equal(x, y, equal_nan=True)
                    if not same and np.array_equal(np.isnan(x), np.isnan(y)):
                        ok = np.isfinite(x)
                        worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / np.maximum(np.abs(x[ok]), 1e-300))))
                if not same:
                    differ.append(f"{Path(f).name} {kw or 'clip'}: {col}")
    if differ:
        print(f"  tables differ from {ref_name} in {len(differ)} columns (largest relative difference {worst:.3g}): "
              + "; ".join(differ[:5]))
    else:
        print(f"  tables of {len(files)} clips (whole clip and 1 s / 0.5 s windows): the same as {ref_name} bit for bit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--clips", type=int, default=16, help="number of clips (default 16)")
    ap.add_argument("--repeats", type=int, default=2, help="passes for the per-core figure (best is kept)")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N functions by own CPU time")
    ap.add_argument("--against", metavar="REV", help="also time (and compare with) the package at git revision REV")
    ap.add_argument("--check-clips", type=int, default=3, help="clips whose tables --against compares (default 3)")
    args = ap.parse_args()

    import soundfile as sf

    from neuromer.audio import features
    from neuromer.audio.melody import f0_contour, note_events
    from neuromer.audio.summary import audio_features, summarize_frames

    every = sorted(p for p in Path(args.folder).rglob("*") if p.suffix.lower() in AUDIO)
    if not every:
        raise SystemExit(f"{args.folder}: no audio files")
    step = max(1, len(every) // args.clips)
    files = [str(p) for p in every[::step][: args.clips]]
    seconds = sum(sf.info(f).duration for f in files)
    print(f"{len(files)} clips of {len(every)} in {args.folder}: {seconds / 60:.1f} min of audio; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    audio_features(files[0])  # imports, numba compilation and the memoised CQT filters outside the timing

    runs = {"this code": audio_features}
    if args.against:
        runs = {f"at {args.against}": reference_package(args.against).audio.summary.audio_features, **runs}
        next(iter(runs.values()))(files[0])  # its warm-up
    best = {name: [float("inf"), float("inf")] for name in runs}
    for _ in range(max(1, args.repeats)):
        for name, func in runs.items():  # interleaved: both see the same load
            w, c = time.perf_counter(), cpu_s()
            for f in files:
                func(f)
            best[name] = [min(best[name][0], cpu_s() - c), min(best[name][1], time.perf_counter() - w)]
    for name, (cpu, wall) in best.items():
        print(f"per core, {name}: audio_features (clip summaries, melody and emotion on) incl. decoding: "
              f"{seconds / cpu:.1f}x real time per CPU second, {seconds / wall:.1f}x per wall second "
              f"({cpu:.2f} CPU s, {wall:.2f} s wall; best of {max(1, args.repeats)})   (target >= 100)")
    if args.against:
        (ref_cpu, _), (cpu, _) = best.values()
        print(f"  CPU time this code / at {args.against}: {cpu / ref_cpu:.3f}")
        compare_tables(runs, files[: args.check_clips])

    # the stages, in CPU seconds: frame_features' lap timer is given the process clock
    class _CpuLaps(features._Laps):
        def __init__(self, store):
            self._clock, self.store = time.process_time, store
            self._t = self._clock()

    laps, stages = {}, defaultdict(float)
    plain = features._Laps
    features._Laps = _CpuLaps
    try:
        for f in files:
            t = time.process_time()
            y, sr = features.load_audio(f)
            t1 = time.process_time()
            ff = features.frame_features(y, sr, timings=laps)
            t2 = time.process_time()
            contour = f0_contour(y, sr)
            t3 = time.process_time()
            note_events(contour)
            t4 = time.process_time()
            summarize_frames(ff, contour=contour, emotion=True)  # runs note_events again: subtracted below
            t5 = time.process_time()
            stages["decode + resample (load_audio)"] += t1 - t
            stages["frame features"] += t2 - t1
            stages["pitch analysis (f0_contour)"] += t3 - t2
            stages["note segmentation (note_events)"] += t4 - t3
            stages["summaries (stats, key, tempo, melody, emotion)"] += (t5 - t4) - (t4 - t3)
    finally:
        features._Laps = plain
    total = sum(stages.values())
    print(f"{'stage (CPU s over the clips)':<52}{'CPU s':>8}{'share':>8}")
    for name, v in stages.items():
        print(f"{name:<52}{v:>8.3f}{v / total:>8.0%}")
        if name == "frame features":
            for fam, lv in laps.items():
                print(f"  {fam:<50}{lv:>8.3f}{lv / total:>8.0%}")
    print(f"{'sum':<52}{total:>8.3f}   ({seconds / total:.1f}x real time; load average now {os.getloadavg()[0]:.1f})")

    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile(time.process_time)
        prof.enable()
        for f in files:
            audio_features(f)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
