"""Choosing one of several XDF streams with the same name: read_xdf(streams=...), ``--xdf-stream
NAME=SELECTOR`` on the command line and ``study.xdf_streams`` in a run config."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuromer.cli import main
from neuromer.errors import DataFormatError, NeuromerError
from neuromer.io import read_any_trials, read_session
from neuromer.io.xdf import XdfWriter, parse_stream_choice, read_xdf, stream_info_xml, xdf_info

ROOT = Path(__file__).resolve().parents[2]
RATE = 128.0
EEG = ["Fz", "Cz", "Pz", "Oz"]


def write_twins(path: Path) -> None:
    """EEG 'amp' (id 1, 640 samples) and its namesake (id 3, 500 samples of 7 µV, source amp-2);
    GSR 'gsr' twice (id 4: 1.0 µS, id 5: 2.0 µS, source shimmer-2); markers 'mk' twice (id 2, id 6)."""
    eeg_chans = [{"label": c, "type": "EEG", "unit": "microvolts"} for c in EEG]
    gsr_chans = [{"label": "GSR", "type": "GSR", "unit": "microsiemens"}]
    data = np.arange(640 * 4, dtype=np.float32).reshape(640, 4) % 50
    with XdfWriter(path) as w:
        w.add_stream(1, stream_info_xml(name="amp", type="EEG", channel_count=4, nominal_srate=RATE,
                                        channel_format="float32", channels=eeg_chans, source_id="amp-1"))
        w.add_stream(2, stream_info_xml(name="mk", type="Markers", channel_count=1, nominal_srate=0,
                                        channel_format="string", source_id="mk-1"))
        w.add_stream(3, stream_info_xml(name="amp", type="EEG", channel_count=4, nominal_srate=RATE,
                                        channel_format="float32", channels=eeg_chans, source_id="amp-2"))
        for sid, src in ((4, "shimmer-1"), (5, "shimmer-2")):
            w.add_stream(sid, stream_info_xml(name="gsr", type="GSR", channel_count=1, nominal_srate=RATE,
                                              channel_format="float32", channels=gsr_chans, source_id=src))
        w.add_stream(6, stream_info_xml(name="mk", type="Markers", channel_count=1, nominal_srate=0,
                                        channel_format="string", source_id="mk-2"))
        stamps = 10.0 + np.arange(640) / RATE
        w.write_samples(1, stamps, data)
        w.write_samples(3, stamps[:500], np.full((500, 4), 7, np.float32))
        w.write_samples(4, stamps, np.full((640, 1), 1.0, np.float32))
        w.write_samples(5, stamps[:600], np.full((600, 1), 2.0, np.float32))
        w.write_samples(2, [11.0, 12.0], ["a", "b"])
        w.write_samples(6, [13.0], ["c"])


@pytest.fixture
def twins(tmp_path):
    path = tmp_path / "twins.xdf"
    write_twins(path)
    return path


def test_default_keeps_most_samples_and_warns(twins, caplog):
    with caplog.at_level(logging.WARNING, logger="neuromer"):
        s = read_xdf(twins)
    assert s.raw.n_times == 640 and s.raw.ch_names == EEG + ["GSR"]
    np.testing.assert_array_equal(s.raw.get_data(picks="GSR")[0], 1.0)  # GSR id 4, most samples
    assert list(s.markers.description) == ["a", "b", "c"]  # both marker streams, as before
    assert "--xdf-stream amp=id=N" in caplog.text and "--xdf-stream gsr=id=N" in caplog.text


def test_choice_picks_a_twin_in_any_role_without_changing_roles(twins, caplog):
    with caplog.at_level(logging.WARNING, logger="neuromer"):
        s = read_xdf(twins, streams={"amp": "id=3", "GSR": "shimmer-2", "mk": "mk-2"})
    assert "same name and type" not in caplog.text  # every twin settled by the choice
    assert s.raw.n_times == 500 and s.raw.ch_names == EEG + ["GSR"]
    np.testing.assert_array_equal(s.raw.get_data(picks="eeg"), np.full((4, 500), 7e-6))
    np.testing.assert_array_equal(s.raw.get_data(picks="GSR")[0], 2.0)  # shimmer-2: the physio twin chosen
    assert list(s.markers.description) == ["c"]  # its namesake marker stream left out
    step = s.provenance["steps"][0]
    assert step["streams"] == {"amp": "id=3", "GSR": "shimmer-2", "mk": "mk-2"}
    # a choice by uid, and a choice that leaves the other roles as they were
    uid = read_xdf(twins, streams={"gsr": "id=5"})
    assert uid.raw.n_times == 640  # the EEG default is untouched
    np.testing.assert_array_equal(uid.raw.get_data(picks="GSR")[0], 2.0)


@pytest.mark.parametrize("choice, message", [
    ({"amp": "id=9"}, r"stream choice amp=id=9 matches none of the streams named 'amp': 'amp' \(id 1, "
                      r"hostname neuromer, source_id amp-1, 640 samples\), "
                      r"'amp' \(id 3, hostname neuromer, source_id amp-2, 500 samples\)"),
    ({"amp": "EEG"}, r"stream choice amp=EEG matches 2 of the streams named 'amp'"),
    ({"ecg": "id=1"}, r"stream choice ecg=id=1: no stream with samples is named 'ecg' \(streams with samples: "
                      r"'amp', 'mk', 'amp', 'gsr', 'gsr', 'mk'\)"),
])
def test_choice_that_does_not_pick_one_stream_is_a_one_line_error(twins, choice, message):
    with pytest.raises(DataFormatError, match=message) as err:
        read_xdf(twins, streams=choice)
    assert str(twins) in str(err.value) and "\n" not in str(err.value)


def test_choice_argument_checks(twins):
    assert parse_stream_choice(["amp=id=3", " gsr = shimmer-2 "]) == {"amp": "id=3", "gsr": "shimmer-2"}
    assert parse_stream_choice(None) == {}
    for bad in (["amp"], ["=id=3"], ["amp="], ["amp=id=1", "amp=id=3"]):
        with pytest.raises(NeuromerError, match="--xdf-stream"):
            parse_stream_choice(bad)
    with pytest.raises(NeuromerError, match="mapping"):
        read_xdf(twins, streams=["amp=id=3"])
    with pytest.raises(NeuromerError, match="non-empty text"):
        read_xdf(twins, streams={"amp": ""})


def test_xdf_info_lists_source_ids(twins):
    info = xdf_info(twins)
    assert list(info["source_id"]) == ["amp-1", "mk-1", "amp-2", "shimmer-1", "shimmer-2", "mk-2"]


def test_other_formats_refuse_a_choice(tmp_path, twins):
    edf = tmp_path / "rec.edf"
    edf.write_bytes(b"0")
    with pytest.raises(DataFormatError, match="applies to XDF recordings only"):
        read_session(edf, xdf_streams={"amp": "id=3"})
    with pytest.raises(DataFormatError, match="holds trials already; a stream choice"):
        read_any_trials(tmp_path / "s01.dat", xdf_streams={"amp": "id=3"})


def test_cli_stream_option(twins, capsys):
    assert main(["info", str(twins), "--xdf-stream", "amp=id=3", "--xdf-stream", "gsr=id=5"]) == 0
    out = capsys.readouterr().out
    assert "5 ch (4 eeg, 1 gsr) at 128 Hz, 3.9 s" in out  # 500 samples of the twin
    assert "shimmer-2" in out  # the stream table shows source ids
    assert main(["info", str(twins)]) == 0
    assert "5.0 s" in capsys.readouterr().out  # the default: 640 samples


@pytest.mark.parametrize("argv, message", [
    (["--xdf-stream", "amp=id=9"], "stream choice amp=id=9 matches none of the streams named 'amp'"),
    (["--xdf-stream", "amp"], "--xdf-stream 'amp': expected NAME=SELECTOR"),
])
def test_cli_bad_choice_is_one_line_exit_2(twins, argv, message):
    run = subprocess.run([sys.executable, "-m", "neuromer", "epochs", str(twins), "--out",
                          str(twins.with_suffix(".dat")), *argv], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith("neuromer: error:") and message in lines[-1]
    assert "Traceback" not in run.stderr
    assert not twins.with_suffix(".dat").exists()


@pytest.mark.slow
def test_run_config_xdf_streams(study, tmp_path):
    from neuromer.pipeline import make_config, process_subject

    xdf = Path(study.xdf[0])
    info = xdf_info(xdf)
    eeg = info[info["type"] == "EEG"].iloc[0]
    base = {"inputs": [str(xdf)], "protocol": str(study.protocol)}
    plain = make_config({"study": base}, path=tmp_path / "c.toml")
    chosen = make_config({"study": {**base, "xdf_streams": {eeg["name"]: f"id={eeg['stream_id']}"}}},
                         path=tmp_path / "c.toml")
    assert chosen.subject_hash() != plain.subject_hash()  # a choice changes the outputs: redone on resume
    with pytest.raises(NeuromerError, match="'study.xdf_streams' must be a table"):
        make_config({"study": {**base, "xdf_streams": ["EEG=id=1"]}}, path=tmp_path / "c.toml")
    wrong = make_config({"study": {**base, "xdf_streams": {eeg["name"]: "id=99"}}}, path=tmp_path / "c.toml")
    features_off = {**chosen.sections["features"], "eeg": False, "physio": False, "audio": False}
    no_pre = {**chosen.sections["preprocess"], "enabled": False}
    sections = {"features": features_off, "preprocess": no_pre}
    status = process_subject(str(xdf), {"sections": {**wrong.sections, **sections},
                                        "path": str(wrong.path)}, str(tmp_path / "run"), None)
    assert status["status"] == "failed"
    assert f"stream choice {eeg['name']}=id=99 matches none" in status["error"]
    status = process_subject(str(xdf), {"sections": {**chosen.sections, **sections},
                                        "path": str(chosen.path)}, str(tmp_path / "run"), None)
    assert status["status"] == "done", status.get("error")
