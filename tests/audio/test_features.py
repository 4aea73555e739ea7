"""Frame features: known answers on synthesised signals, shapes, bad input."""

import numpy as np
import pytest
import soundfile as sf

from neuromer.audio.features import frame_features, key_correlations, key_mode, load_audio, tempo_from_tempogram
from neuromer.errors import DataFormatError

from ._signals import MAJOR_CADENCE, MINOR_CADENCE, SR, click_track, key_piece, progression, tone


def test_click_track_tempo_is_120_bpm():
    ff = frame_features(click_track(120, 20).astype(np.float32), SR)
    tempo, clarity = tempo_from_tempogram(ff.tempogram, ff.tempogram_bpm)
    assert tempo == pytest.approx(120, abs=2)
    assert clarity > 0.5
    # local (per-frame) tempo agrees away from the edges, within the lag grid's resolution
    mid = np.nanmedian(ff.values["tempo_bpm"][100:-100])
    assert mid == pytest.approx(120, rel=0.05)


@pytest.mark.parametrize("bpm", [90, 150])
def test_click_track_other_tempi(bpm):
    ff = frame_features(click_track(bpm, 20).astype(np.float32), SR)
    assert tempo_from_tempogram(ff.tempogram, ff.tempogram_bpm)[0] == pytest.approx(bpm, abs=2)


@pytest.mark.parametrize("mode", ["major", "minor"])
def test_triad_progression_mode(mode):
    ff = frame_features(progression(mode).astype(np.float32), SR)
    chroma = np.vstack([v for k, v in ff.values.items() if k.startswith("chroma_")])
    km = key_mode(chroma)
    assert km["key"] == 0  # C
    assert km["mode"] == (1.0 if mode == "major" else 0.0)
    assert (km["mode_strength"] > 0) == (mode == "major")
    assert km["key_clarity"] > 0.6


@pytest.mark.parametrize("mode", ["major", "minor"])
def test_key_of_cadences_with_melody_in_six_keys(mode):
    """Clip-level key. With a melody over i-iv-V-i, the previous method (Krumhansl-Kessler profiles
    on the uncompressed chroma) read all six minor pieces as the parallel major."""
    for tonic in range(0 if mode == "major" else 1, 12, 2):
        y = key_piece(tonic, mode, MINOR_CADENCE if mode == "minor" else MAJOR_CADENCE, bars=8, seed=tonic)
        ff = frame_features(y, SR)
        km = key_mode(np.vstack([v for k, v in ff.values.items() if k.startswith("chroma_")]))
        assert (km["key"], km["mode"]) == (tonic, float(mode == "major")), tonic
        assert (km["mode_strength"] > 0) == (mode == "major")
        assert km["key_clarity"] > 0.8


def test_key_correlations_transpose_with_the_chroma():
    c = np.random.default_rng(0).uniform(size=12)
    r = key_correlations(c)
    assert r.shape == (24,) and np.all(np.abs(r) <= 1)
    for k in (1, 5, 11):
        rk = key_correlations(np.roll(c, k))
        np.testing.assert_allclose(rk[:12], np.roll(r[:12], k))  # major keys move with the music
        np.testing.assert_allclose(rk[12:], np.roll(r[12:], k))  # and so do minor keys
    batch = key_correlations(np.vstack([c, np.ones(12), np.full(12, np.nan)]))
    assert batch.shape == (3, 24)
    np.testing.assert_allclose(batch[0], r)
    assert np.isnan(batch[1:]).all()  # constant or missing chroma: no key evidence
    # key_mode reads the same correlations (of the square-root compressed chroma)
    km = key_mode(c)
    rs = key_correlations(np.sqrt(c))
    assert km["key_clarity"] == pytest.approx(rs.max())
    assert km["key"] == np.argmax(rs) % 12 and km["mode"] == float(np.argmax(rs) < 12)
    assert km["mode_strength"] == pytest.approx(rs[:12].max() - rs[12:].max())


def test_brightness_loudness_and_frame_times():
    dark = frame_features(tone(57, 3, harmonics=1).astype(np.float32), SR)
    bright = frame_features(tone(57, 3, harmonics=12).astype(np.float32), SR)
    assert np.nanmedian(bright.values["centroid_hz"]) > 1.5 * np.nanmedian(dark.values["centroid_hz"])
    pure = dark.values["centroid_hz"][20:-20]
    assert np.median(pure) == pytest.approx(220, rel=0.05)  # a 220 Hz sine's centroid is 220 Hz
    # RMS level: a sine of amplitude 0.3 has RMS 0.3/sqrt(2) = -13.5 dB
    assert np.median(dark.values["rms_db"][20:-20]) == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.5)
    n = len(dark.times)
    assert all(len(v) == n for v in dark.values.values())
    assert dark.times[1] - dark.times[0] == pytest.approx(512 / SR)
    assert "<FrameFeatures |" in repr(dark)


def test_noise_is_flat_and_entropic_tone_is_not():
    rng = np.random.default_rng(0)
    noise = frame_features((0.1 * rng.standard_normal(3 * SR)).astype(np.float32), SR)
    sine = frame_features(tone(69, 3, harmonics=1).astype(np.float32), SR)
    assert np.median(noise.values["flatness"]) > 0.3 > np.median(sine.values["flatness"])
    assert np.median(noise.values["entropy"]) > 0.9 > np.median(sine.values["entropy"])
    # percussive noise bursts vs a steady tone: harmonic/percussive ratio ranks them
    assert np.median(sine.values["hp_ratio_db"]) > np.median(click_features()["hp_ratio_db"])


def click_features():
    return frame_features(click_track(120, 4).astype(np.float32), SR).values


def test_silence_gives_nan_not_crash():
    ff = frame_features(np.zeros(2 * SR, dtype=np.float32), SR)
    assert np.all(np.isnan(ff.values["centroid_hz"]))
    assert np.all(ff.values["rms_db"] <= -99)
    assert np.isnan(key_mode(np.zeros(12))["key"])


def test_very_short_clip():
    ff = frame_features(tone(69, 0.05).astype(np.float32), SR)
    assert len(ff.times) >= 1 and np.isfinite(ff.values["rms_db"]).all()


def test_load_audio_resamples_mixes_and_validates(tmp_path):
    stereo = np.stack([tone(69, 1, sr=44100), tone(69, 1, sr=44100)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 44100)
    y, sr = load_audio(tmp_path / "s.wav")
    assert sr == SR and y.ndim == 1 and len(y) == SR and y.dtype == np.float32
    y2, _ = load_audio((stereo.T, 44100))  # channels-first array
    assert np.allclose(y, y2, atol=1e-4)
    yi, _ = load_audio(((tone(69, 1) * 32767).astype(np.int16), SR))
    assert np.max(np.abs(yi)) == pytest.approx(np.max(np.abs(tone(69, 1))), rel=1e-3)
    with pytest.raises(DataFormatError, match="NaN"):
        load_audio((np.array([0.0, np.nan, 0.1]), SR))
    with pytest.raises(DataFormatError, match="empty"):
        load_audio((np.array([]), SR))
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(DataFormatError, match="bad.wav"):
        load_audio(tmp_path / "bad.wav")
    with pytest.raises(Exception, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")
