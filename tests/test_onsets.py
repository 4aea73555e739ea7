"""Onset refinement from a recorded sound: planted offsets recovered to the sub-millisecond."""

import warnings

import mne
import numpy as np
import pandas as pd
import pytest
import scipy.signal
import soundfile as sf

from neuromer.errors import NeuromerError
from neuromer.onsets import RecordedSound, read_recorded_sound, refine_onsets, refine_session_onsets
from neuromer.session import Session

SR = 22050


def _truth(study, sub="01"):
    t = pd.read_csv(study.ground_truth, dtype={"subject": str})
    return t[t.subject == sub].set_index("stimulus_id")


def test_xdf_stream_onsets_within_1ms(study, study_protocol):
    """The simulator's StimAudio stream (1024 Hz): every onset within 1 ms, mean latency within 1 ms."""
    from neuromer.io.xdf import read_xdf

    for k, path in enumerate(study.xdf):
        s = read_xdf(path, protocol=study_protocol)
        assert "StimAudio" not in s.raw.ch_names  # an audio stream is not put on the EEG grid
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no weak match
            s = refine_session_onsets(s, "stimaudio")
        truth = _truth(study, f"{k + 1:02d}").loc[s.trials.stimulus_id]
        true_onset = truth.onset_s.to_numpy() + truth.onset_offset_s.to_numpy()
        assert np.all(s.trials.onset_refined)
        assert np.abs(s.trials.onset_s.to_numpy() - true_onset).max() < 1e-3
        np.testing.assert_allclose(s.trials.marker_onset_s, truth.onset_s, atol=3 / 512)
        assert abs(s.trials.onset_offset_s.mean() - truth.onset_offset_s.mean()) < 1e-3
        assert (s.trials.onset_confidence > 3).all()
        assert s.provenance["steps"][-1]["step"] == "refine_onsets"


def _session_with_sound(tmp_path, sfreq, offsets_s, *, invert=False, silent_trial=None, seed=0):
    """A Raw at ``sfreq`` with an 'Erg1' misc channel holding stimuli that start ``offsets_s``
    after their markers; made by integer delays at 22050 Hz and scipy's polyphase resampler
    (not the soxr path neuromer uses), so the test does not check neuromer against itself."""
    from neuromer.simulate import synthesize_music

    rng = np.random.default_rng(seed)
    markers = 2.0 + 8.0 * np.arange(len(offsets_s))
    total_s = markers[-1] + 8.0
    y_all = np.zeros(int(total_s * SR))
    stimuli = {}
    for k, (m, off) in enumerate(zip(markers, offsets_s)):
        y = synthesize_music(duration_s=4.0, tempo_bpm=90 + 10 * k, mode="major", loudness_db=-18,
                             brightness=0.5, articulation=0.7, seed=k)
        path = tmp_path / f"st{k}.wav"
        sf.write(path, y, SR, subtype="FLOAT")
        stimuli[f"st{k}"] = path
        if k != silent_trial:
            i0 = int(round((m + off) * SR))
            y_all[i0:i0 + len(y)] += y
    from fractions import Fraction

    fr = Fraction(sfreq / SR).limit_denominator(100000)
    rec = scipy.signal.resample_poly(y_all, fr.numerator, fr.denominator)
    rec = (-1 if invert else 1) * 0.3 * rec + rng.normal(0, 1e-3, len(rec))
    eeg = rng.normal(0, 1e-5, (2, len(rec)))
    raw = mne.io.RawArray(np.vstack([eeg, rec]), mne.create_info(["Cz", "Pz", "Erg1"], sfreq,
                                                                  ["eeg", "eeg", "misc"]), verbose="error")
    trials = pd.DataFrame({"trial": np.arange(1, len(markers) + 1), "stimulus_id": list(stimuli),
                           "onset_s": markers, "duration_s": 4.0})
    return Session(raw, trials=trials), stimuli, markers


def test_eeg_rate_channel_within_one_sample(tmp_path):
    offsets = np.array([0.0053, 0.0318, 0.0791, 0.0462])  # 5-80 ms, not on the 512 Hz grid
    session, stimuli, markers = _session_with_sound(tmp_path, 512.0, offsets, invert=True)
    sound = read_recorded_sound(session, "erg1")
    assert sound.sfreq == 512.0 and sound.name == "Erg1"
    out = refine_onsets(session.trials, sound, stimuli)
    np.testing.assert_allclose(out.onset_s, markers + offsets, atol=1 / 512)
    np.testing.assert_allclose(out.onset_offset_s, offsets, atol=1 / 512)
    assert abs(out.onset_offset_s.mean() - offsets.mean()) < 1e-3
    np.testing.assert_array_equal(out.marker_onset_s, markers)


def test_envelope_method_and_2khz(tmp_path):
    offsets = np.array([0.012, 0.066, 0.035])
    session, stimuli, markers = _session_with_sound(tmp_path, 2048.0, offsets, seed=1)
    sound = read_recorded_sound(session, "Erg1")
    fine = refine_onsets(session.trials, sound, stimuli)
    assert np.abs(fine.onset_s - (markers + offsets)).max() < 0.5e-3
    coarse = refine_onsets(session.trials, sound, stimuli, method="envelope")
    assert np.abs(coarse.onset_s - (markers + offsets)).max() < 5e-3


def test_weak_match_keeps_marker_with_warning(tmp_path):
    offsets = np.array([0.02, 0.05, 0.03])
    session, stimuli, markers = _session_with_sound(tmp_path, 1024.0, offsets, silent_trial=1)
    sound = read_recorded_sound(session, "Erg1")
    with pytest.warns(RuntimeWarning, match=r"trial 2 \(stimulus 'st1'\): weak match"):
        out = refine_onsets(session.trials, sound, stimuli)
    assert out.onset_refined.tolist() == [True, False, True]
    assert out.onset_s[1] == markers[1] and np.isnan(out.onset_offset_s[1])
    assert abs(out.onset_s[0] - markers[0] - 0.02) < 1e-3


def test_bad_input(tmp_path):
    session, stimuli, _ = _session_with_sound(tmp_path, 1024.0, [0.02])
    with pytest.raises(NeuromerError, match=r"no channel or stream named 'Mic'.*Erg1"):
        read_recorded_sound(session, "Mic")
    slow = RecordedSound(np.zeros(1280), np.arange(1280) / 128.0, 128.0, "AUX")
    with pytest.raises(NeuromerError, match=r"'AUX' is sampled at 128 Hz"):
        refine_onsets(session.trials, slow, stimuli)
    sound = read_recorded_sound(session, "Erg1")
    with pytest.raises(NeuromerError, match="trial 1: stimulus 'st0' has no audio file"):
        refine_onsets(session.trials, sound, {})
    late = session.trials.assign(onset_s=1e4)
    with pytest.warns(RuntimeWarning, match="does not cover the search span"):
        out = refine_onsets(late, sound, stimuli)
    assert not out.onset_refined.any()
