"""Harmony/dissonance/timbre-shape family: known answers on synthesised signals."""

import numpy as np
import pytest

from neuromer.audio._timbre_stats import (crest_db, inharmonicity, is_family_column, roughness, spectral_peaks,
                                          timbre_window_stats)
from neuromer.audio.evaluation import feature_families
from neuromer.audio.features import HOP_LENGTH, N_FFT, frame_features
from neuromer.audio.summary import summarize

from ._signals import SR, chord, click_track, progression, tone


def _sines(freqs_hz, dur_s=2.0, amps=None):
    t = np.arange(int(dur_s * SR)) / SR
    amps = np.ones(len(freqs_hz)) if amps is None else amps
    return (0.2 * sum(a * np.sin(2 * np.pi * f * t) for f, a in zip(freqs_hz, amps))).astype(np.float32)


def _median(name, y):
    ff = frame_features(np.asarray(y, dtype=np.float32), SR)
    return float(np.nanmedian(ff.values[name][5:-5]))


def test_roughness_of_two_partials_follows_plomp_levelt():
    # Sethares' curve for two equal partials at 440 Hz: 0 at unison, maximal at
    # ln(b2/b1) / (s (b2 - b1)) = 25.8 Hz apart, decaying beyond; a fifth is far less rough than a semitone
    f = np.array([[440.0] * 5, [440.0, 450.0, 465.8, 490.0, 660.0]])
    r = roughness(f, np.ones_like(f))
    s = 0.24 / (0.0207 * 440 + 18.96)
    df = f[1] - f[0]
    expected = (np.exp(-3.5 * s * df) - np.exp(-5.75 * s * df)) / 4
    np.testing.assert_allclose(r, expected, rtol=1e-12)
    assert r[0] == 0 and r[2] > r[1] and r[2] > r[3] > r[4] and r[1] > r[4] * 10


def test_pure_tone_has_no_roughness_and_no_inharmonicity():
    y = _sines([440.0])
    assert _median("roughness", y) == pytest.approx(0, abs=1e-4)
    assert _median("inharmonicity", y) == pytest.approx(0, abs=0.02)


def test_consonant_chord_is_less_rough_than_a_cluster():
    major = chord((60, 64, 67), 3.0)       # C major triad of harmonic tones
    cluster = chord((60, 61, 62), 3.0)     # C, C#, D
    fifth = chord((60, 67), 3.0)
    r_major, r_cluster, r_fifth = (_median("roughness", y) for y in (major, cluster, fifth))
    assert r_fifth < r_major < r_cluster
    assert r_cluster > 1.5 * r_major


def test_harmonic_tone_is_harmonic_and_stretched_partials_are_not():
    harmonic = tone(57, 2.0)  # A3, 6 harmonics
    f0 = 220.0
    stretched = _sines([f0 * k ** 1.15 for k in range(1, 7)], amps=[1 / k for k in range(1, 7)])
    h, s = _median("inharmonicity", harmonic), _median("inharmonicity", stretched)
    assert h < 0.03
    assert s > 0.3


def test_inharmonicity_known_value():
    # partials at f0 and 2.5 f0, equal amplitude: the second is half-way between harmonics (score 1)
    f = np.array([[200.0], [500.0]])
    assert inharmonicity(f, np.ones_like(f))[0] == pytest.approx(0.5)
    assert np.isnan(inharmonicity(np.zeros((2, 1)), np.zeros((2, 1))))[0]


def test_spectral_peaks_refine_frequency():
    y = _sines([1000.0, 1234.5], amps=[1.0, 0.5])
    import librosa

    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    f, a = spectral_peaks(mag, SR, N_FFT, n_peaks=2)
    mid = f[:, 20]
    assert sorted(mid) == pytest.approx([1000.0, 1234.5], abs=2.0)  # bins are 10.8 Hz apart


def test_crest_factor_of_sine_and_square():
    t = np.arange(SR) / SR
    sine = 0.5 * np.sin(2 * np.pi * 100 * t)
    square = 0.5 * np.sign(np.sin(2 * np.pi * 100 * t + 0.1))
    n = 1 + len(t) // HOP_LENGTH
    assert np.median(crest_db(sine, N_FFT, HOP_LENGTH, n)[4:-4]) == pytest.approx(20 * np.log10(np.sqrt(2)), abs=0.01)
    assert np.median(crest_db(square, N_FFT, HOP_LENGTH, n)[4:-4]) == pytest.approx(0.0, abs=0.01)
    assert np.isnan(crest_db(np.zeros(SR), N_FFT, HOP_LENGTH, n)).all()


