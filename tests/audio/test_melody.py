"""Melody, expressive-technique and texture features on synthesised signals with known answers."""

import numpy as np
import pandas as pd
import pytest

from neuromer.audio._melody_stats import FEATURE_NAMES
from neuromer.audio.melody import Contour, f0_contour, melody_features, multi_pitch, note_events
from neuromer.errors import DataFormatError

SR = 22050


def tone(f0_hz, amp=1.0, n_harmonics=5):
    """Harmonic tone (partials 1/h) following the per-sample frequency ``f0_hz``."""
    phase = 2 * np.pi * np.cumsum(np.asarray(f0_hz, dtype=float)) / SR
    return 0.3 * amp * sum(np.sin(h * phase) / h for h in range(1, n_harmonics + 1))


def steady(hz, seconds):
    return np.full(int(round(seconds * SR)), float(hz))


def seconds(s):
    return np.arange(int(round(s * SR))) / SR


def midi_hz(m):
    return 440.0 * 2 ** ((m - 69) / 12)


def note_sequence(midis, ioi_s, fill):
    """Notes of ``fill`` * ``ioi_s`` seconds every ``ioi_s`` (silence in between), 5 ms ramps."""
    n_ioi, n_on = int(round(ioi_s * SR)), int(round(fill * ioi_s * SR))
    out = np.zeros(n_ioi * len(midis))
    ramp = np.minimum(1, np.minimum(np.arange(n_on), np.arange(n_on)[::-1]) / (0.005 * SR))
    phase = 0.0
    for i, m in enumerate(midis):
        f = np.full(n_on, midi_hz(m))
        seg = tone(f) if fill < 1 else None
        if fill >= 1:  # legato: continuous phase, no ramps between notes
            ph = phase + 2 * np.pi * np.cumsum(f) / SR
            phase = ph[-1]
            seg = 0.3 * sum(np.sin(h * ph) / h for h in range(1, 6))
        else:
            seg = seg * ramp
        out[i * n_ioi: i * n_ioi + n_on] = seg
    return out


@pytest.fixture(scope="module")
def vibrato_tone():
    t = seconds(3.0)
    return tone(440 * 2 ** (50 * np.sin(2 * np.pi * 6 * t) / 1200))


def test_steady_tone_pitch_within_5_cents():
    contour = f0_contour(tone(steady(440, 2.0)), SR)
    inner = contour.f0_hz[10:-10]
    assert contour.voiced[10:-10].all()
    assert np.max(np.abs(1200 * np.log2(inner / 440))) < 5
    assert contour.hop_s < 0.012
    assert "Contour" in repr(contour) and "voiced" in repr(contour)


def test_vibrato_rate_and_extent(vibrato_tone):
    contour = f0_contour(vibrato_tone, SR)
    notes = note_events(contour)
    assert len(notes) == 1  # vibrato must not split the note
    feats = melody_features(contour=contour, notes=notes)
    assert feats["melody_vibrato_presence"] == 1.0
    assert abs(feats["melody_vibrato_rate_hz"] - 6.0) <= 0.5
    assert abs(feats["melody_vibrato_extent_cents"] - 50.0) <= 10.0
    assert feats["melody_vibrato_coverage"] > 0.9


def test_steady_tone_has_no_vibrato():
    feats = melody_features(tone(steady(440, 3.0)), SR)
    assert feats["melody_vibrato_presence"] == 0.0
    assert np.isnan(feats["melody_vibrato_rate_hz"])
    assert feats["melody_pitch_mean"] == pytest.approx(69.0, abs=0.05)


@pytest.mark.parametrize("start, end, direction", [(220, 440, 1.0), (440, 220, -1.0)])
def test_glissando_direction_duration_extent(start, end, direction):
    glide = np.geomspace(start, end, SR)  # one octave over 1.0 s
    y = tone(np.concatenate([steady(start, 0.5), glide, steady(end, 0.5)]))
    notes = note_events(f0_contour(y, SR))
    assert len(notes) <= 3  # a glide, not a staircase of notes
    feats = melody_features(y, SR)
    assert feats["melody_glissando_direction"] == direction
    assert abs(feats["melody_glissando_duration_s"] - 1.0) <= 0.2
    assert abs(feats["melody_glissando_extent_st"] - 12.0) <= 0.5
    assert abs(feats["melody_glissando_slope_st_s"] - 12.0) <= 2.5
    assert feats["melody_glissando_presence"] > 0


