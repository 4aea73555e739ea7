"""NaN/infinite samples stay local: repair_nonfinite, make_trials, preprocess and the epochs command."""

import logging

import mne
import numpy as np
import pytest

from neuromer.badsamples import BAD_NONFINITE, nonfinite_mask, repair_nonfinite
from neuromer.epochs import make_trials
from neuromer.preprocess import preprocess
from neuromer.protocol import Protocol, Stimulus, Timing
from neuromer.session import Session

SFREQ = 256.0
PROTO = Protocol(name="t", timing=Timing(baseline_s=1.0, stimulus_s=4.0), stimuli=(Stimulus("a"), Stimulus("c")))
EVENTS = [(3.0, "stim_on/a"), (7.0, "stim_off/a"), (8.0, "rating/valence/7"),
          (11.0, "stim_on/c"), (15.0, "stim_off/c"), (16.0, "rating/valence/2")]


def warned(caplog, text):
    return any(r.levelno >= logging.WARNING and text in r.getMessage() for r in caplog.records)


def session(damage=None, seconds=40.0, n_eeg=2):
    """Fz carries time (µV), Cz a 10 Hz sine (with n_eeg > 2: all EEG is noise), a GSR ramp.
    ``damage``: {channel index: [(start_s, stop_s, value)]}."""
    n = int(SFREQ * seconds)
    t = np.arange(n) / SFREQ
    rng = np.random.default_rng(0)
    rows = [t * 1e-6, np.sin(2 * np.pi * 10 * t) * 1e-6]
    if n_eeg > 2:  # like channels, for the bad-channel detection
        rows = [rng.normal(0, 1e-6, n) for _ in range(n_eeg)]
    data = np.vstack(rows + [t])
    names = ["Fz", "Cz", "Pz", "Oz", "C3", "C4"][:n_eeg] + ["GSR"]
    for ch, spans in (damage or {}).items():
        for a, b, value in spans:
            data[ch, int(round(a * SFREQ)):int(round(b * SFREQ))] = value
    raw = mne.io.RawArray(data, mne.create_info(names, SFREQ, ["eeg"] * n_eeg + ["gsr"]), verbose="error")
    raw.set_annotations(mne.Annotations([e[0] for e in EVENTS], 0, [e[1] for e in EVENTS]))
    return Session(raw, subject="01", provenance={"source_files": ["rec.xdf"]})


def test_repair_interpolates_short_runs_and_annotates_long_ones(caplog):
    n = 4096
    x = np.arange(n, dtype=float)
    y = np.cos(np.arange(n) / 50.0)
    x[100:105] = np.nan       # 5 samples = 19.5 ms: interpolated (max 50 ms = 12 samples at 256 Hz)
    x[0:3] = np.inf           # at the start: the first finite value held
    x[1000:1100] = -np.inf    # 100 samples = 0.39 s: annotated
    y[2000:2013] = np.nan     # 13 samples = 50.8 ms: just too long
    raw = mne.io.RawArray(np.vstack([x, y]), mne.create_info(["Fz", "Cz"], SFREQ, "eeg"), verbose="error")
    report = repair_nonfinite(raw, source="rec.xdf")
    assert report == {"n_nonfinite": 121, "channels": {"Fz": 108, "Cz": 13}, "interpolated_runs": 2,
                      "interpolated_samples": 8, "bad_runs": 2, "bad_samples": 113, "all_nonfinite": [],
                      "max_interp_s": 0.05}
    data = raw.get_data()
    assert np.isfinite(data).all()
    np.testing.assert_array_equal(data[0, 100:105], np.arange(100, 105))  # straight line on a ramp
    np.testing.assert_array_equal(data[0, :3], [3, 3, 3])
    np.testing.assert_array_equal(data[0, 1000:1100], np.arange(1000, 1100))  # filled for filters
    ann = raw.annotations
    assert list(ann.description) == [BAD_NONFINITE] * 2
    np.testing.assert_allclose(ann.onset, [1000 / SFREQ, 2000 / SFREQ])
    np.testing.assert_allclose(ann.duration, [100 / SFREQ, 13 / SFREQ])
    assert [tuple(c) for c in ann.ch_names] == [("Fz",), ("Cz",)]
    mask = nonfinite_mask(raw, ["Fz", "Cz"])
    assert mask.sum() == 113 and mask[0, 1000:1100].all() and mask[1, 2000:2013].all()
    assert warned(caplog, "rec.xdf: NaN or infinite samples: 121 in 2 channel(s) (Fz: 108, Cz: 13); 2 run(s) "
                          "of <= 50 ms interpolated linearly; 2 longer run(s) (113 samples) marked BAD_nonfinite")
    clean = mne.io.RawArray(np.ones((1, 10)), mne.create_info(["Fz"], SFREQ, "eeg"), verbose="error")
    assert repair_nonfinite(clean)["n_nonfinite"] == 0 and len(clean.annotations) == 0


