"""Synthesised test signals with known musical answers."""

import numpy as np

SR = 22050


def tone(midi, dur_s, sr=SR, harmonics=6, level=0.3):
    t = np.arange(int(dur_s * sr)) / sr
    f0 = 440.0 * 2 ** ((np.asarray(midi, dtype=float) - 69) / 12)
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1) if f0 * k < sr / 2.2)
    env = np.minimum(1, t / 0.01) * np.minimum(1, (dur_s - t) / 0.02)
    return level * env * y


def chord(midis, dur_s, sr=SR):
    return sum(tone(m, dur_s, sr, level=0.15) for m in midis)


def click_track(bpm, dur_s, sr=SR):
    y = np.zeros(int(dur_s * sr))
    k = np.arange(int(0.02 * sr))
    click = np.exp(-k / (0.002 * sr)) * np.sin(2 * np.pi * 1000 * k / sr)
    for start in np.arange(0, dur_s, 60.0 / bpm):
        i = int(start * sr)
        n = min(len(k), len(y) - i)
        y[i:i + n] += click[:n]
    return 0.8 * y


def progression(mode, bars=8, bar_s=1.5, sr=SR):
    """I-IV-V-I (major) or i-iv-v-i (minor) triads in C, bass + chord, repeated."""
    if mode == "major":
        chords = [(48, 60, 64, 67), (53, 60, 65, 69), (55, 59, 62, 67), (48, 60, 64, 67)]
    else:
        chords = [(48, 60, 63, 67), (53, 60, 65, 68), (55, 58, 62, 67), (48, 60, 63, 67)]
    return np.concatenate([chord(chords[b % 4], bar_s, sr) for b in range(bars)])


MAJ, MIN = (0, 4, 7), (0, 3, 7)
# chord loops as (root in semitones above the tonic, triad)
MINOR_CADENCE = [(0, MIN), (5, MIN), (7, MAJ), (0, MIN)]  # i-iv-V-i, harmonic minor
MAJOR_CADENCE = [(0, MAJ), (5, MAJ), (7, MAJ), (0, MAJ)]  # I-IV-V-I


def key_piece(tonic, mode, chords, *, bars=10, bpm=100, seed=0, arpeggio=False):
    """A chord loop in ``tonic`` (0 = C) ``mode``: bass, triads (block or arpeggiated) and a melody
    of one note a beat (a chord tone on beats 1 and 3, a scale step between, the leading tone over
    a major V in minor), all harmonic tones of 6 partials. One chord a bar."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    y = np.zeros(int(bars * 4 * beat * SR) + 1)
    scale = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10)
    base = 48 + tonic  # C3..B3

    def put(midi, t0, dur, level):
        x = tone(midi, dur, level=level)
        i = int(t0 * SR)
        y[i:i + len(x)] += x[:len(y) - i]

    mel = 12
    for b in range(bars):
        root, triad = chords[b % len(chords)]
        t0 = b * 4 * beat
        put(base - 12 + root, t0, 4 * beat * 0.95, 0.3)
        for i in range(8 if arpeggio else 3):
            if arpeggio:
                put(base + root + triad[(0, 1, 2, 1)[i % 4]], t0 + i * beat / 2, beat / 2 * 0.95, 0.15)
            else:
                put(base + root + triad[i], t0, 4 * beat * 0.95, 0.12)
        steps = [o + s for o in (12, 24) for s in scale]
        if mode == "minor" and root == 7 and triad == MAJ:
            steps = [m + 1 if m % 12 == 10 else m for m in steps]
        for i in range(4):
            if i % 2 == 0:
                pcs = [(root + q) % 12 for q in triad]
                mel = min((m for m in range(12, 36) if m % 12 in pcs), key=lambda m: abs(m - mel))
            else:
                mel = steps[int(np.clip(np.searchsorted(steps, mel) + rng.choice([-1, 1]), 0, len(steps) - 1))]
            put(base + mel, t0 + i * beat, beat * 0.9, 0.2)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)
