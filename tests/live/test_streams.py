"""Stream selectors, discovery and the rate/dropout monitor, on real loopback LSL streams."""

import time

import pytest

from neuromer.cli import main
from neuromer.errors import NeuromerError
from neuromer.live import _lsl
from neuromer.live.streams import StreamMonitor, list_streams

from .conftest import Pusher


def test_parse_selectors():
    assert _lsl.parse_selectors(["type=EEG", "name = Foo", "source_id=a=b"]) == [
        ("type", "EEG"), ("name", "Foo"), ("source_id", "a=b")]
    assert _lsl.parse_selectors(None) == []
    assert _lsl.parse_selectors("type=Markers") == [("type", "Markers")]


@pytest.mark.parametrize("bad, message", [("EEG", "expected KEY=VALUE"), ("color=red", "unknown key 'color'"),
                                          ("type=", "value after '=' is empty")])
def test_malformed_selector(bad, message):
    with pytest.raises(NeuromerError, match=message):
        _lsl.parse_selector(bad)


def test_matches_any_selector_type_case_insensitive():
    info = {"name": "Amp", "type": "EEG", "source_id": "x1", "hostname": "lab"}
    assert _lsl.matches(info, [("type", "eeg")])
    assert _lsl.matches(info, [("name", "Other"), ("source_id", "x1")])
    assert not _lsl.matches(info, [("name", "amp")])  # names compare exactly
    assert _lsl.matches(info, [])


def test_list_streams_finds_outlet(make_outlet):
    outlet, selector, name = make_outlet("EEG", 8, 256.0, "float32")
    table = list_streams(timeout=1.0)
    row = table[table.name == name]
    assert len(row) == 1
    row = row.iloc[0]
    assert (row.type, row.channel_count, row.nominal_srate, row.channel_format) == ("EEG", 8, 256.0, "float32")
    assert row.source_id == selector.split("=", 1)[1] and row.hostname
    only = list_streams(timeout=0.5, selectors=[selector])
    assert only.name.tolist() == [name]


def test_resolve_timeout_is_one_line_error():
    with pytest.raises(_lsl.StreamNotFoundError, match="No LSL stream matching name=nothing-here"):
        _lsl.resolve("name=nothing-here", timeout=0.3)


def test_full_info_xml_has_desc(make_outlet):
    import pylsl

    outlet, selector, name = make_outlet("EEG", 2, 100.0, labels=["Fz", "Cz"])
    (info,) = _lsl.resolve(selector, timeout=3)
    inlet = pylsl.StreamInlet(info)
    xml = _lsl.info_xml(inlet.info(timeout=3))
    assert xml.startswith("<?xml") and "<label>Fz</label>" in xml and f"<name>{name}</name>" in xml


def test_monitor_measures_rate_and_dropouts(make_outlet):
    outlet, selector, name = make_outlet("EEG", 2, 200.0)
    mon = StreamMonitor(selector, timeout=3)
    assert outlet.wait_for_consumers(5)
    pusher = Pusher(outlet, rate=200.0, n_channels=2).start()
    time.sleep(0.3)
    mon.poll()
    time.sleep(1.0)
    report = mon.poll().iloc[0]
    assert report["name"] == name and report.dropouts == 0 and report.receiving
    assert report.measured_srate == pytest.approx(200, rel=0.25)
    pusher.stop()
    # samples pushed between the last poll and the stop (and those still in flight) arrive now: the
    # silence is measured from the poll that last received data, so drain them first
    time.sleep(0.2)
    mon.poll()
    time.sleep(1.3)
    report = mon.poll().iloc[0]
    assert report.dropouts == 1 and not report.receiving and report.measured_srate == 0
    mon.close()
    assert "StreamMonitor" in repr(mon)


def test_cli_streams(make_outlet, capsys):
    outlet, selector, name = make_outlet("Markers", 1, 0.0, "string")
    assert main(["streams", "--timeout", "1", "--stream", selector]) == 0
    out = capsys.readouterr().out
    assert name in out and "Markers" in out and "string" in out


def test_cli_bad_selector(capsys):
    assert main(["streams", "--stream", "colour=red"]) == 2
    assert "unknown key 'colour'" in capsys.readouterr().err


def _streams_stderr(tmp_path, *flags, config=None):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "LSLAPICFG"}
    env["HOME"] = str(tmp_path)  # no ~/lsl_api/lsl_api.cfg of the machine's user
    if config is not None:
        (tmp_path / "user.cfg").write_text(config)
        env["LSLAPICFG"] = str(tmp_path / "user.cfg")
    res = subprocess.run([sys.executable, "-m", "neuromer", *flags, "streams", "--timeout", "0.2"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stderr


@pytest.mark.slow
def test_liblsl_info_lines_only_with_verbose(tmp_path):
    # liblsl prints "Loaded default config" (and git/build lines) to stderr on first use
    assert "INFO|" not in _streams_stderr(tmp_path)
    assert "Loaded default config" in _streams_stderr(tmp_path, "-v")
    # a level the user chose in their own lsl_api.cfg is respected
    assert "INFO|" in _streams_stderr(tmp_path, config="[log]\nlevel = 0\n")
    assert "INFO|" not in _streams_stderr(tmp_path, config="[ports]\nIPv6 = disable\n")
