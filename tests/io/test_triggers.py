"""Trigger channels and numeric codes of real file formats (BDF Status, FIF stim, BrainVision, EDF)."""

from __future__ import annotations

import sys
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest

from neuromer.cli import main
from neuromer.epochs import make_trials, trials_from_markers
from neuromer.errors import DataFormatError, MarkerError, ProtocolError
from neuromer.io import read_any_trials, read_session
from neuromer.io.mne_formats import read_raw_any
from neuromer.io.triggers import apply_code_table, explain_unmatched, marker_code, trigger_events
from neuromer.protocol import read_protocol

sys.path.insert(0, str(Path(__file__).parent))
from bdf_writer import write_bdf  # noqa: E402

SF = 128
EEG16 = ["Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "Fp2", "AF4", "F4", "F8", "FC6", "FC2", "C4", "T8"]
FLAGS = 0xFF0000  # BioSemi status bits 16-23 (new epoch, speed mode, CMS in range, battery)


def _status(codes_at: dict[float, int], n: int, flags: int = FLAGS, width_s: float = 0.05) -> np.ndarray:
    """A 24-bit Status channel as the BDF stores it (two's complement), flags set throughout."""
    status = np.zeros(n, np.int64)
    for t, code in codes_at.items():
        i = int(round(t * SF))
        status[i:i + int(width_s * SF)] = code
    word = status | flags
    return np.where(word >= 1 << 23, word - (1 << 24), word)


def biosemi_bdf(path, codes_at: dict[float, int], duration_s: float = 300.0, flags: int = FLAGS) -> Path:
    """16 EEG channels and a Status channel, like a small BioSemi ActiveTwo recording."""
    n = int(duration_s * SF)
    eeg = np.random.default_rng(0).standard_normal((16, n)) * 20  # uV
    return write_bdf(path, np.vstack([eeg, _status(codes_at, n, flags)]), EEG16 + ["Status"], SF, stim=(16,))


ONSETS_40 = {5.0 + 7.0 * k: 255 for k in range(40)}


def _protocol(tmp_path, codes: str = "", n_stim: int = 40, extra_markers: str = "") -> Path:
    stimuli = "\n".join(f'[[stimuli]]\nid = "s{k + 1:02d}"\n' for k in range(n_stim))
    text = (f'[protocol]\nname = "p"\n[timing]\nbaseline_s = 2.0\nstimulus_s = 4.0\n'
            f'[markers]\n{extra_markers}\n{codes}\n{stimuli}')
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- decoding
def test_trigger_events_exact():
    values = np.array([7, 7, 0, 5, 5, 0, 3 + (1 << 16), 3 + (1 << 16), 0x1234, np.nan, 0], float)
    samples, codes = trigger_events(values)
    # the 7 present at sample 0 is the port's state, not an event; bit 16 is a status flag
    assert samples.tolist() == [3, 6, 8] and codes.tolist() == [5, 3, 0x1234]
    samples, codes = trigger_events(values, trigger_bits=8)
    assert samples.tolist() == [3, 6, 8] and codes.tolist() == [5, 3, 0x34]
    with pytest.raises(ValueError, match="trigger_bits"):
        trigger_events(values, trigger_bits=12)


@pytest.mark.parametrize("text, code", [("5", 5), (" 12 ", 12), ("5.0", 5), ("S  5", 5), ("Stimulus/S  5", 5),
                                        ("Stimulus/S 15", 15), ("R  5", None), ("stim_on/a", None), ("", None)])
def test_marker_code(text, code):
    assert marker_code(text) == code


def test_bdf_status_with_high_bits(tmp_path):
    codes_at = {2.0 + 3.0 * k: (k % 7) + 1 for k in range(40)}
    path = biosemi_bdf(tmp_path / "sub-01.bdf", codes_at, duration_s=130.0)
    # MNE keeps bit 16 of the Status word: without masking, every code would read 65536 + code
    assert set(np.unique(mne.io.read_raw_bdf(path, verbose="error").get_data(picks="Status"))) > {65537.0}
    s = read_raw_any(path)
    m = s.markers
    assert len(m) == 40
    np.testing.assert_allclose(m["onset_s"], sorted(codes_at), atol=1e-9)
    assert m["description"].tolist() == [str(c) for _, c in sorted(codes_at.items())]
    assert s.provenance["triggers"] == {"channel": "Status", "n_events": 40, "trigger_bits": 16, "rest_code": 0,
                                        "codes": {c: sum(v == c for v in codes_at.values()) for c in range(1, 8)}}
    # an 8-bit port: codes above 255 keep their low byte only
    path8 = biosemi_bdf(tmp_path / "b8.bdf", {1.0: 0x0103, 2.0: 0x0204}, duration_s=4.0)
    assert read_raw_any(path8, trigger_bits=8).markers["description"].tolist() == ["3", "4"]
    assert read_raw_any(path8).markers["description"].tolist() == ["259", "516"]


def test_bdf_port_resting_high(tmp_path):
    """Unconnected BioSemi trigger lines read high: the port rests at 254 and pulses to 255.

    This is the layout of BioSemi's own example file Newtest17-256.bdf (16 EEG channels, 40
    pulses), where bit 16 also toggles; :func:`mne.find_events` with a 16-bit mask finds the same 40.
    """
    n = 60 * SF
    word = np.full(n, 254, np.int64)
    onsets = [1.0 + 1.4 * k for k in range(40)]
    for k, t in enumerate(onsets):
        word[int(t * SF):int(t * SF) + int(0.6 * SF)] = 255
    word[: int(0.5 * SF)] = 255  # a pulse already under way when recording starts is no event
    word |= np.where((np.arange(n) // (7 * SF)) % 2 == 1, 1 << 16, 0)  # the "new epoch" flag toggling
    word |= 0xE00000  # CMS in range, speed mode bits
    status = np.where(word >= 1 << 23, word - (1 << 24), word)
    eeg = np.random.default_rng(5).standard_normal((16, n)) * 20
    path = write_bdf(tmp_path / "rest.bdf", np.vstack([eeg, status]), EEG16 + ["Status"], SF, stim=(16,))
    s = read_raw_any(path)
    assert s.markers["description"].tolist() == ["255"] * 40
    np.testing.assert_allclose(s.markers["onset_s"], [int(t * SF) / SF for t in onsets])
    assert s.provenance["triggers"]["rest_code"] == 254
    found = mne.find_events(mne.io.read_raw_bdf(path, verbose="error"), mask=0xFFFF, mask_type="and",
                            verbose="error")
    np.testing.assert_array_equal(found[:, 0], [int(t * SF) for t in onsets])


def test_code_held_for_most_of_the_recording(tmp_path, caplog):
    """A port that holds the stimulus code for the whole of every long trial.

    The most frequent code is then the stimulus code, not the rest: taken as the rest code, all 20
    stimulus onsets vanish. The reader says so (naming markers.rest_code), and the protocol's
    ``markers.rest_code = 0`` recovers the 20 trials.
    """
    onsets = [1.0 + 10.0 * k for k in range(20)]
    codes_at = {t: 1 for t in onsets}
    path = write_bdf(tmp_path / "held.bdf",
                     np.vstack([np.random.default_rng(4).standard_normal((16, 202 * SF)) * 20,
                                _status(codes_at, 202 * SF, width_s=9.0)]), EEG16 + ["Status"], SF, stim=(16,))
    codes = '[markers.codes]\n1 = "stimulus_on"\n'
    auto = read_protocol(_protocol(tmp_path, codes, n_stim=20))
    with caplog.at_level("WARNING", logger="neuromer"):
        s = read_raw_any(path, protocol=auto)
    assert s.provenance["triggers"]["rest_code"] == 1 and s.provenance["triggers"]["n_events"] == 0
    assert "code 1, mapped in [markers.codes], is on for most of the recording" in caplog.text
    assert "markers.rest_code" in caplog.text

    fixed_path = tmp_path / "fixed"
    fixed_path.mkdir()
    fixed = read_protocol(_protocol(fixed_path, codes, n_stim=20, extra_markers="rest_code = 0"))
    assert fixed.markers.rest_code == 0
    again = tmp_path / "again.toml"
    again.write_text(fixed.dumps(), encoding="utf-8")
    assert read_protocol(again).markers.rest_code == 0
    caplog.clear()
    with caplog.at_level("WARNING", logger="neuromer"):
        s = read_raw_any(path, protocol=fixed)
    assert "rest code" not in caplog.text
    assert s.provenance["triggers"]["rest_code"] == 0
    np.testing.assert_allclose(s.markers["onset_s"], onsets)
    assert s.trials["stimulus_id"].tolist() == [f"s{k + 1:02d}" for k in range(20)]
    # the same without a protocol: the argument wins, and an unmapped held code is still warned about
    assert len(read_raw_any(path, rest_code=0).markers) == 20
    caplog.clear()
    with caplog.at_level("WARNING", logger="neuromer"):
        assert len(read_raw_any(path).markers) == 0
    assert "is at code 1 for most of the recording and at 0 for 11 %" in caplog.text
    with pytest.raises(ValueError, match="rest_code must be a whole number from 0 to 65535, got 70000"):
        read_raw_any(path, rest_code=70000)


def test_fif_stim_channel(tmp_path):
    n = 20 * SF
    data = np.zeros((4, n))
    data[:2] = np.random.default_rng(1).standard_normal((2, n)) * 1e-5
    for t, code in ((2.0, 1), (8.0, 2), (12.5, 1)):
        data[2, int(t * SF):int(t * SF) + 3] = code  # STI 014, the combined channel
        data[3, int(t * SF):int(t * SF) + 3] = code & 1  # STI 001, one line of it
    info = mne.create_info(["Fz", "Cz", "STI 014", "STI 001"], SF, ["eeg", "eeg", "stim", "stim"])
    fif = tmp_path / "rec_raw.fif"
    mne.io.RawArray(data, info, verbose="error").save(fif, verbose="error")
    s = read_raw_any(fif)
    assert s.provenance["triggers"]["channel"] == "STI 014"
    assert s.markers["description"].tolist() == ["1", "2", "1"]
    np.testing.assert_allclose(s.markers["onset_s"], [2.0, 8.0, 12.5])


def test_brainvision_markers_map_through_codes(tmp_path):
    pybv = pytest.importorskip("pybv")
    n = 30 * SF
    data = np.random.default_rng(2).standard_normal((3, n)) * 10  # uV
    events = np.array([[2 * SF, 1], [8 * SF, 2], [12 * SF, 1], [18 * SF, 2]])  # sample, code
    pybv.write_brainvision(data=data, sfreq=SF, ch_names=["Fp1", "Fz", "Cz"], fname_base="rec",
                           folder_out=tmp_path, events=events, unit="µV", overwrite=True)
    proto = read_protocol(_protocol(tmp_path, '[markers.codes]\n1 = "stimulus_on"\n2 = "stimulus_off"\n', n_stim=2))
    s = read_raw_any(tmp_path / "rec.vhdr", protocol=proto)
    assert sorted(s.markers["description"])[0].startswith("Stimulus/S")
    assert s.trials["stimulus_id"].tolist() == ["s01", "s02"]
    np.testing.assert_allclose(s.trials["onset_s"], [2.0, 12.0])
    np.testing.assert_allclose(s.trials["duration_s"], [6.0, 6.0])


def test_edf_annotations_become_markers(tmp_path):
    pytest.importorskip("edfio")
    raw = mne.io.RawArray(np.random.default_rng(3).standard_normal((2, 20 * SF)) * 1e-5,
                          mne.create_info(["Fz", "Cz"], SF, "eeg"), verbose="error")
    raw.set_annotations(mne.Annotations([2.0, 9.0], [0.0, 0.0], ["stim_on/s01", "stim_off/s01"]))
    path = tmp_path / "rec.edf"
    mne.export.export_raw(path, raw, verbose="error")
    proto = read_protocol(_protocol(tmp_path, n_stim=1))
    s = read_raw_any(path, protocol=proto)
    assert s.trials["stimulus_id"].tolist() == ["s01"]
    np.testing.assert_allclose(s.trials["duration_s"], [7.0], atol=1 / SF)


# --------------------------------------------------------------------------- protocol code table
def test_code_table_loads_and_round_trips(tmp_path):
    path = _protocol(tmp_path, '[markers.codes]\n1 = "trial_start"\n3 = "stimulus_on"\n4 = "stimulus_off"\n'
                                '9 = "rating/valence/9"\n"12" = "stim_on/s02"\n', n_stim=2,
                     extra_markers="trigger_bits = 8")
    proto = read_protocol(path)
    assert proto.markers.codes == ((1, "trial_start"), (3, "stimulus_on"), (4, "stimulus_off"),
                                   (9, "rating/valence/9"), (12, "stim_on/s02"))
    assert proto.markers.trigger_bits == 8
    assert proto.markers.rest_code is None
    again = tmp_path / "again.toml"
    again.write_text(proto.dumps(), encoding="utf-8")
    assert read_protocol(again).markers == proto.markers


@pytest.mark.parametrize("codes, match", [
    ('[markers.codes]\n-3 = "stimulus_on"', r"'markers.codes.-3': a code must be a whole number from 1 to 65535"),
    ('[markers.codes]\n" T1" = "stimulus_on"', r"'markers.codes. T1': a marker text to map must be non-empty"),
    ('[markers.codes]\n0 = "stimulus_on"', r"'markers.codes.0': a code must be"),
    ('[markers.codes]\n70000 = "stimulus_on"',
     r"'markers.codes.70000': a code must be .* \(markers.trigger_bits = 16\)"),
    ('[markers.codes]\n3 = "stimulus_onset"', r"'markers.codes.3' = 'stimulus_onset' is neither a marker kind"),
    ('[markers.codes]\n3 = "rating"', r"'markers.codes.3' = 'rating' needs a scale and a value"),
    ('[markers.codes]\n3 = "trial_end"', r"'markers.codes.3' = 'trial_end', but the protocol defines no"),
    ('[markers.codes]\n3 = 5', r"'markers.codes.3' must be a non-empty string"),
    ('[markers.codes]\n"3" = "stimulus_on"\n"03" = "stimulus_off"', r"'markers.codes' lists a code twice"),
    ('codes = 5', r"'markers.codes' must be a table"),
    ('trigger_bits = 12', r"'markers.trigger_bits' must be 8, 16 or 24, got 12"),
    ('rest_code = -1', r"'markers.rest_code' must be a whole number from 0 to 65535 .* got -1"),
    ('rest_code = 70000', r"'markers.rest_code' must be a whole number from 0 to 65535"),
    ('rest_code = "0"', r"'markers.rest_code' must be a whole number .* got '0'"),
    ('rest_code = true', r"'markers.rest_code' must be a whole number .* got True"),
    ('rest_code = 3\n[markers.codes]\n3 = "stimulus_on"',
     r"'markers.rest_code' = 3 is also mapped in \[markers.codes\]"),
])
def test_code_table_errors(tmp_path, codes, match):
    extra = codes.startswith(("codes", "trigger", "rest"))
    with pytest.raises(ProtocolError, match=match):
        read_protocol(_protocol(tmp_path, "" if extra else codes, n_stim=2, extra_markers=codes if extra else ""))


def test_code_stimulus_on_needs_stimuli(tmp_path):
    with pytest.raises(ProtocolError, match="opens the next stimulus in order, but the protocol lists no"):
        read_protocol(_protocol(tmp_path, '[markers.codes]\n3 = "stimulus_on"\n', n_stim=0))


def test_text_keys_map_edf_annotations(tmp_path):
    """PhysioNet EEGBCI marks runs with annotations T0 (rest), T1 and T2 (left/right fist)."""
    pytest.importorskip("edfio")
    raw = mne.io.RawArray(np.random.default_rng(9).standard_normal((2, 30 * SF)) * 1e-5,
                          mne.create_info(["C3", "C4"], SF, "eeg"), verbose="error")
    raw.set_annotations(mne.Annotations([0.0, 4.2, 8.3, 12.5, 16.6, 20.8], [4.2, 4.1, 4.2, 4.1, 4.2, 4.1],
                                        ["T0", "T2", "T0", "T1", "T0", "T2"]))
    path = tmp_path / "S001R04.edf"
    mne.export.export_raw(path, raw, verbose="error")
    text = ('[protocol]\nname = "eegbci"\n[timing]\nbaseline_s = 1.0\nstimulus_s = 4.0\n'
            '[markers.codes]\nT0 = "stimulus_off"\nT1 = "stim_on/left"\nT2 = "stim_on/right"\n'
            '[[stimuli]]\nid = "left"\n[[stimuli]]\nid = "right"\n')
    (tmp_path / "eegbci.toml").write_text(text, encoding="utf-8")
    proto = read_protocol(tmp_path / "eegbci.toml")
    assert proto.markers.codes == (("T0", "stimulus_off"), ("T1", "stim_on/left"), ("T2", "stim_on/right"))
    again = tmp_path / "again.toml"
    again.write_text(proto.dumps(), encoding="utf-8")
    assert read_protocol(again).markers.codes == proto.markers.codes
    s = read_raw_any(path, protocol=proto)
    assert s.trials["stimulus_id"].tolist() == ["right", "left", "right"]
    np.testing.assert_allclose(s.trials["onset_s"], [4.2, 12.5, 20.8], atol=1 / SF)
    np.testing.assert_allclose(s.trials["duration_s"], [4.1, 4.1, 4.0], atol=1 / SF)  # last: stimulus_s


def test_apply_code_table_orders_stimuli(tmp_path):
    proto = read_protocol(_protocol(tmp_path, '[markers.codes]\n1 = "trial_start"\n3 = "stimulus_on"\n'
                                              '4 = "stimulus_off"\n9 = "rating/valence/9"\n', n_stim=2))
    markers = pd.DataFrame({"onset_s": [0.5, 1.0, 5.0, 6.0, 7.0, 1.5, 11.0, 20.0, 21.0],
                            "description": ["1", "3", "4", "9", "1", "hello", "3", "4", "3"]})
    out = apply_code_table(markers, proto)
    assert out["description"].tolist() == ["trial_start", "stim_on/s01", "hello", "stim_off/s01",
                                           "rating/valence/9", "trial_start", "stim_on/s02", "stim_off/s02", "3"]
    trials, dropped = trials_from_markers(markers, proto)
    assert trials["stimulus_id"].tolist() == ["s01", "s02"] and trials["valence"].tolist()[0] == 9.0
    np.testing.assert_allclose(trials["duration_s"], [4.0, 9.0])


# --------------------------------------------------------------------------- nothing maps: say why
def test_nothing_maps_says_why(tmp_path, caplog):
    path = biosemi_bdf(tmp_path / "rec.bdf", ONSETS_40)
    proto = read_protocol(_protocol(tmp_path))
    s = read_raw_any(path, protocol=proto)  # reading says nothing; cutting trials says why there are none
    assert len(s.trials) == 0
    with pytest.warns(RuntimeWarning, match=r"no trial found: Status channel has 40 events with code 255; "
                                            r"the protocol maps no codes \(\[markers.codes\]\)"):
        assert make_trials(s, protocol=proto).n_trials == 0
    with pytest.raises(MarkerError, match="Status channel has 40 events with code 255; the protocol maps no codes"):
        make_trials(s, protocol=proto, on_problem="raise")
    other = read_protocol(_protocol(tmp_path, '[markers.codes]\n7 = "stimulus_on"\n'))
    msg = explain_unmatched(s.markers, other, triggers=s.provenance["triggers"])
    assert msg == ("Status channel has 40 events with code 255; the protocol's [markers.codes] maps codes 7, "
                   "none of which occur")
    text = pd.DataFrame({"onset_s": [1.0, 2.0], "description": ["go", "go"]})
    assert explain_unmatched(text, proto) == ("2 text markers ('go' (2)); no text marker matches "
                                              "markers.stimulus_on = 'stim_on/{stimulus_id}'")
    assert explain_unmatched(text.iloc[:0], proto).startswith("the recording has no markers")


# --------------------------------------------------------------------------- command line, end to end
def test_cli_info_and_epochs_on_biosemi_bdf(tmp_path, capsys):
    path = biosemi_bdf(tmp_path / "sub-01.bdf", ONSETS_40)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "40 markers" in out and "trigger channel Status (low 16 bits): 40 events, codes 255 (40)\n" in out

    plain = _protocol(tmp_path)
    assert main(["info", str(path), "--protocol", str(plain)]) == 0
    assert ("trials: none; Status channel has 40 events with code 255; the protocol maps no codes"
            in capsys.readouterr().out)
    assert main(["epochs", str(path), "--protocol", str(plain), "--out", str(tmp_path / "x.dat")]) == 2
    err = capsys.readouterr().err
    assert "Status channel has 40 events with code 255; the protocol maps no codes" in err
    assert "neuromer: error:" in err and not (tmp_path / "x.dat").exists()

    mapped = _protocol(tmp_path, '[markers.codes]\n255 = "stimulus_on"\n')
    capsys.readouterr()
    # the command line shows warnings once on stderr (say_once), not as Python warnings
    assert main(["epochs", str(path), "--protocol", str(mapped), "--out", str(tmp_path / "t-epo.fif")]) == 0
    assert "no stimulus_off marker" in capsys.readouterr().err
    trials = read_any_trials(tmp_path / "t-epo.fif")
    assert trials.n_trials == 40 and trials.metadata["stimulus_id"].tolist() == [f"s{k:02d}" for k in range(1, 41)]
    np.testing.assert_allclose(trials.metadata["onset_s"], sorted(ONSETS_40))


def _events_file(path, rows, columns=("onset", "code"), sep=","):
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False, sep=sep)
    return path


def test_cli_events_file(tmp_path, capsys):
    path = biosemi_bdf(tmp_path / "rec.bdf", {}, duration_s=40.0)  # a Status channel without events
    events = _events_file(tmp_path / "ev.tsv", [(3.0, 1), (8.0, 2), (20.0, 1), (26.5, 2)], sep="\t")
    proto = _protocol(tmp_path, '[markers.codes]\n1 = "stimulus_on"\n2 = "stimulus_off"\n', n_stim=2)
    assert main(["info", str(path), "--events", str(events), "--protocol", str(proto)]) == 0
    out = capsys.readouterr().out
    assert "4 markers, 2 trials" in out and "s02" in out
    assert main(["epochs", str(path), "--events", str(events), "--protocol", str(proto),
                 "--out", str(tmp_path / "t-epo.fif")]) == 0
    trials = read_any_trials(tmp_path / "t-epo.fif")
    np.testing.assert_allclose(trials.metadata["duration_s"], [4.0, 4.0])  # clipped to stimulus_s
    np.testing.assert_allclose(trials.metadata["onset_s"], [3.0, 20.0])


@pytest.mark.parametrize("rows, columns, match", [
    ([(1.0, 1)], ("start", "code"), r"bad.csv: needs an onset column .* found columns: start, code"),
    ([(1.0, 1), ("later", 2)], ("onset", "code"), r"bad.csv: column 'onset' has a missing or non-numeric onset "
                                                   r"on data row 2 \('later'\)"),
    ([(1.0, 1), (45.0, 2)], ("onset", "code"), r"bad.csv: onset 45 s on data row 2 lies outside the recording "
                                                r"\(0-40.000 s\)"),
    ([(-1.0, 1)], ("onset", "code"), r"bad.csv: onset -1 s on data row 1 lies outside"),
])
def test_cli_bad_events_file(tmp_path, capsys, rows, columns, match):
    path = biosemi_bdf(tmp_path / "rec.bdf", {}, duration_s=40.0)
    bad = _events_file(tmp_path / "bad.csv", rows, columns)
    for cmd in (["info", str(path)], ["epochs", str(path), "--out", str(tmp_path / "x.dat")]):
        assert main([*cmd, "--events", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("neuromer: error: ")
        import re

        assert re.search(match, err[0]), err[0]


def test_events_on_xdf(tmp_path, study):
    """An events file adds markers to a recording of any format (here XDF)."""
    xdf = sorted(Path(study.root / "xdf").glob("*.xdf"))[0]
    base = read_session(xdf)
    ev = _events_file(tmp_path / "e.csv", [(1.0, "extra/marker")], ("onset_s", "description"))
    s = read_session(xdf, events=ev)
    assert len(s.markers) == len(base.markers) + 1
    assert "extra/marker" in s.markers["description"].tolist()
    late = _events_file(tmp_path / "late.csv", [(base.duration_s + 5, "x")], ("onset_s", "description"))
    with pytest.raises(DataFormatError, match="lies outside the recording"):
        read_session(xdf, events=late)


# --------------------------------------------------------------------------- EDF text encoding, channel names
def _eegbci_edf(path, annotations=("stim_on/café", "stim_off/café"), latin1=True) -> Path:
    """An EDF+ like PhysioNet EEGBCI's: dotted names, and annotations in latin-1 (1 byte per é)."""
    names = ["Fc5.", "Fc3.", "F3..", "Fz..", "F4..", "Fp1.", "Fpz.", "Fp2.", "Af3.", "Af4.", "T9..", "Iz.."]
    rng = np.random.default_rng(4)
    raw = mne.io.RawArray(rng.standard_normal((len(names), 20 * SF)) * 1e-5, mne.create_info(names, SF, "eeg"),
                          verbose="error")
    raw.set_annotations(mne.Annotations([2.0, 9.0], [0.0, 0.0], list(annotations)))
    mne.export.export_raw(path, raw, verbose="error")
    if latin1:  # re-encode each UTF-8 'é' (2 bytes) as latin-1 (1 byte), keeping the TAL length
        body = path.read_bytes()
        assert body.count(b"\xc3\xa9\x14\x00") == len(annotations)
        path.write_bytes(body.replace(b"\xc3\xa9\x14\x00", b"\xe9\x14\x00\x00"))
    return path


def test_edf_latin1_annotations(tmp_path, capsys):
    pytest.importorskip("edfio")
    path = _eegbci_edf(tmp_path / "S001R04.edf")
    with pytest.raises(Exception, match="encoding"):  # what MNE alone does
        mne.io.read_raw_edf(path, verbose="error")
    with pytest.warns(RuntimeWarning, match="not utf8; read as latin-1"):
        s = read_raw_any(path)
    assert s.markers["description"].tolist() == ["stim_on/café", "stim_off/café"]
    s = read_raw_any(path, encoding="latin1")  # no warning when the encoding is given
    assert s.markers["description"].tolist() == ["stim_on/café", "stim_off/café"]
    with pytest.raises(DataFormatError, match="unknown text encoding 'klingon'"):
        read_raw_any(path, encoding="klingon")
    proto = _protocol(tmp_path, n_stim=0).read_text() + '[[stimuli]]\nid = "café"\n'
    (tmp_path / "cafe.toml").write_text(proto, encoding="utf-8")
    assert main(["info", str(path), "--encoding", "latin-1", "--protocol", str(tmp_path / "cafe.toml")]) == 0
    assert "café" in capsys.readouterr().out
    assert main(["info", str(path), "--encoding", "nope"]) == 2
    assert "unknown text encoding 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("name, expected", [
    ("Fc5.", "FC5"), ("F3..", "F3"), ("Fp1.", "Fp1"), ("Fpz.", "Fpz"), ("Af3.", "AF3"), ("T9..", "T9"),
    ("Iz..", "Iz"), ("FP1", "Fp1"), ("CZ", "Cz"), ("EEG Fz-Ref", "Fz"), ("EEG FP1-REF", "Fp1"),
    ("EEG CZ-LE", "Cz"), ("EEG-O2", "O2"), ("eeg_Pz", "Pz"), ("F3-A2", "F3"), ("FCC3h", "FCC3h"),
    ("Fz", None), ("GSR", None), ("Status", None), ("Fp1-F7", None), ("EEG", None), ("EOG left", None)])
def test_standard_channel_name(name, expected):
    from neuromer.io.channel_names import standard_channel_name, standard_channel_names

    assert standard_channel_names([name]) == ({name: expected} if expected and expected != name else {})
    if expected is not None:
        assert standard_channel_name(name) == expected


def test_standard_channel_names_never_clash(caplog):
    from neuromer.io.channel_names import standard_channel_names

    assert standard_channel_names(["Fz", "FZ", "Cz."]) == {"Cz.": "Cz"}
    assert "would be renamed 'Fz', but that name is taken" in caplog.text


def test_eegbci_names_give_montage_and_asymmetry(tmp_path, caplog):
    pytest.importorskip("edfio")
    from neuromer.eeg.features import eeg_window_features

    path = _eegbci_edf(tmp_path / "S001R04.edf", annotations=("stim_on/a", "stim_off/a"), latin1=False)
    s = read_raw_any(path)
    assert s.raw.ch_names == ["FC5", "FC3", "F3", "Fz", "F4", "Fp1", "Fpz", "Fp2", "AF3", "AF4", "T9", "Iz"]
    assert s.provenance["renamed_channels"]["F3.."] == "F3"
    pos = np.array([s.raw.info["chs"][i]["loc"][:3] for i in range(len(s.raw.ch_names))])
    assert np.all(np.isfinite(pos)) and np.all(np.abs(pos).sum(axis=1) > 0)  # every electrode placed
    proto = Path(tmp_path / "a.toml")
    proto.write_text('[protocol]\nname = "a"\n[timing]\nbaseline_s = 1.0\nstimulus_s = 6.0\n[[stimuli]]\nid = "a"\n')
    trials = make_trials(read_raw_any(path), protocol=read_protocol(proto))
    caplog.clear()
    table = eeg_window_features(trials)
    assert "eeg_faa" in table and "eeg_dasm_alpha_F3-F4" in table and "eeg_dasm_alpha_Fp1-Fp2" in table
    assert "asymmetry" not in caplog.text


def test_edf_copied_as_text_is_refused(tmp_path, caplog):
    data = np.random.default_rng(7).standard_normal((2, 10 * SF)) * 50
    path = write_bdf(tmp_path / "rec.edf", data, ["Fz", "Cz"], SF, fmt="edf")
    body = path.read_bytes()
    assert body.count(b"\n") > 3 and b"\r\n" not in body
    crlf = tmp_path / "crlf.edf"
    crlf.write_bytes(body.replace(b"\n", b"\r\n"))  # what git autocrlf does to a binary it takes for text
    with pytest.raises(DataFormatError, match=r"crlf.edf: \d+ bytes longer than its header declares, exactly its "
                                              r"number of CR-LF pairs: the file was copied as text"):
        read_raw_any(crlf)
    tail = tmp_path / "tail.edf"
    tail.write_bytes(body + b"\x00" * 7)  # e.g. a recorder that appended a partial record
    s = read_raw_any(tail)
    assert "tail.edf: %d bytes but its header declares %d" % (len(body) + 7, len(body)) in caplog.text
    np.testing.assert_allclose(s.raw.get_data(picks="Fz")[0] * 1e6, data[0], atol=0.2)


def test_events_file_completes_an_xdf_without_markers(tmp_path, caplog):
    """An XDF with no marker stream plus an events file: trials, and no premature 'no trial found'."""
    from neuromer.io.xdf import XdfWriter, stream_info_xml

    rate, n = 128, 40 * 128
    ts = 1000.0 + np.arange(n) / rate
    with XdfWriter(tmp_path / "rec.xdf") as w:
        w.add_stream(1, stream_info_xml(name="EEG", type="EEG", channel_count=2, nominal_srate=rate,
                                        channel_format="float32"))
        w.write_samples(1, ts, np.random.default_rng(8).standard_normal((n, 2)) * 10)
        w.write_footer(1, first_timestamp=ts[0], last_timestamp=ts[-1], sample_count=n)
    proto = read_protocol(_protocol(tmp_path, '[markers.codes]\n1 = "stimulus_on"\n2 = "stimulus_off"\n', n_stim=2))
    ev = _events_file(tmp_path / "e.csv", [(3.0, 1), (9.0, 2), (20.0, 1), (25.0, 2)])
    caplog.clear()
    s = read_session(tmp_path / "rec.xdf", protocol=proto, events=ev)
    assert "no trial found" not in caplog.text
    assert s.trials["stimulus_id"].tolist() == ["s01", "s02"]
    np.testing.assert_allclose(s.trials["onset_s"], [3.0, 20.0])
    np.testing.assert_allclose(s.trials["duration_s"], [6.0, 5.0])
