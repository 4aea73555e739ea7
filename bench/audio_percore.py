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

CPU time is what to compare on a shared machine: wall time there measures the other tenants (the
load average is printed before and after). Target (issue 13): >= 100x real time per core.

Run: ``python bench/audio_percore.py DIR [--clips 16] [--repeats 2] [--profile 0]`` (DIR is
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--clips", type=int, default=16, help="number of clips (default 16)")
    ap.add_argument("--repeats", type=int, default=2, help="passes for the per-core figure (best is kept)")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N functions by own CPU time")
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

    best_cpu = best_wall = float("inf")
    for _ in range(max(1, args.repeats)):
        w, c = time.perf_counter(), cpu_s()
        for f in files:
            audio_features(f)
        best_cpu, best_wall = min(best_cpu, cpu_s() - c), min(best_wall, time.perf_counter() - w)
    print(f"per core: audio_features (clip summaries, melody and emotion on) incl. decoding: "
          f"{seconds / best_cpu:.1f}x real time per CPU second, {seconds / best_wall:.1f}x per wall second "
          f"({best_cpu:.2f} CPU s, {best_wall:.2f} s wall; best of {max(1, args.repeats)})   (target >= 100)")

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