def test_local_key_clarity_major_minor_and_noise():
    maj = frame_features(progression("major").astype(np.float32), SR)
    mnr = frame_features(progression("minor").astype(np.float32), SR)
    noise = frame_features((0.1 * np.random.default_rng(0).standard_normal(12 * SR)).astype(np.float32), SR)
    k = lambda ff, n: float(np.nanmedian(ff.values[n][100:-100]))  # noqa: E731
    assert k(maj, "local_mode_strength") > 0 > k(mnr, "local_mode_strength")
    assert k(maj, "local_key_clarity") > k(noise, "local_key_clarity") + 0.3


def test_window_stats_known_answers():
    # clicks at 120 BPM: perfectly regular inter-onset intervals; a level step 40 dB -> 0 dB halfway:
    # half the frames are below the mean power, the dynamic range spans the step
    ff = frame_features(click_track(120, 10).astype(np.float32), SR)
    w = timbre_window_stats(ff, [(0.0, 10.0), (0.0, 0.05)])
    assert w.loc[0, "ioi_cv"] == pytest.approx(0, abs=0.05)
    assert np.isnan(w.loc[1, "ioi_cv"]) and np.isnan(w.loc[1, "mfcc_0_skew"])
    t = np.arange(8 * SR) / SR
    step = np.sin(2 * np.pi * 440 * t) * np.where(t < 4, 0.005, 0.5)
    ff = frame_features(step.astype(np.float32), SR)
    w = timbre_window_stats(ff, [(0.0, 8.0)])
    assert w.loc[0, "low_energy_rate"] == pytest.approx(0.5, abs=0.02)
    assert w.loc[0, "dynamic_range_db"] == pytest.approx(40, abs=1.0)


def test_mfcc_moments_exact():
    from neuromer.audio.features import FrameFeatures

    n = 400
    times = np.arange(n) * 0.01
    two_point = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)        # skew 0, excess kurtosis -2
    skewed = np.where(np.arange(n) % 4 == 0, 3.0, -1.0)            # 1 in 4 high: skew 2/sqrt(3)
    values = {f"mfcc_{i}": (two_point if i % 2 == 0 else skewed) for i in range(13)}
    values["rms_db"] = np.full(n, -20.0)
    ff = FrameFeatures(times=times, values=values, duration_s=n * 0.01, sr=SR, hop_length=HOP_LENGTH)
    w = timbre_window_stats(ff, [(0.0, 4.0)])
    assert w.loc[0, "mfcc_0_skew"] == pytest.approx(0, abs=1e-12)
    assert w.loc[0, "mfcc_0_kurt"] == pytest.approx(-2, abs=1e-12)
    assert w.loc[0, "mfcc_1_skew"] == pytest.approx(2 / np.sqrt(3), rel=1e-12)
    assert w.loc[0, "mfcc_1_kurt"] == pytest.approx(-2 / 3, rel=1e-9)  # m4 / var^2 - 3 = 21 / 9 - 3
    assert w.loc[0, "low_energy_rate"] == 0.0 and w.loc[0, "dynamic_range_db"] == 0.0


def test_summary_columns_and_family_map():
    table = summarize(chord((60, 64, 67), 3.0), SR, melody=False, emotion=False)
    fam_cols = [c for c in table.columns if c.startswith("audio_") and is_family_column(c[len("audio_"):])]
    assert "audio_roughness_mean" in fam_cols and "audio_mfcc_3_kurt" in fam_cols and "audio_ioi_cv" in fam_cols
    assert "audio_mfcc_3_mean" not in fam_cols
    fam = feature_families(table.columns)
    assert sorted(fam["timbre_harmony"]) == sorted(fam_cols)
    assert not set(fam_cols) & set(fam["baseline"])
    # windows of the grid: same columns
    win = summarize(chord((60, 64, 67), 3.0), SR, windows=[(0, 1), (1, 2)], melody=False, emotion=False)
    assert set(fam_cols) <= set(win.columns) and len(win) == 2
