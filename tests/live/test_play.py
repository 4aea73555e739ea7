"""neuromer play: recordings replayed as LSL streams, recorded back with neuromer record."""

import dataclasses
import threading
import time

import numpy as np
import pytest

from neuromer.cli import main
from neuromer.epochs import make_trials
from neuromer.errors import DataFormatError
from neuromer.io import read_session
from neuromer.live.play import load_tracks, play
from neuromer.live.record import record
from neuromer.protocol import read_protocol
from neuromer.io import read_trials

pylsl = pytest.importorskip("pylsl")
pyxdf = pytest.importorskip("pyxdf")


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    from neuromer.simulate import simulate_study

    return simulate_study(tmp_path_factory.mktemp("play") / "study", n_subjects=1, n_trials=2, stimulus_s=4, seed=3)


def play_and_record(tmp_path, input, prefix, **play_kwargs):
    """Record every stream whose name starts with ``prefix`` while ``input`` plays."""
    out = tmp_path / "replayed.xdf"
    n_streams = len(load_tracks(input, subject=play_kwargs.get("subject")))
    result, stop = {}, threading.Event()

    def run_recorder():
        # wait for the player's outlets, then record exactly those
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            names = [i.name() for i in pylsl.resolve_streams(0.3) if i.name().startswith(prefix)]
            if len(names) >= n_streams:
                break
        result.update(record(out, [f"name={n}" for n in names], stop_event=stop, timeout=5))

    thread = threading.Thread(target=run_recorder, daemon=True)
    thread.start()
    summary = play(input, name_prefix=prefix, wait_for_consumers_s=15, **play_kwargs)
    time.sleep(0.3)
    stop.set()
    thread.join(20)
    return summary, result, out


def test_play_study_while_recording_gives_same_trials(tmp_path, small_study):
    prefix = f"t{time.monotonic_ns()}-"
    summary, rec, out = play_and_record(tmp_path, small_study.root, prefix, speed=8.0)
    assert summary["loops"] == 1 and summary["input"].endswith("sub-01.xdf")
    pushed = {s["name"]: s["samples"] for s in summary["streams"]}
    assert {s["name"]: s["samples"] for s in rec["streams"]} == pushed
    assert all(s["gaps"] == 0 for s in rec["streams"])

    # every stream as published: same samples, markers, rates and channel descriptions
    orig = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(small_study.xdf[0]))[0]}
    got = {s["info"]["name"][0][len(prefix):]: s for s in pyxdf.load_xdf(str(out))[0]}
    assert set(got) == set(orig)
    for name, s in orig.items():
        g = got[name]
        assert float(g["info"]["nominal_srate"][0]) == float(s["info"]["nominal_srate"][0])
        assert g["info"]["type"] == s["info"]["type"]
        if s["info"]["desc"][0]:
            assert g["info"]["desc"][0]["channels"] == s["info"]["desc"][0]["channels"]
        if name == "Markers":
            assert g["time_series"] == s["time_series"]
        else:
            np.testing.assert_array_equal(g["time_series"], s["time_series"])
        # time stamps: the original spacing, compressed by the speed
        np.testing.assert_allclose(np.diff(g["time_stamps"]), np.diff(s["time_stamps"]) / 8.0, atol=2e-3)

    # trials: the same labels and stimuli, and (on the 8x faster clock) the same samples
    protocol = read_protocol(small_study.protocol)
    t = protocol.timing
    fast = dataclasses.replace(protocol, timing=dataclasses.replace(
        t, baseline_s=t.baseline_s / 8, stimulus_s=t.stimulus_s / 8, rating_s=t.rating_s / 8,
        inter_trial_s=t.inter_trial_s / 8))
    want = make_trials(read_session(small_study.xdf[0], protocol=protocol), protocol=protocol, sfreq=None)
    have = make_trials(read_session(out, protocol=fast), protocol=fast, sfreq=None)
    assert have.metadata.stimulus_id.tolist() == want.metadata.stimulus_id.tolist()
    np.testing.assert_array_equal(have.labels, want.labels)
    assert have.data.shape[:2] == want.data.shape[:2]
    n = min(have.data.shape[2], want.data.shape[2])
    eeg = [i for i, c in enumerate(want.ch_names) if want.ch_types[i] == "eeg"]
    hv = have.data[:, [have.ch_names.index(want.ch_names[i]) for i in eeg], :n]
    r = np.corrcoef(hv.ravel(), want.data[:, eeg, :n].ravel())[0, 1]
    assert r > 0.99


