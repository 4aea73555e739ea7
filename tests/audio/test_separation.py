"""REPET-SIM separation: a non-repeating lead over a repeating accompaniment."""

import numpy as np
import pytest

from neuromer.audio import audio_features, separate_vocals

from ._signals import SR, progression, tone


def _lead(dur_s):
    """A melody that never repeats: a slow random walk of long vibrato notes."""
    rng = np.random.default_rng(0)
    t = np.arange(int(dur_s * SR)) / SR
    steps = rng.integers(-5, 6, size=int(np.ceil(dur_s / 0.75)) + 1)
    midi = 72 + np.repeat(steps, int(0.75 * SR))[: len(t)]
    f0 = 440 * 2 ** ((midi - 69 + 0.5 * np.sin(2 * np.pi * 6 * t)) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    return 0.2 * (np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase))


@pytest.fixture(scope="module")
def mix():
    backing = progression("major", bars=8, bar_s=1.5)  # the same four bars twice: it repeats
    lead = _lead(len(backing) / SR)
    return lead, backing, lead + backing


def _corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def test_separated_parts_follow_their_sources(mix):
    lead, backing, y = mix
    vocals, accomp = separate_vocals(y.astype(np.float32), SR)
    assert vocals.shape == accomp.shape == y.shape
    assert _corr(vocals, lead) > 0.6 > _corr(vocals, backing)
    assert _corr(accomp, backing) > 0.6 > _corr(accomp, lead)


def test_vocal_melody_features(mix, tmp_path):
    import soundfile as sf

    _, _, y = mix
    path = tmp_path / "mix.wav"
    sf.write(path, y, SR)
    table = audio_features(path, vocal=True)
    assert table["audio_vocal_melody_vibrato_rate_hz"].iloc[0] == pytest.approx(6, abs=0.5)
    assert table["audio_vocal_melody_voiced_fraction"].iloc[0] > 0.5
    assert "audio_melody_voiced_fraction" in table and "audio_texture_layers_mean" in table


def test_too_short_to_repeat_returns_everything_as_vocal():
    y = tone(69, 1.0).astype(np.float32)
    vocals, accomp = separate_vocals(y, SR)
    assert np.allclose(vocals, y) and not accomp.any()
