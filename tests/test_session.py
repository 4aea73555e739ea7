"""Session and Trials: the DEAP layout, MNE conversions, channel types and montage."""

import mne
import numpy as np
import pytest

from neuromer.errors import NeuromerError
from neuromer.io import read_trials, write_trials
from neuromer.session import Session, Trials, infer_channel_types

NAMES = ["Fp1", "Fp2", "F3", "F4", "hEOG", "zEMG", "GSR", "Respiration belt", "Plethysmograph", "Temperature"]


def make(n_trials=3, sfreq=128.0, seconds=5.0, dtype=np.float64):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(n_trials, len(NAMES), int(seconds * sfreq))).astype(dtype)
    labels = rng.uniform(1, 9, size=(n_trials, 4))
    return Trials(data, sfreq, NAMES, baseline_s=3.0, labels=labels, subject="07")


def test_channel_types_inferred():
    assert infer_channel_types(NAMES) == ["eeg", "eeg", "eeg", "eeg", "eog", "emg", "gsr", "resp", "bio",
                                          "temperature"]


def test_trials_layout_and_repr():
    t = make()
    assert t.data.shape == (3, 10, 640)
    assert t.times[0] == -3.0 and t.times[384] == 0.0
    assert t.stimulus_s == pytest.approx(2.0)
    assert list(t.metadata.columns[:8]) == ["trial", "stimulus_id", "onset_s", "duration_s",
                                             "valence", "arousal", "dominance", "liking"]
    assert t.labels.shape == (3, 4)
    r = repr(t)
    assert "3 trials x 10 ch x 640 samples" in r and "128 Hz" in r and "sub-07" in r
    assert list(t.picks("eeg")) == [0, 1, 2, 3]
    assert t.pick(["gsr", "bio"]).ch_names == ["GSR", "Plethysmograph"]
    assert t[[0, 2]].n_trials == 2 and t[[0, 2]].metadata.trial.tolist() == [1, 3]


def test_epochs_round_trip_scales_microvolts_to_volts():
    t = make()
    ep = t.to_epochs()
    assert isinstance(ep, mne.EpochsArray)
    assert ep.tmin == -3.0
    assert ep.get_channel_types() == infer_channel_types(NAMES)
    # EEG stored in microvolts in Trials, volts in MNE; GSR untouched
    np.testing.assert_allclose(ep.get_data()[:, 0], t.data[:, 0] * 1e-6)
    np.testing.assert_allclose(ep.get_data()[:, 6], t.data[:, 6])
    assert ep.get_montage() is not None
    pos = ep.get_montage().get_positions()["ch_pos"]
    assert "Fp1" in pos and np.all(np.isfinite(pos["Fp1"]))
    back = Trials.from_epochs(ep)
    np.testing.assert_allclose(back.data, t.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(back.labels, t.labels)
    assert back.subject == "07" and back.baseline_s == 3.0


def test_fif_save_and_read(tmp_path):
    t = make()
    path = write_trials(t, tmp_path / "s-epo.fif")
    back = read_trials(path)
    np.testing.assert_allclose(back.data, t.data, rtol=1e-6)
    assert back.metadata.stimulus_id.tolist() == t.metadata.stimulus_id.tolist()
    with pytest.raises(NeuromerError, match="refusing to overwrite"):
        write_trials(t, path)
    write_trials(t, path, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_bad_shapes_rejected():
    with pytest.raises(NeuromerError, match="3 dimensions"):
        Trials(np.zeros((2, 3)), 128, ["a", "b"])
    with pytest.raises(NeuromerError, match="channel names"):
        Trials(np.zeros((1, 2, 10)), 128, ["a"], baseline_s=0)
    with pytest.raises(NeuromerError, match="labels must have shape"):
        Trials(np.zeros((1, 1, 10)), 128, ["a"], baseline_s=0, labels=np.zeros((2, 4)))
    with pytest.raises(NeuromerError, match="baseline_s"):
        Trials(np.zeros((1, 1, 10)), 128, ["a"], baseline_s=3)
    with pytest.raises(NeuromerError, match="extension"):
        write_trials(make(), "x.csv")


def test_session_repr_and_markers():
    info = mne.create_info(["Fz", "GSR"], 100.0, ["eeg", "gsr"])
    raw = mne.io.RawArray(np.zeros((2, 1000)), info, verbose="error")
    raw.set_annotations(mne.Annotations([1.0, 2.5], [0, 0], ["a", "b"]))
    s = Session(raw, subject="01")
    assert s.markers.onset_s.tolist() == [1.0, 2.5]
    r = repr(s)
    assert "sub-01" in r and "2 ch" in r and "10.0 s" in r and "2 markers" in r
    s.add_step("filter", l_freq=1.0)
    assert s.copy().provenance["steps"] == [{"step": "filter", "l_freq": 1.0}]


def test_markers_are_relative_to_the_first_sample_when_first_samp_is_not_zero():
    info = mne.create_info(["Fz"], 256.0, ["eeg"])
    raw = mne.io.RawArray(np.zeros((1, 2560)), info, first_samp=1280, verbose="error")
    raw.set_annotations(mne.Annotations([1.0], [0], ["m"]))
    assert Session(raw).markers.onset_s.tolist() == [1.0]
