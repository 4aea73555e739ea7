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