def test_staccato_versus_legato():
    pitches = [60, 62, 64, 65, 67, 65, 64, 62, 60, 62, 64, 65]
    stacc = melody_features(note_sequence(pitches, 0.5, 0.3), SR)
    leg = melody_features(note_sequence(pitches, 0.5, 1.0), SR)
    assert stacc["melody_note_count"] == len(pitches)
    assert leg["melody_note_count"] == len(pitches)
    assert stacc["melody_staccato_ratio"] > 0.8 and stacc["melody_legato_ratio"] < 0.2
    assert leg["melody_staccato_ratio"] < 0.2 and leg["melody_legato_ratio"] > 0.8


@pytest.mark.parametrize("interval", [3, 6])  # minor third, tritone: no shared partials
def test_texture_one_versus_two_lines(interval):
    one = melody_features(tone(steady(440, 2.0)), SR)
    two = melody_features(tone(steady(440, 2.0)) + tone(steady(midi_hz(69 + interval), 2.0)), SR)
    assert one["texture_layers_mean"] == pytest.approx(1.0, abs=0.15)
    assert two["texture_layers_mean"] == pytest.approx(2.0, abs=0.25)
    assert two["texture_share_2"] > 0.8


def test_multi_pitch_reports_both_lines():
    times, lines = multi_pitch(tone(steady(440, 1.0)) + tone(steady(midi_hz(72), 1.0)), SR)
    assert lines.shape == (4, len(times))
    mid = np.sort(lines[:2, len(times) // 2])
    assert np.allclose(1200 * np.log2(mid / [440, midi_hz(72)]), 0, atol=15)


def test_tremolo_rate():
    t = seconds(3.0)
    y = tone(steady(440, 3.0), amp=1 + 0.5 * np.sin(2 * np.pi * 5 * t))
    feats = melody_features(y, SR)
    assert feats["tremolo_presence"] == 1.0
    assert abs(feats["tremolo_rate_hz"] - 5.0) <= 0.5
    # depth 0.5 -> +-20*log10(1.5/0.5)/2 = 4.8 dB, slightly smoothed by the 46 ms window
    assert 3.0 < feats["tremolo_extent_db"] < 5.5
    assert feats["melody_vibrato_presence"] == 0.0


def test_c_major_scale_pitches_and_direction():
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes = note_events(f0_contour(note_sequence(scale, 0.4, 0.9), SR))
    assert np.array_equal(np.round(notes["midi"].to_numpy()), scale)
    feats = melody_features(contour=f0_contour(note_sequence(scale, 0.4, 0.9), SR), notes=notes)
    assert feats["melody_direction_up"] == 1.0
    assert feats["melody_direction_down"] == 0.0
    assert feats["melody_pitch_range"] == pytest.approx(12, abs=0.1)
    assert feats["melody_register_mid"] == 1.0
    assert feats["melody_duration_medium"] == 1.0  # 0.36 s notes


def test_silence_gives_nan_not_crash():
    feats = melody_features(np.zeros(2 * SR), SR)
    assert set(feats) == set(FEATURE_NAMES)
    assert feats["melody_voiced_fraction"] == 0.0
    assert np.isnan(feats["melody_pitch_mean"]) and np.isnan(feats["melody_vibrato_rate_hz"])
    assert feats["texture_layers_mean"] == 0.0
    assert len(note_events(f0_contour(np.zeros(SR), SR))) == 0


def test_windows_one_row_per_window(vibrato_tone):
    y = np.concatenate([vibrato_tone, np.zeros(SR)])
    windows = [(0.0, 2.0), (2.0, 4.0), (3.2, 4.0), (10.0, 12.0)]
    df = melody_features(y, SR, windows=windows)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == FEATURE_NAMES
    assert len(df) == len(windows)
    assert df.loc[0, "melody_voiced_fraction"] == 1.0
    assert df.loc[0, "melody_vibrato_presence"] == 1.0
    assert df.loc[2, "melody_voiced_fraction"] == 0.0  # silent tail
    assert df.iloc[3].isna().all()  # past the end of the clip


def test_short_clip_and_input_forms():
    short = tone(steady(440, 0.05))
    df = melody_features(short, SR, windows=[(0.0, 2.0)])
    assert len(df) == 1
    y = tone(steady(440, 1.0))
    ref = f0_contour(y, SR)
    stereo = f0_contour(np.stack([y, y]), SR)
    pcm = f0_contour((y * 32767).astype(np.int16), SR)
    for other in (stereo, pcm):
        assert np.allclose(np.nanmedian(other.f0_hz), np.nanmedian(ref.f0_hz), rtol=1e-3)
    assert isinstance(ref, Contour) and ref.layers.dtype.kind == "i"


def test_nan_samples_raise():
    y = tone(steady(440, 1.0))
    y[100] = np.nan
    with pytest.raises(DataFormatError, match="NaN"):
        f0_contour(y, SR)


def test_noise_is_mostly_unvoiced():
    y = 0.1 * np.random.default_rng(0).standard_normal(2 * SR)
    assert f0_contour(y, SR).voiced.mean() < 0.1


def test_wide_slow_vibrato_stays_one_note():
    t = seconds(3.0)
    y = tone(440 * 2 ** (100 * np.sin(2 * np.pi * 4 * t) / 1200))
    notes = note_events(f0_contour(y, SR))
    assert len(notes) == 1 and np.isnan(notes["glissando_extent_st"]).all()
    assert abs(notes["vibrato_extent_cents"].iloc[0] - 100) <= 15


def test_crescendo_and_decrescendo():
    gains_db = [-18, -15, -12, -9, -6, -3, -6, -9, -12, -15, -18]
    ioi = int(0.4 * SR)
    pitches = [60, 64, 67, 64, 60, 64, 67, 64, 60, 64, 67]
    y = note_sequence(pitches, 0.4, 0.9)
    for i, g in enumerate(gains_db):
        y[i * ioi:(i + 1) * ioi] *= 10 ** (g / 20)
    notes = note_events(f0_contour(y, SR))
    assert list(notes.columns[:6]) == ["onset_s", "offset_s", "duration_s", "midi", "salience",
                                       "intensity_db"]
    assert np.allclose(np.diff(notes["intensity_db"].to_numpy())[:5], 3, atol=0.5)
    feats = melody_features(contour=f0_contour(y, SR), notes=notes)
    assert feats["melody_crescendo_count"] == 1 and feats["melody_decrescendo_count"] == 1
    assert feats["melody_crescendo_share"] == pytest.approx(6 / 11)


def test_repeated_notes_split_at_short_silences_and_tremolo_does_not_split():
    # five A4s of 0.4 s every 0.45 s: a 50 ms silence between repeats of the same pitch
    notes = note_events(f0_contour(note_sequence([69] * 5, 0.45, 0.4 / 0.45), SR))
    assert len(notes) == 5
    np.testing.assert_allclose(notes["duration_s"], 0.4, atol=0.05)
    assert np.allclose(np.round(notes["midi"]), 69)
    # a strong, fast tremolo (7 Hz, about +-6 dB) dips too, but never by 15 dB: one note
    t = seconds(2.0)
    y = tone(steady(440, 2.0), amp=1 + 0.6 * np.sin(2 * np.pi * 7 * t))
    assert len(note_events(f0_contour(y, SR))) == 1


# --- re-attacked notes of the same pitch (no silence between them) -------------------------------

def struck_notes(hz, n_notes=4, note_s=0.5, decay_db=6.0, attack_s=0.0, lead_s=0.1):
    """``n_notes`` strikes of an 8-partial tone, each decaying exponentially by ``decay_db`` over
    ``note_s`` and struck again with no gap: the level jumps back up by ``decay_db`` (instantly, or
    linearly over ``attack_s``). The phase restarts at every strike. Returns (signal, onsets)."""
    n = int(round(note_s * SR))
    t = np.arange(n) / SR
    env = 10 ** (-decay_db * t / note_s / 20)
    low = 10 ** (-decay_db / 20)
    notes = []
    for i in range(n_notes):
        e = env.copy()
        if attack_s > 0:
            k = int(round(attack_s * SR))
            e[:k] = np.linspace(0.0 if i == 0 else low, 1.0, k, endpoint=False)
        notes.append(e * tone(steady(hz, note_s), n_harmonics=8))
    y = np.concatenate([np.zeros(int(round(lead_s * SR))), *notes])
    return y, lead_s + note_s * np.arange(n_notes)


def inner_attack(contour):
    """Largest attack evidence away from the clip's first and last 5 frames (the tone's onset)."""
    return float(contour.attack_db[5:-5][contour.voiced[5:-5]].max())


@pytest.mark.parametrize("hz", [110.0, 440.0])
def test_decaying_notes_struck_again_without_silence_split(hz):
    # each note decays 6 dB and is struck again: a 6 dB jump with no dip below the decay
    y, onsets = struck_notes(hz, decay_db=6.0)
    notes = note_events(f0_contour(y, SR))
    assert len(notes) == 4
    np.testing.assert_allclose(notes["onset_s"], onsets, atol=0.03)
    np.testing.assert_allclose(notes["midi"], 69 + 12 * np.log2(hz / 440), atol=0.1)


def test_small_dip_with_sharp_attack_splits():
    # only a 3 dB dip, but the level comes back within 10 ms
    y, onsets = struck_notes(440.0, decay_db=3.0, attack_s=0.01)
    contour = f0_contour(y, SR)
    notes = note_events(contour)
    assert len(notes) == 4
    np.testing.assert_allclose(notes["onset_s"], onsets, atol=0.03)
    frames = [int(np.argmin(np.abs(contour.times - t))) for t in onsets[1:]]
    assert all(contour.attack_db[f - 2: f + 3].max() >= 1.0 for f in frames)


@pytest.mark.parametrize("rate_hz", [3.0, 5.0, 9.0])
def test_deep_tremolo_never_splits(rate_hz):
    # +-6 dB (12 dB peak to valley), the deepest tremolo in the spec, smooth and sinusoidal
    t = seconds(2.0)
    y = tone(steady(440, 2.0), amp=1 + 0.6 * np.sin(2 * np.pi * rate_hz * t), n_harmonics=8)
    contour = f0_contour(y, SR)
    notes = note_events(contour)
    assert len(notes) == 1
    assert bool(notes["tremolo"].iloc[0]) and abs(notes["tremolo_rate_hz"].iloc[0] - rate_hz) < 0.5
    assert inner_attack(contour) < 0.5


@pytest.mark.parametrize("extent_cents, rate_hz", [(100.0, 6.0), (150.0, 4.0), (100.0, 8.0)])
def test_wide_vibrato_never_splits(extent_cents, rate_hz):
    t = seconds(2.0)
    y = tone(440 * 2 ** (extent_cents * np.sin(2 * np.pi * rate_hz * t) / 1200), n_harmonics=8)
    contour = f0_contour(y, SR)
    notes = note_events(contour)
    assert len(notes) == 1
    assert bool(notes["vibrato"].iloc[0])
    assert inner_attack(contour) < 0.5


def test_steady_tone_stays_one_note_and_has_no_attack():
    contour = f0_contour(tone(steady(440, 2.0), n_harmonics=8), SR)
    assert len(note_events(contour)) == 1
    assert inner_attack(contour) < 0.1


def test_contour_without_attack_evidence_keeps_old_segmentation():
    y, _ = struck_notes(440.0, decay_db=6.0)
    c = f0_contour(y, SR)
    bare = Contour(times=c.times, f0_hz=c.f0_hz, voiced=c.voiced, salience=c.salience, rms=c.rms,
                   layers=c.layers, hop_s=c.hop_s)
    assert bare.attack_db is None
    assert len(note_events(bare)) == 1  # no dip of 15 dB: one note without attack evidence
    assert len(note_events(c)) == 4


# --- texture: lines a fifth or fourth apart, chords, single tones with odd spectra ----------------

def partials(hz, amps, seconds_=1.5):
    phase = 2 * np.pi * hz * seconds(seconds_)
    return 0.2 * sum(a * np.sin(h * phase) for h, a in enumerate(amps, 1))


SAW8 = [1 / h for h in range(1, 9)]


def line_shares(y, n_lines):
    """Share of voiced frames with ``n_lines`` lines: in Contour.layers and in multi_pitch."""
    contour = f0_contour(y, SR)
    _, lines = multi_pitch(y, SR)
    voiced = contour.voiced
    raw = np.isfinite(lines).sum(axis=0)[voiced]
    return float(np.mean(contour.layers[voiced] == n_lines)), float(np.mean(raw == n_lines)), lines


@pytest.mark.parametrize("upper_hz", [330.0, 293.33])  # a perfect fifth, a perfect fourth
def test_fifth_and_fourth_count_two_lines(upper_hz):
    layers, raw, lines = line_shares(partials(220, SAW8) + partials(upper_hz, SAW8), 2)
    assert layers >= 0.8 and raw >= 0.8
    mid = np.sort(lines[:2, lines.shape[1] // 2])
    assert np.allclose(1200 * np.log2(mid / [220, upper_hz]), 0, atol=15)


@pytest.mark.parametrize("amps", [SAW8,
                                  [1, 0, 1 / 3, 0, 1 / 5, 0, 1 / 7, 0, 1 / 9],  # odd partials only
                                  [1, 0.5, 1.5, 0.25, 0.2, 0.15]],  # strong 3rd partial
                         ids=["saw", "clarinet", "strong-3rd"])
@pytest.mark.parametrize("hz", [110.0, 220.0, 440.0])
def test_single_tone_is_one_line(amps, hz):
    layers, raw, _ = line_shares(partials(hz, amps), 1)
    assert layers >= 0.9 and raw >= 0.9


def test_major_triad_counts_three_lines():
    y = partials(220, SAW8) + partials(277.18, SAW8) + partials(329.63, SAW8)
    layers, raw, lines = line_shares(y, 3)
    assert layers >= 0.7 and raw >= 0.7
    mid = np.sort(lines[:3, lines.shape[1] // 2])
    assert np.allclose(1200 * np.log2(mid / [220, 277.18, 329.63]), 0, atol=15)


# --- wide, fast vibrato versus fast note changes --------------------------------------------------

@pytest.mark.parametrize("hz", [110.0, 220.0, 440.0])
@pytest.mark.parametrize("extent_cents, rate_hz", [(150.0, 6.0), (150.0, 8.0), (125.0, 7.0),
                                                   (100.0, 8.0)])
def test_fast_wide_vibrato_is_one_note(hz, extent_cents, rate_hz):
    # extent x rate above ~820 cents Hz: the pitch moves more than 0.6 semitone in one frame
    t = seconds(2.0)
    y = tone(hz * 2 ** (extent_cents * np.sin(2 * np.pi * rate_hz * t) / 1200))
    notes = note_events(f0_contour(y, SR))
    assert len(notes) == 1
    assert bool(notes["vibrato"].iloc[0])
    assert abs(notes["vibrato_rate_hz"].iloc[0] - rate_hz) <= 0.3
    assert abs(notes["vibrato_extent_cents"].iloc[0] - extent_cents) <= 0.15 * extent_cents


def legato_notes(midis, note_s, lead_s=0.1):
    """Notes of ``note_s`` each, phase-continuous (no level dip), after ``lead_s`` of silence.
    Returns (signal, onsets)."""
    f = np.concatenate([steady(midi_hz(m), note_s) for m in midis])
    y = np.concatenate([np.zeros(int(round(lead_s * SR))), tone(f)])
    return y, lead_s + note_s * np.arange(len(midis))


@pytest.mark.parametrize("base", [57, 69])
def test_fast_semitone_steps_split(base):
    midis = [base + i for i in range(10)]
    y, onsets = legato_notes(midis, 0.09)
    notes = note_events(f0_contour(y, SR))
    assert len(notes) == len(midis)
    np.testing.assert_allclose(notes["onset_s"], onsets, atol=0.025)
    np.testing.assert_allclose(notes["midi"], midis, atol=0.2)


@pytest.mark.parametrize("base", [57, 69])
@pytest.mark.parametrize("interval", [1, 2])
@pytest.mark.parametrize("notes_per_s", [8, 10])
def test_trill_notes_split(base, interval, notes_per_s):
    midis = [base, base + interval] * 8
    y, onsets = legato_notes(midis, 1 / notes_per_s)
    notes = note_events(f0_contour(y, SR))
    assert len(notes) == len(midis)
    np.testing.assert_allclose(notes["onset_s"], onsets, atol=0.025)
    np.testing.assert_allclose(notes["midi"], midis, atol=0.2)


@pytest.mark.parametrize("first, second", [(69, 71), (71, 69), (57, 59), (59, 57)])
def test_note_change_within_vibrato_splits(first, second):
    # +-50 cents at 6 Hz throughout, a 2-semitone step after 1 s
    t = seconds(2.0)
    midi = np.where(t < 1.0, first, second) + 0.5 * np.sin(2 * np.pi * 6 * t)
    y = np.concatenate([np.zeros(int(0.1 * SR)), tone(midi_hz(midi))])
    notes = note_events(f0_contour(y, SR))
    assert len(notes) == 2
    np.testing.assert_allclose(notes["onset_s"], [0.1, 1.1], atol=0.025)
    np.testing.assert_allclose(notes["midi"], [first, second], atol=0.2)
    assert notes["vibrato"].all()


@pytest.mark.parametrize("n_frames", [2, 6, 12, 20])
def test_short_steep_pieces_do_not_break_segmentation(n_frames):
    """A voiced run shorter than the glide smoother (13 frames) used to index past its end."""
    from neuromer.audio.melody import _boxcar

    assert len(_boxcar(np.arange(5.0), 13)) == 5
    hop = 256 / 22050
    n = n_frames + 20
    f0 = np.full(n, np.nan)
    f0[10:10 + n_frames] = 220.0 * 2 ** (np.linspace(0, 4, n_frames) / 12)  # 4 semitones, steep
    voiced = np.isfinite(f0)
    c = Contour(times=np.arange(n) * hop, f0_hz=f0, voiced=voiced, salience=np.where(voiced, 0.9, 0.0),
                rms=np.where(voiced, 0.1, 1e-4), layers=voiced.astype(int), hop_s=hop)
    notes = note_events(c)
    assert len(notes) <= 2 and (notes["duration_s"] <= n_frames * hop + 1e-9).all()


def vibrato_melody(seed, extent_cents=100.0, rate_hz=6.0, n_notes=6, note_s=0.5, lead_s=0.1):
    """Legato notes of ``note_s``, steps of +-2 to +-5 semitones, each note with its own vibrato
    phase. Returns (signal, onsets, midis)."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(2, 6, n_notes - 1) * rng.choice([-1, 1], n_notes - 1)
    midis = rng.integers(55, 70) + np.concatenate([[0], np.cumsum(steps)])
    phases = rng.uniform(0, 2 * np.pi, n_notes)
    t = seconds(n_notes * note_s)
    k = np.minimum((t / note_s).astype(int), n_notes - 1)
    midi = midis[k] + extent_cents / 100 * np.sin(2 * np.pi * rate_hz * t + phases[k])
    y = np.concatenate([np.zeros(int(round(lead_s * SR))), tone(midi_hz(midi))])
    return y, lead_s + note_s * np.arange(n_notes), midis


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("rate_hz", [6.0, 7.0])
def test_note_changes_within_wide_vibrato_onsets(seed, rate_hz):
    # +-100 cents: where the swing runs against the step no fast transition is clear, and the
    # change is placed where the pitch averaged over one vibrato period steps
    y, onsets, midis = vibrato_melody(seed, rate_hz=rate_hz)
    notes = note_events(f0_contour(y, SR))
    assert len(notes) == len(midis)
    np.testing.assert_allclose(notes["onset_s"], onsets, atol=0.03)
    np.testing.assert_allclose(notes["midi"], midis, atol=0.3)
