"""Speed of the melody path (contour + notes + features) on a 60 s clip, single core.

Prints the realtime factor (clip duration / wall time); numbers, not asserts. Run with
``python bench/melody.py [seconds]``. Set OMP/OPENBLAS_NUM_THREADS=1 (done below) for one core.
"""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from neuromer.audio.melody import f0_contour, melody_features, note_events  # noqa: E402

SR = 22050


def synth(seconds: float, seed: int = 0) -> np.ndarray:
    """A two-voice melody with vibrato, glides, rests and noise: a busy, realistic workload."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    notes = rng.integers(55, 80, size=int(seconds * 3) + 1)
    midi = notes[(t * 3).astype(int)] + 0.3 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(440 * 2 ** ((midi - 69) / 12)) / SR
    lead = sum(np.sin(h * phase) / h for h in range(1, 8)) * (np.sin(np.pi * t * 3) ** 2 > 0.05)
    bass = np.sin(2 * np.pi * np.cumsum(110 * 2 ** (((notes[(t * 0.75).astype(int)] - 24) - 45) / 12)) / SR)
    return (0.3 * lead + 0.2 * bass + 0.01 * rng.standard_normal(n)).astype(np.float32)


def main(seconds: float = 60.0, repeats: int = 5) -> None:
    y = synth(seconds)
    melody_features(y[: SR * 2], SR)  # warm-up (imports, caches)
    stages = {"contour": [], "notes": [], "features": [], "windows(30x2s)": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        contour = f0_contour(y, SR)
        t1 = time.perf_counter()
        notes = note_events(contour)
        t2 = time.perf_counter()
        melody_features(contour=contour, notes=notes)
        t3 = time.perf_counter()
        windows = [(s, s + 2.0) for s in range(0, int(seconds), 2)]
        melody_features(contour=contour, notes=notes, windows=windows)
        t4 = time.perf_counter()
        for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[key].append(dt)
    best = {k: min(v) for k, v in stages.items()}
    total = best["contour"] + best["notes"] + best["features"]
    print(f"clip {seconds:.0f} s at {SR} Hz, {len(notes)} notes, best of {repeats}")
    for key, dt in best.items():
        print(f"  {key:16s} {1000 * dt:7.1f} ms")
    print(f"  total (contour+notes+features) {1000 * total:.1f} ms -> realtime factor {seconds / total:.0f}x")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