def test_play_deap_dat(tmp_path, small_study):
    prefix = f"d{time.monotonic_ns()}-"
    dat = small_study.deap[0]
    trials = read_trials(dat)
    summary, rec, out = play_and_record(tmp_path, dat, prefix, speed=10.0)
    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(out))[0]}
    eeg = streams[prefix + dat.stem]
    n_trials, n_ch, n_s = trials.data.shape
    assert eeg["time_series"].shape == (n_trials * n_s, n_ch)
    assert float(eeg["info"]["nominal_srate"][0]) == trials.sfreq
    # microvolts in, microvolts out (float32)
    np.testing.assert_allclose(eeg["time_series"][:n_s].T, trials.data[0], rtol=1e-5, atol=1e-3)
    labels = [c["label"][0] for c in eeg["info"]["desc"][0]["channels"][0]["channel"]]
    assert labels == list(trials.ch_names)
    markers = [row[0] for row in streams[prefix + dat.stem + "-Markers"]["time_series"]]
    sid = trials.metadata.stimulus_id.iloc[0]
    assert markers[:3] == ["trial_start", "baseline_start", f"stim_on/{sid}"]
    assert f"rating/valence/{trials.labels[0, 0]:g}" in markers


def test_loop_and_duration(small_study):
    t0 = time.monotonic()
    summary = play(small_study.xdf[0], speed=40.0, loop=True, duration_s=1.5, name_prefix=f"l{time.monotonic_ns()}-")
    assert time.monotonic() - t0 < 6
    assert summary["loops"] >= 1 and summary["duration_s"] >= 1.4
    eeg = next(s for s in summary["streams"] if s["name"].endswith("EEG"))
    assert eeg["samples"] > 38 * 512  # more than one pass


def test_stop_event(small_study):
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.monotonic()
    play(small_study.xdf[0], stop_event=stop, name_prefix=f"s{time.monotonic_ns()}-")
    assert time.monotonic() - t0 < 3


def test_bad_inputs(tmp_path, small_study, capsys):
    with pytest.raises(DataFormatError, match="file not found"):
        play(tmp_path / "missing.xdf")
    assert main(["play", str(tmp_path / "missing.xdf")]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(DataFormatError, match="no recording of subject '09'"):
        play(small_study.root, subject="09")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFormatError, match="no XDF recordings"):
        play(empty)
    with pytest.raises(Exception, match="speed"):
        play(small_study.xdf[0], speed=0)


def test_play_continuous_recording_with_annotations(tmp_path):
    import mne

    sfreq = 100.0
    data = np.vstack([np.arange(300) * 1e-6, -np.arange(300) * 1e-6, np.full(300, 2e-6), np.linspace(1, 2, 300)])
    raw = mne.io.RawArray(data, mne.create_info(["Fz", "Cz", "Pz", "GSR"], sfreq, ["eeg"] * 3 + ["gsr"]),
                          verbose="error")
    raw.set_annotations(mne.Annotations([0.5, 1.5], 0, ["stim_on/a", "stim_off/a"]))
    fif = tmp_path / "rec_raw.fif"
    raw.save(fif, verbose="error")
    prefix = f"f{time.monotonic_ns()}-"
    summary, rec, out = play_and_record(tmp_path, fif, prefix, speed=4.0)
    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(out), dejitter_timestamps=False)[0]}
    sig = streams[prefix + "rec_raw"]
    assert sig["info"]["type"] == ["EEG"] and float(sig["info"]["nominal_srate"][0]) == sfreq
    chans = sig["info"]["desc"][0]["channels"][0]["channel"]
    assert [(c["label"][0], c["type"][0], c["unit"][0] if c["unit"][0] else "") for c in chans] == [
        ("Fz", "EEG", "microvolts"), ("Cz", "EEG", "microvolts"), ("Pz", "EEG", "microvolts"), ("GSR", "GSR", "")]
    np.testing.assert_allclose(sig["time_series"][:, 0], np.arange(300), atol=1e-4)  # microvolts
    np.testing.assert_allclose(sig["time_series"][:, 3], np.linspace(1, 2, 300), rtol=1e-6)
    mk = streams[prefix + "rec_raw-Markers"]
    assert [r[0] for r in mk["time_series"]] == ["stim_on/a", "stim_off/a"]
    assert np.diff(mk["time_stamps"])[0] == pytest.approx(1.0 / 4, abs=2e-3)
    assert mk["time_stamps"][0] - sig["time_stamps"][0] == pytest.approx(0.5 / 4, abs=2e-3)


def test_folder_whose_only_xdf_is_a_directory(tmp_path):
    (tmp_path / "x.xdf").mkdir()
    with pytest.raises(DataFormatError, match="folder has no XDF recordings"):
        load_tracks(tmp_path)
