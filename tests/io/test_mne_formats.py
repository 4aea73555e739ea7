"""Reading MNE-readable recordings (FIF, EDF/BDF, exported formats) with an events CSV."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest

from neuromer.errors import DataFormatError
from neuromer.io.mne_formats import read_events_csv, read_raw_any
from neuromer.protocol import Protocol, Stimulus

sys.path.insert(0, str(Path(__file__).parent))
from bdf_writer import write_bdf  # noqa: E402

SF = 256.0
NAMES = ["Fp1", "Fz", "Cz", "O2", "GSR", "Resp", "hEOG"]


def _raw(first_samp=0, meas_date=True):
    rng = np.random.default_rng(0)
    info = mne.create_info(NAMES, SF, ["eeg"] * len(NAMES))  # everything 'eeg', as EDF readers do
    raw = mne.io.RawArray(rng.standard_normal((len(NAMES), int(20 * SF))) * 1e-5, info, first_samp=first_samp,
                          verbose="error")
    if meas_date:
        raw.set_meas_date(datetime(2024, 5, 1, 12, tzinfo=timezone.utc))
    raw.set_annotations(mne.Annotations([1.0 + first_samp / SF], [0.0], ["file_marker"],
                                        orig_time=raw.info["meas_date"]))
    return raw


def _events(path, rows, columns=("onset_s", "description")):
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("first_samp, meas_date", [(0, True), (1280, True), (1280, False)])
def test_fif_with_events_csv(tmp_path, first_samp, meas_date):
    raw = _raw(first_samp, meas_date)
    if not meas_date:  # without a meas_date, annotation onsets count from the first sample
        raw.set_annotations(mne.Annotations([1.0], [0.0], ["file_marker"]))
    fif = tmp_path / "rec_raw.fif"
    raw.save(fif, verbose="error")
    csv = _events(tmp_path / "events.csv", [(2.5, "stim_on/a"), (7.25, "stim_off/a")])
    s = read_raw_any(fif, events=csv, subject="01", session="2")
    ann = s.raw.annotations
    order = np.argsort(ann.onset)
    assert [ann.description[i] for i in order] == ["file_marker", "stim_on/a", "stim_off/a"]
    # MNE keeps annotation onsets from sample 0, so from the first sample they are onset - first_time
    np.testing.assert_allclose(ann.onset[order] - s.raw.first_time, [1.0, 2.5, 7.25], atol=1e-9)
    if meas_date:
        m = s.markers.sort_values("onset_s")
        np.testing.assert_allclose(m["onset_s"], [1.0, 2.5, 7.25], atol=1e-9)
    types = dict(zip(s.raw.ch_names, s.raw.get_channel_types()))
    assert (types["Fz"], types["GSR"], types["Resp"], types["hEOG"]) == ("eeg", "gsr", "resp", "eog")
    assert s.raw.get_montage() is not None
    assert (s.subject, s.session) == ("01", "2") and s.provenance["source_files"] == [str(fif), str(csv)]
    assert len(s.trials) == 0


def test_edf_and_bdf_from_test_writer(tmp_path):
    data = np.random.default_rng(1).standard_normal((len(NAMES), int(10 * SF))) * 50  # uV
    for fmt in ("edf", "bdf"):
        path = write_bdf(tmp_path / f"rec.{fmt}", data, NAMES, int(SF), fmt=fmt)
        s = read_raw_any(path)
        assert s.raw.ch_names == NAMES and s.sfreq == SF
        assert s.raw.get_channel_types()[4:] == ["gsr", "resp", "eog"]
        np.testing.assert_allclose(s.raw.get_data(picks="Fz")[0] * 1e6, data[1], atol=0.2)


@pytest.mark.skipif(importlib.util.find_spec("edfio") is None, reason="mne.export to EDF needs edfio (not installed)")
def test_exported_edf(tmp_path):
    raw = _raw(meas_date=True)
    path = tmp_path / "rec.edf"
    mne.export.export_raw(path, raw, verbose="error")
    s = read_raw_any(path, events=_events(tmp_path / "e.csv", [(3.0, "x")]))
    assert "x" in s.markers["description"].tolist()


@pytest.mark.skipif(importlib.util.find_spec("pybv") is None,
                    reason="mne.export to BrainVision needs pybv (not installed)")
def test_exported_brainvision(tmp_path):
    raw = _raw(meas_date=True)
    path = tmp_path / "rec.vhdr"
    mne.export.export_raw(path, raw, verbose="error")
    s = read_raw_any(path, events=_events(tmp_path / "e.csv", [(3.0, "x")]))
    assert "x" in s.markers["description"].tolist() and s.raw.ch_names == NAMES


def test_protocol_fills_trials(tmp_path):
    pytest.importorskip("neuromer.epochs")
    fif = tmp_path / "rec_raw.fif"
    _raw().save(fif, verbose="error")
    csv = _events(tmp_path / "events.tsv", [(2.0, "stim_on/a", 0), (6.0, "stim_off/a", 0),
                                            (8.0, "stim_on/b", 0), (12.5, "stim_off/b", 0),
                                            (13.0, "rating/valence/7", 0)],
                  columns=("onset", "trial_type", "duration"))
    pd.read_csv(csv).to_csv(csv, sep="\t", index=False)
    proto = Protocol(name="p", stimuli=(Stimulus("a"), Stimulus("b")))
    s = read_raw_any(fif, events=csv, protocol=proto)
    assert list(s.trials["stimulus_id"]) == ["a", "b"]
    np.testing.assert_allclose(s.trials["onset_s"], [2.0, 8.0])
    np.testing.assert_allclose(s.trials["duration_s"], [4.0, 4.5])
    assert s.trials["valence"].tolist()[1] == 7.0 and s.protocol is proto


@pytest.mark.parametrize("columns", [("onset", "marker"), ("time", "value"), ("Onset_s", "Trial_Type")])
def test_events_column_aliases(tmp_path, columns):
    path = _events(tmp_path / "e.csv", [(1.5, "42"), (2.0, "go")], columns=columns)
    onset, duration, desc = read_events_csv(path)
    np.testing.assert_allclose(onset, [1.5, 2.0])
    assert desc == ["42", "go"] and list(duration) == [0, 0]


def test_errors(tmp_path):
    fif = tmp_path / "rec_raw.fif"
    _raw().save(fif, verbose="error")
    with pytest.raises(DataFormatError, match="file not found"):
        read_raw_any(tmp_path / "missing.edf")
    (tmp_path / "junk.edf").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(DataFormatError, match="junk.edf: not a recording MNE can read"):
        read_raw_any(tmp_path / "junk.edf")
    (tmp_path / "notes.xyz").write_text("hello")
    with pytest.raises(DataFormatError, match="notes.xyz"):
        read_raw_any(tmp_path / "notes.xyz")
    bad = _events(tmp_path / "bad.csv", [(1.0, "x")], columns=("start", "label"))
    with pytest.raises(DataFormatError, match=r"bad.csv: needs an onset column .*found columns: start, label"):
        read_raw_any(fif, events=bad)
    nan = _events(tmp_path / "nan.csv", [(1.0, "x"), ("soon", "y")])
    with pytest.raises(DataFormatError, match="non-numeric onset on data row 2"):
        read_raw_any(fif, events=nan)
    with pytest.raises(DataFormatError, match="file not found"):
        read_raw_any(fif, events=tmp_path / "none.csv")
