"""ECG channels get MNE type ``ecg`` wherever a reader sets channel types, so physio finds them."""

import mne
import numpy as np
import pytest

from neuromer.io.mne_formats import read_raw_any
from neuromer.io.xdf import XdfWriter, read_xdf, stream_info_xml
from neuromer.session import infer_channel_types


def test_names_say_ecg():
    assert infer_channel_types(["ECG", "EKG", "ECG II", "ekg_left", "Plethysmograph", "Fz"]) == \
        ["ecg", "ecg", "ecg", "ecg", "bio", "eeg"]


def test_mne_file_with_an_ecg_channel_typed_misc(tmp_path):
    sf = 128.0
    info = mne.create_info(["Fz", "Cz", "EKG", "PPG"], sf, ["eeg", "eeg", "misc", "misc"])
    raw = mne.io.RawArray(np.random.default_rng(0).normal(0, 1e-5, (4, 1280)), info, verbose="error")
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose="error")
    session = read_raw_any(path)
    assert dict(zip(session.raw.ch_names, session.raw.get_channel_types())) == \
        {"Fz": "eeg", "Cz": "eeg", "EKG": "ecg", "PPG": "bio"}


@pytest.mark.parametrize("stream_type, channel_type", [("ECG", ""), ("ExG", "ECG"), ("Physio", "")])
def test_xdf_ecg_stream_or_channel(tmp_path, stream_type, channel_type):
    rng = np.random.default_rng(1)
    path = tmp_path / "ecg.xdf"
    ts = 100.0 + np.arange(1280) / 128.0
    label = "ECG" if stream_type != "ExG" else "X1"  # by stream type, by channel type, by name
    with XdfWriter(path) as w:
        w.add_stream(1, stream_info_xml(name="amp", type="EEG", channel_count=2, nominal_srate=128,
                                        channel_format="float32",
                                        channels=[{"label": n, "type": "EEG", "unit": "microvolts"}
                                                  for n in ("Fz", "Cz")]))
        w.write_samples(1, ts, rng.normal(0, 10, (ts.size, 2)).astype(np.float32))
        w.add_stream(2, stream_info_xml(name="heart", type=stream_type, channel_count=1, nominal_srate=128,
                                        channel_format="float32",
                                        channels=[{"label": label, "type": channel_type, "unit": "microvolts"}]))
        w.write_samples(2, ts, rng.normal(0, 500, (ts.size, 1)).astype(np.float32))
    session = read_xdf(path)
    types = dict(zip(session.raw.ch_names, session.raw.get_channel_types()))
    assert types[label] == "ecg", types
    # microvolts on the LSL side, volts in the Session
    assert np.abs(session.raw.get_data(picks=[label])).max() < 0.01
