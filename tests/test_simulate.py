"""The simulator: deterministic files, and XDF and DEAP outputs that agree with each other."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from neuromer.epochs import make_trials
from neuromer.errors import NeuromerError
from neuromer.io.deap import read_deap
from neuromer.io.xdf import read_xdf
from neuromer.simulate import simulate_study


def digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical_files(tmp_path):
    a = simulate_study(tmp_path / "a", n_subjects=1, n_trials=2, stimulus_s=4.0, seed=3)
    b = simulate_study(tmp_path / "b", n_subjects=1, n_trials=2, stimulus_s=4.0, seed=3)
    c = simulate_study(tmp_path / "c", n_subjects=1, n_trials=2, stimulus_s=4.0, seed=4)
    da, db, dc = digest(a.root), digest(b.root), digest(c.root)
    assert set(da) == {"protocol.toml", "ground_truth.csv", "stimuli/stim01.wav", "stimuli/stim02.wav",
                       "xdf/sub-01.xdf", "deap/s01.dat"}
    assert da == db
    assert da["xdf/sub-01.xdf"] != dc["xdf/sub-01.xdf"]


def test_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(NeuromerError, match="refusing to overwrite"):
        simulate_study(tmp_path / "x", n_subjects=1, n_trials=1)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_ground_truth_and_protocol(study, study_protocol):
    truth = pd.read_csv(study.ground_truth, dtype={"subject": str})
    assert len(truth) == 2 * 4 and set(truth.subject) == {"01", "02"}
    assert set(truth.quadrant) == {"Q1", "Q2", "Q3", "Q4"}
    # ratings are noisy readings of the planted emotion
    assert np.corrcoef(truth.planted_valence, truth.valence)[0, 1] > 0.6
    assert np.corrcoef(truth.planted_arousal, truth.arousal)[0, 1] > 0.6
    assert len(study_protocol.stimuli) == 4 and all(s.file.is_file() for s in study_protocol.stimuli)
    q1 = [s for s in study_protocol.stimuli if s.meta["quadrant"] == "Q1"][0]
    assert q1.meta["mode"] == "major" and q1.meta["valence"] > 5 and q1.meta["arousal"] > 5


def test_xdf_session_has_typed_channels_montage_and_markers(study, study_protocol):
    s = read_xdf(study.xdf[0], protocol=study_protocol, subject="01")
    types = dict(zip(s.raw.ch_names, s.raw.get_channel_types()))
    assert sum(t == "eeg" for t in types.values()) == 32
    assert types["hEOG"] == "eog" and types["zEMG"] == "emg" and types["GSR"] == "gsr"
    assert types["Respiration belt"] == "resp" and types["Plethysmograph"] == "bio"
    assert types["Temperature"] == "temperature"
    assert s.sfreq == pytest.approx(512.0, rel=1e-4)
    assert s.raw.get_montage() is not None
    assert len(s.trials) == 4
    truth = pd.read_csv(study.ground_truth, dtype={"subject": str}).query("subject == '01'")
    # the EEG stream had a 0.25 s clock offset: after synchronisation onsets match the truth
    np.testing.assert_allclose(s.trials.onset_s, truth.onset_s, atol=3 / 512)
    assert s.trials.stimulus_id.tolist() == truth.stimulus_id.tolist()
    np.testing.assert_array_equal(s.trials.valence, truth.valence)


def test_make_trials_from_xdf_matches_simulated_deap(study, study_protocol):
    """The pipeline's own cut (XDF -> Session -> make_trials) equals the simulator's DEAP file."""
    for xdf, dat in zip(study.xdf, study.deap):
        ours = make_trials(read_xdf(xdf, protocol=study_protocol), protocol=study_protocol)
        deap = read_deap(dat)
        assert ours.sfreq == deap.sfreq == 128.0 and ours.baseline_s == deap.baseline_s == 3.0
        assert ours.data.shape[1:] == deap.data.shape[1:] == (40, 11 * 128)
        order = [ours.metadata.stimulus_id.tolist().index(s) for s in deap.metadata.stimulus_id]
        np.testing.assert_array_equal(ours.labels[order], deap.labels)
        a, b = ours.data[order], deap.data
        idx = {n: i for i, n in enumerate(ours.ch_names)}
        for j, name in enumerate(deap.ch_names):
            x, y = a[:, idx[name]], b[:, j]
            # within resampling tolerance (MNE's FFT resampler vs polyphase; edges excluded)
            x, y = x[:, 32:-32], y[:, 32:-32]
            err = np.sqrt(np.mean((x - y) ** 2)) / (np.std(y) + 1e-12)
            limit = 0.05 if deap.ch_types[j] == "eeg" else 0.25
            assert err < limit, (name, err)


# ----------------------------------------------------------------------------- stimuli
def test_pure_rendering_is_unchanged():
    """``realism=False`` (the default) is the clean-tone signal the known-answer audio tests rely on."""
    from neuromer.simulate import synthesize_music

    y = synthesize_music(duration_s=3.0, tempo_bpm=97.5, mode="minor", loudness_db=-20, brightness=0.4,
                         articulation=0.7, seed=7)
    # samples of the rendering before the realism layer existed (neuromer c872171)
    assert y[[1000, 20000, 50000]] == pytest.approx([0.09674357142329874, -0.02958984447538738,
                                                     -0.09515920706016776], abs=1e-12)
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(0.1, rel=1e-9)  # -20 dB FS


def _produced(**kw):
    from neuromer.simulate import synthesize_music

    args = dict(duration_s=6.0, tempo_bpm=110.0, mode="major", loudness_db=-18.0, brightness=0.5,
                articulation=0.7, seed=4, realism=True, percussion=0.5, dissonance=0.0, distortion=0.0,
                density=0.0, roughness=0.0)
    args.update(kw)
    return synthesize_music(**args)


def test_produced_rendering_is_deterministic_level_and_peak():
    a, b, c = _produced(), _produced(), _produced(seed=5)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(a) == 6 * 22050
    assert 20 * np.log10(np.sqrt(np.mean(a ** 2))) == pytest.approx(-18.0, abs=0.05)
    assert np.max(np.abs(_produced(loudness_db=-6.0, percussion=1.0))) < 0.98  # the limiter holds peaks


@pytest.mark.parametrize("bad", [{"percussion": 1.5}, {"dissonance": -0.1}, {"distortion": 2}, {"density": -1},
                                 {"roughness": 1.01}, {"mode": "dorian"}])
def test_produced_rendering_rejects_bad_controls(bad):
    with pytest.raises(NeuromerError, match=next(iter(bad))):
        _produced(**bad)


def test_produced_controls_move_their_cues():
    """Each realism control moves the audio cues it is documented to move (clip summaries)."""
    from neuromer.audio.summary import summarize

    def cues(**kw):
        return summarize(_produced(**kw), 22050, melody=False, emotion=False).iloc[0]

    base, no_kit, full_kit = cues(), cues(percussion=0.0), cues(percussion=1.0)
    # the drum kit: more percussive energy, more onsets, more spectral flux
    assert no_kit.audio_hp_ratio_db_mean - full_kit.audio_hp_ratio_db_mean > 3.0
    assert full_kit.audio_onset_rate - no_kit.audio_onset_rate > 2.0
    assert full_kit.audio_flux_mean > base.audio_flux_mean > no_kit.audio_flux_mean
    # overdrive fills the spectrum: higher entropy, lower contrast at 400-800 Hz
    driven = cues(distortion=1.0)
    assert driven.audio_entropy_mean > base.audio_entropy_mean + 0.01
    assert driven.audio_contrast_2_mean < base.audio_contrast_2_mean - 1.0
    # roughness: noisy mids (lower contrast 0.8-1.6 kHz), a noisier spectrum
    rough = cues(roughness=1.0)
    assert rough.audio_contrast_3_mean < base.audio_contrast_3_mean - 2.0
    assert rough.audio_entropy_mean > base.audio_entropy_mean + 0.03
    # dissonance: loose timing blurs the pulse
    assert cues(dissonance=1.0).audio_pulse_clarity < base.audio_pulse_clarity - 0.08


@pytest.mark.slow
def test_study_stimuli_are_read_right_by_the_default_predictor():
    """The study's stimuli sound like recordings to the predictor fitted on real music (4QAED).

    Their cues lie near real music's, and the predicted valence, arousal and quadrant follow the
    planted ones (bench/sim_realism.py prints the same figures for the demo's study).
    """
    from neuromer.audio.default_model import load_default_model
    from neuromer.audio.emotion import quadrant
    from neuromer.audio.summary import summarize
    from neuromer.simulate import _cues, _plan_stimuli, synthesize_music

    table = _plan_stimuli(16, np.random.default_rng(5))
    rows = pd.DataFrame([summarize(synthesize_music(duration_s=10.0, seed=int(st.audio_seed), realism=True,
                                                    **_cues(st)), 22050, melody=False).iloc[0]
                         for _, st in table.iterrows()])
    for cue in load_default_model()["cues"]:
        z = (rows[cue["column"]].astype(float) - cue["mean"]) / cue["scale"]
        assert abs(z.mean()) < 1.5 and np.abs(z).max() < 4.0, (cue["column"], z.round(1).tolist())
    val, aro = rows.audio_pred_valence.astype(float), rows.audio_pred_arousal.astype(float)
    assert np.corrcoef(val, table.valence)[0, 1] > 0.4
    assert np.corrcoef(aro, table.arousal)[0, 1] > 0.8
    assert np.mean(quadrant(val, aro) == table.quadrant.to_numpy()) >= 0.5  # chance 0.25
