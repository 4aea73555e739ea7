"""Benchmark: time and peak memory of ``audio_features`` on long audio (1, 10 and 60 min).

Each length is generated (``neuromer.simulate.synthesize_music``, a 30 s phrase tiled to the
length), written as a FLAC file (22.05 kHz mono) and as an MP3 file (44.1 kHz stereo, as music is
usually distributed: two phrases, one per channel; libsndfile's MPEG Layer III encoder at its
default settings; encoding the 60 min MP3 takes about 2 CPU minutes), and analysed in a fresh
subprocess -- per window on the 1 s / 0.5 s grid, melody on, as ``neuromer run`` computes a stimulus -- so the peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is that of the analysis alone. Prints wall and CPU
time (``time.process_time()`` of the child: the figure to quote on a loaded machine), real-time
factor per CPU second, CPU seconds per minute of audio (constant when time is linear in length) and
peak memory per length; the issue-13 target is <= 1 GB peak for 60 min. Files longer than 120 s
are analysed block-wise (:mod:`neuromer.audio.blockwise`); ``--whole`` analyses them whole, as
before, for comparison.

Run: ``python bench/audio_long.py [--minutes 1 10 60] [--formats flac mp3] [--no-melody] [--whole]``.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one core

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

CHILD = """
import json, resource, sys, time
from neuromer.audio import audio_features
import numpy as np
path, melody, block_s = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
t = np.arange(44100) / 22050  # first call: lazy imports and numba cache loads, outside the timing
audio_features((np.sin(2 * np.pi * 220 * t).astype(np.float32), 22050), melody=melody, emotion=False)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t, cpu = time.perf_counter(), time.process_time()
table = audio_features(path, window_s=1.0, hop_s=0.5, melody=melody, emotion=False, block_s=block_s)
wall, cpu = time.perf_counter() - t, time.process_time() - cpu
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_mib": peak_kib / 1024, "after_warm_up_mib": base / 1024,
                  "rows": len(table)}))
"""


def make_file(folder: Path, minutes: float, fmt: str = "flac") -> Path:
    """A ``minutes``-long music file: FLAC (22.05 kHz mono) or MP3 (44.1 kHz stereo), written
    phrase by phrase so that the generator never holds the whole file."""
    import numpy as np
    import soundfile as sf

    from neuromer.simulate import AUDIO_SR, synthesize_music

    sr = AUDIO_SR if fmt == "flac" else 44100
    kw = dict(duration_s=30.0, tempo_bpm=120, mode="major", loudness_db=-20, brightness=0.5, articulation=0.5,
              sr=sr)
    phrase = synthesize_music(seed=0, **kw)
    if fmt == "mp3":  # a different phrase on the right channel, so that the stereo mix-down matters
        phrase = np.stack([phrase, synthesize_music(seed=1, **kw)[: len(phrase)]], axis=1)
    n = int(minutes * 60 * sr)
    path = folder / f"music_{minutes:g}min.{fmt}"
    with sf.SoundFile(path, "w", samplerate=sr, channels=phrase.ndim, format=fmt.upper()) as out:
        done = 0
        while done < n:
            block = phrase[: n - done]
            out.write(np.asarray(block, dtype=np.float32))
            done += len(block)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    ap.add_argument("--formats", nargs="+", choices=["flac", "mp3"], default=["flac", "mp3"],
                    help="file formats to measure (default both)")
    ap.add_argument("--no-melody", action="store_true")
    ap.add_argument("--whole", action="store_true", help="analyse every file whole (block_s = inf), as before "
                    "block-wise analysis, for comparison")
    args = ap.parse_args()
    block_s = "inf" if args.whole else "60"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; melody={not args.no_melody}; "
          f"{'whole-file' if args.whole else 'block-wise (60 s blocks) beyond 120 s'}")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, minutes in ((f, m) for f in args.formats for m in args.minutes):
            path = make_file(Path(tmp), minutes, fmt)
            res = subprocess.run([sys.executable, "-c", CHILD, str(path), "0" if args.no_melody else "1", block_s],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(f"{fmt:4} {minutes:5g} min: failed (exit {res.returncode}): "
                      f"{res.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            path.unlink()  # an hour of audio: do not keep several in the temp folder
            print(f"{fmt:4} {minutes:5g} min: wall {r['wall_s']:7.1f} s, CPU {r['cpu_s']:7.1f} s "
                  f"({minutes * 60 / r['cpu_s']:4.0f}x real time per CPU second, {r['cpu_s'] / minutes:5.2f} CPU s "
                  f"per min of audio), peak {r['peak_mib']:6.0f} MiB (after a 2 s warm-up "
                  f"{r['after_warm_up_mib']:.0f} MiB), {r['rows']} windows; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