def test_one_bad_sample_outside_the_trials_changes_nothing(caplog):
    clean = make_trials(session(), protocol=PROTO, sfreq=128.0)
    damaged = session({1: [(30.0, 30.0 + 1 / SFREQ, np.inf)], 2: [(33.0, 33.01, np.nan)]})
    trials = make_trials(damaged, protocol=PROTO, sfreq=128.0)
    assert np.isfinite(trials.data).all()  # was: Cz and GSR NaN in every trial
    np.testing.assert_array_equal(trials.data[:, 0], clean.data[:, 0])  # untouched channel: bit-identical
    # damaged channels: the FFT resampling is global, so they differ only by the interpolation's echo
    np.testing.assert_allclose(trials.data[:, 1], clean.data[:, 1], atol=1e-6)
    np.testing.assert_allclose(trials.data[:, 2], clean.data[:, 2], atol=1e-9)
    assert warned(caplog, "NaN or infinite samples: 4 in 2 channel(s) (Cz: 1, GSR: 3); 2 run(s)")
    assert np.isinf(damaged.raw.get_data()[1]).sum() == 1  # the session itself is not changed
    # without resampling the samples of the other trials are exactly the clean ones
    same = make_trials(damaged, protocol=PROTO, sfreq=None)
    np.testing.assert_array_equal(same.data, make_trials(session(), protocol=PROTO, sfreq=None).data)


def test_long_run_inside_a_trial_is_nan_only_there():
    clean = make_trials(session(), protocol=PROTO, sfreq=None)
    damaged = session({1: [(4.0, 4.5, np.nan)]})  # Cz, 0.5 s inside trial 1 (cut 2-7 s)
    for rate in (None, 128.0):
        trials = make_trials(damaged, protocol=PROTO, sfreq=rate)
        sr = trials.sfreq
        bad = np.isnan(trials.data)
        assert bad[:, [0, 2]].sum() == 0 and bad[1].sum() == 0  # other channels, other trial
        np.testing.assert_array_equal(np.flatnonzero(bad[0, 1]), np.arange(int(2.0 * sr), int(2.5 * sr)))
        if rate is None:
            np.testing.assert_array_equal(trials.data[1], clean.data[1])
            np.testing.assert_array_equal(trials.data[0, [0, 2]], clean.data[0, [0, 2]])
            keep = ~bad[0, 1]
            np.testing.assert_array_equal(trials.data[0, 1, keep], clean.data[0, 1, keep])


def test_preprocess_keeps_bad_samples_local():
    damaged = session({1: [(30.0, 30.01, np.nan), (4.0, 4.5, np.inf)]}, n_eeg=6)
    out = preprocess(damaged, eog=None)
    assert out.raw.info["bads"] == []  # a few bad samples do not make a bad channel
    step = next(s for s in out.provenance["steps"] if s["step"] == "bad_samples")
    assert step["n_nonfinite"] == 3 + 128 and step["bad_runs"] == 1 and step["interpolated_runs"] == 1
    trials = make_trials(out, protocol=PROTO, sfreq=None)
    bad = np.isnan(trials.data)
    assert bad[1].sum() == 0 and bad[0, 1].sum() == 64 and bad[0].sum() == 64  # 0.5 s of Cz at 128 Hz
    mostly = session({1: [(0.0, 30.0, np.nan)]}, n_eeg=6)
    out = preprocess(mostly, eog=None)
    step = next(s for s in out.provenance["steps"] if s["step"] == "bad_channels")
    assert step["nonfinite"] == ["Cz"]
    # Cz was rebuilt from its neighbours (no montage here: it stays bad, NaN where it was missing)
    trials = make_trials(out, protocol=PROTO, sfreq=None)
    assert np.isnan(trials.data[:, 1]).all() and np.isfinite(trials.data[:, [0, 2, 3, 4, 5, 6]]).all()


def test_epochs_command_keeps_one_inf_local(study, tmp_path, capsys):
    from xdf_damage import plant_in_eeg

    from neuromer.cli import main
    from neuromer.io import read_trials

    damaged = tmp_path / "sub-01.xdf"
    plant_in_eeg(study.xdf[0], damaged, float("inf"), samples={100})  # before the first trial
    assert main(["epochs", str(study.xdf[0]), "--protocol", str(study.protocol),
                 "--out", str(tmp_path / "clean-epo.fif")]) == 0
    capsys.readouterr()
    assert main(["epochs", str(damaged), "--protocol", str(study.protocol),
                 "--out", str(tmp_path / "damaged-epo.fif")]) == 0
    err = capsys.readouterr().err
    assert "NaN or infinite samples: 32 in 32 channel(s)" in err
    assert "32 run(s) of <= 50 ms interpolated linearly." in err and "longer" not in err
    clean, trials = read_trials(tmp_path / "clean-epo.fif"), read_trials(tmp_path / "damaged-epo.fif")
    assert np.isfinite(trials.data).all()  # was: every EEG channel NaN in every trial, exit 0, no warning
    eeg = [i for i, t in enumerate(trials.ch_types) if t == "eeg"]
    other = [i for i, t in enumerate(trials.ch_types) if t != "eeg"]
    np.testing.assert_array_equal(trials.data[:, other], clean.data[:, other])
    np.testing.assert_allclose(trials.data[:, eeg], clean.data[:, eeg], atol=0.05)  # µV; FFT resampling echo
    assert main(["info", str(damaged)]) == 0
    out = capsys.readouterr().out
    assert "NaN/inf samples: 32 in 32 channel(s): Fp1 (1), AF3 (1)" in out
