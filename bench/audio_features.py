"""Benchmark: the full audio feature set of one 60 s clip at 22.05 kHz, on one core.

Prints the wall time and real-time factor (clip seconds per second of compute) of each feature
family -- the STFT, spectral shape, MFCC, chroma/harmonic change, HPSS, rhythm (onsets and
tempogram), the melody path (f0 contour, notes, expressive and texture features) and the window
summaries (stats on the 1 s / 0.5 s grid plus key, tempo and emotion per window) -- then the total
for ``audio_features(..., window_s=1, hop_s=0.5)`` (target >= 50x real time), and, as the
reference run in the same process, librosa's pyin on the same clip.

Run: ``python bench/audio_features.py [--seconds 60] [--no-pyin]``.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one core

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from neuromer.audio import audio_features  # noqa: E402
from neuromer.audio.features import SR, frame_features  # noqa: E402
from neuromer.audio.melody import melody_features  # noqa: E402
from neuromer.simulate import synthesize_music  # noqa: E402


def best(func, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="clip length (default 60)")
    ap.add_argument("--no-pyin", action="store_true", help="skip the (slow) pyin reference")
    args = ap.parse_args()
    dur = args.seconds
    y = synthesize_music(duration_s=dur, tempo_bpm=120, mode="major", loudness_db=-18, brightness=0.6,
                         articulation=0.7, seed=1).astype(np.float32)
    frame_features(y[: 2 * SR])  # warm up numba / FFT plans
    melody_features(y=y[: 2 * SR], sr=SR)

    fam = {}
    for _ in range(3):  # best of 3 per family
        t = {}
        frame_features(y, SR, timings=t)
        for k, v in t.items():
            fam[k] = min(fam.get(k, np.inf), v)
    fam["melody (f0, notes, expressive, texture)"] = best(lambda: melody_features(y=y, sr=SR))
    print(f"clip: {dur:.0f} s at {SR} Hz, one core")
    print(f"{'family':<42}{'seconds':>9}{'x real time':>13}")
    for k, v in fam.items():
        print(f"{k:<42}{v:>9.3f}{dur / v:>13.0f}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.wav"
        sf.write(path, y, SR)
        total = best(lambda: audio_features(path, window_s=1.0, hop_s=0.5))
        clip = best(lambda: audio_features(path))
    parts = sum(fam.values())
    print(f"{'window summaries (stats, key, tempo, emotion)':<42}{max(total - parts, 0):>9.3f}")
    print(f"{'TOTAL audio_features, 1 s / 0.5 s windows':<42}{total:>9.3f}{dur / total:>13.0f}   (target >= 50)")
    print(f"{'TOTAL audio_features, whole clip':<42}{clip:>9.3f}{dur / clip:>13.0f}")
    if not args.no_pyin:
        import librosa

        t = best(lambda: librosa.pyin(y, fmin=55.0, fmax=1760.0, sr=SR), repeat=1)
        print(f"{'reference: librosa.pyin alone':<42}{t:>9.3f}{dur / t:>13.0f}")
        print(f"full feature set vs pyin alone: {t / total:.1f}x faster")


if __name__ == "__main__":
    main()
