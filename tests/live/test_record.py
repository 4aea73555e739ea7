"""neuromer record: real loopback LSL outlets recorded to XDF and read back with pyxdf/read_xdf."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from neuromer.cli import main
from neuromer.errors import DataFormatError, NeuromerError
from neuromer.io.xdf import read_xdf
from neuromer.live._lsl import StreamNotFoundError
from neuromer.live.record import Recorder, record

from .conftest import Pusher, wait_for_consumers

pylsl = pytest.importorskip("pylsl")
pyxdf = pytest.importorskip("pyxdf")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Background:
    """record() in a thread, stopped with its stop event."""

    def __init__(self, path, selectors, **kwargs):
        self.stop_event, self.result, self.error = threading.Event(), None, None
        self.statuses = []

        def run():
            try:
                self.result = record(path, selectors, stop_event=self.stop_event,
                                     status_callback=self.statuses.append, **kwargs)
            except BaseException as exc:  # noqa: BLE001 -- re-raised in stop()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(20)
        if self.error:
            raise self.error
        return self.result


def load(path):
    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    return {s["info"]["name"][0]: s for s in streams}


def test_record_two_outlets_roundtrip(tmp_path, make_outlet):
    eeg, eeg_sel, eeg_name = make_outlet("EEG", 8, 256.0, "float32", labels=[f"C{i}" for i in range(8)])
    mrk, mrk_sel, mrk_name = make_outlet("Markers", 1, 0.0, "string")
    out = tmp_path / "rec.xdf"
    rec = Background(out, [eeg_sel, mrk_sel], timeout=5)
    wait_for_consumers(eeg, mrk)
    pushers = [Pusher(eeg, rate=256.0, n_channels=8).start(), Pusher(mrk, rate=5.0, strings=True).start()]
    time.sleep(2.0)
    for p in pushers:
        p.stop()
    time.sleep(0.3)
    summary = rec.stop()
    by_name = {s["name"]: s for s in summary["streams"]}
    assert by_name[eeg_name]["samples"] == len(pushers[0].timestamps) > 400
    assert by_name[mrk_name]["samples"] == len(pushers[1].timestamps) >= 9
    assert by_name[eeg_name]["gaps"] == 0 and by_name[eeg_name]["interruptions"] == 0
    assert rec.statuses and rec.statuses[-1]["elapsed_s"] > 1.5

    streams = load(out)
    s = streams[eeg_name]
    np.testing.assert_array_equal(s["time_series"], np.asarray(pushers[0].samples, dtype=np.float32))
    np.testing.assert_allclose(s["time_stamps"], pushers[0].timestamps, atol=1e-3, rtol=0)
    assert s["info"]["desc"][0]["channels"][0]["channel"][3]["label"] == ["C3"]
    assert s["footer"]["info"]["sample_count"] == [str(len(pushers[0].timestamps))]
    assert len(s["clock_times"]) >= 1
    m = streams[mrk_name]
    assert [row[0] for row in m["time_series"]] == [row[0] for row in pushers[1].samples]
    np.testing.assert_allclose(m["time_stamps"], pushers[1].timestamps, atol=1e-3, rtol=0)
    session = read_xdf(out)
    assert session.raw.n_times == len(pushers[0].timestamps)
    # a marker pushed after the last EEG sample lies outside the recording and is dropped (with a
    # warning). The reader puts the EEG on its regular 256 Hz grid, whose end may differ from the
    # pusher's last (jittered, under load) time stamp by a few ms: a marker that close to the end
    # may go either way, every other one must be kept or dropped as its time says.
    eeg_end, margin = pushers[0].timestamps[-1], 0.02
    kept = sum(t < eeg_end - margin for t in pushers[1].timestamps)
    assert kept >= 9
    assert kept <= len(session.markers) <= sum(t < eeg_end + margin for t in pushers[1].timestamps)
    np.testing.assert_allclose(session.markers["onset_s"].to_numpy()[:kept] - session.markers["onset_s"].iloc[0],
                               np.asarray(pushers[1].timestamps[:kept]) - pushers[1].timestamps[0], atol=2e-3)


def test_refuses_to_overwrite(tmp_path, make_outlet, capsys):
    out = tmp_path / "exists.xdf"
    out.write_bytes(b"keep me")
    with pytest.raises(DataFormatError, match="refusing to overwrite"):
        record(out, "name=whatever", duration_s=1, timeout=0.2)
    assert main(["record", str(out), "--stream", "name=whatever", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"keep me"


def test_no_stream_and_bad_selector_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "none.xdf"
    with pytest.raises(StreamNotFoundError, match="No LSL stream matching name=no-such-stream"):
        record(out, "name=no-such-stream", duration_s=1, timeout=0.3)
    assert not out.exists()
    assert main(["record", str(out), "--stream", "type", "--duration", "1"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    with pytest.raises(NeuromerError, match="never stop"):
        record(out, "name=x")


def _start_cli_recording(out, selector):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.Popen([sys.executable, "-m", "neuromer", "record", str(out), "--stream", selector,
                             "--timeout", "10"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigkill_keeps_everything_up_to_a_second_before(tmp_path, make_outlet):
    outlet, selector, name = make_outlet("EEG", 4, 512.0, "float32")
    out = tmp_path / "killed.xdf"
    proc = _start_cli_recording(out, selector)
    try:
        wait_for_consumers(outlet, timeout=30)
        pusher = Pusher(outlet, rate=512.0, n_channels=4).start()
        time.sleep(3.0)
        killed_at = pylsl.local_clock()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        pusher.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
    pushed_ts = np.asarray(pusher.timestamps)
    expected = int(np.sum(pushed_ts <= killed_at - 1.0))
    s = load(out)[name]
    n = len(s["time_stamps"])
    assert n >= expected > 512
    np.testing.assert_array_equal(s["time_series"], np.asarray(pusher.samples[:n], dtype=np.float32))
    assert "footer" not in s or not s["footer"]  # killed: no footer
    assert read_xdf(out).raw.n_times == n


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_stops_cleanly_with_footers(tmp_path, make_outlet, sig):
    outlet, selector, name = make_outlet("EEG", 2, 128.0, "float32")
    out = tmp_path / "term.xdf"
    proc = _start_cli_recording(out, selector)
    try:
        wait_for_consumers(outlet, timeout=30)
        pusher = Pusher(outlet, rate=128.0, n_channels=2).start()
        time.sleep(1.5)
        pusher.stop()
        time.sleep(0.5)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Recorded 1 stream(s)" in stdout and name in stdout
    s = load(out)[name]
    assert len(s["time_stamps"]) == len(pusher.timestamps)
    footer = s["footer"]["info"]
    assert footer["sample_count"] == [str(len(pusher.timestamps))]
    assert float(footer["first_timestamp"][0]) == pytest.approx(pusher.timestamps[0], abs=1e-6)
    assert float(footer["last_timestamp"][0]) == pytest.approx(pusher.timestamps[-1], abs=1e-6)


def test_stream_that_goes_away_and_comes_back(tmp_path):
    name = source_id = f"neuromer-test-gap-{os.getpid()}-{time.monotonic_ns()}"
    selector = f"source_id={source_id}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", 2, 200.0, "float32", source_id))
    out = tmp_path / "gap.xdf"
    rec = Background(out, [selector], timeout=5)
    wait_for_consumers(outlet)
    first = Pusher(outlet, rate=200.0, n_channels=2).start()
    time.sleep(1.0)
    first.stop()
    first.outlet = outlet = None  # the outlet goes away
    time.sleep(1.5)
    info = pylsl.StreamInfo(name, "EEG", 2, 200.0, "float32", source_id)
    outlet2 = pylsl.StreamOutlet(info)
    wait_for_consumers(outlet2, timeout=15)
    second = Pusher(outlet2, rate=200.0, n_channels=2).start()
    time.sleep(1.0)
    second.stop()
    time.sleep(0.3)
    summary = rec.stop()
    (s,) = summary["streams"]
    assert s["samples"] == len(first.timestamps) + len(second.timestamps)
    assert s["gaps"] == 1 and s["gap_s"] > 1.0
    assert s["interruptions"] == 1
    rec_ts = load(out)[name]["time_stamps"]
    np.testing.assert_allclose(rec_ts, first.timestamps + second.timestamps, atol=1e-3, rtol=0)


def test_recorder_repr_and_not_started(tmp_path):
    rec = Recorder(tmp_path / "x.xdf", ["type=EEG"])
    assert "0 streams" in repr(rec) and "stopped" in repr(rec)
    with pytest.raises(DataFormatError, match="not started"):
        rec.poll()


def test_records_mne_lsl_player(tmp_path):
    """Interoperability: a stream published by MNE-LSL's PlayerLSL is recorded sample for sample."""
    mne_lsl_player = pytest.importorskip("mne_lsl.player")
    import mne

    sfreq, n = 250.0, 2500
    data = (np.arange(n)[None, :] + np.arange(3)[:, None] * 1e4) * 1e-6  # unique values: find the offset
    raw = mne.io.RawArray(data, mne.create_info(["Fz", "Cz", "Pz"], sfreq, "eeg"), verbose="error")
    tag = f"mne-lsl-{os.getpid()}-{time.monotonic_ns()}"
    player = mne_lsl_player.PlayerLSL(raw, chunk_size=25, name=tag, source_id=tag)
    player.start()
    try:
        summary = record(tmp_path / "player.xdf", [f"source_id={tag}"], duration_s=2.0, timeout=5)
    finally:
        player.stop()
    (s,) = summary["streams"]
    assert s["samples"] > 200 and s["gaps"] == 0
    got = load(tmp_path / "player.xdf")[tag]
    x = np.asarray(got["time_series"], dtype=np.float64)
    start = int(round(x[0, 0] * 1e6))
    idx = (start + np.arange(len(x))) % n
    np.testing.assert_allclose(x, data[:, idx].T, rtol=1e-6, atol=1e-12)
    assert np.all(np.diff(got["time_stamps"]) > 0)


def _chunk_tags(path):
    """(tag, stream id or None) of every chunk of an XDF file, walked by hand."""
    import struct

    raw = path.read_bytes()
    assert raw[:4] == b"XDF:"
    pos, out = 4, []
    while pos < len(raw):
        nb = raw[pos]
        length = int.from_bytes(raw[pos + 1:pos + 1 + nb], "little")
        tag = struct.unpack("<H", raw[pos + 1 + nb:pos + 3 + nb])[0]
        sid = struct.unpack("<I", raw[pos + 3 + nb:pos + 7 + nb])[0] if tag in (2, 3, 4, 6) else None
        out.append((tag, sid))
        pos += 1 + nb + length
    return out


def test_clock_offsets_boundaries_and_footers_are_written(tmp_path, make_outlet):
    outlet, selector, name = make_outlet("EEG", 2, 100.0, "float32")
    rec = Recorder(tmp_path / "chunks.xdf", [selector], timeout=5, clock_offset_s=0.5, boundary_s=0.5).start()
    assert "1 streams" in repr(rec) and "recording" in repr(rec)
    pusher = Pusher(outlet, rate=100.0, n_channels=2).start()
    t_end = time.monotonic() + 2.0
    while time.monotonic() < t_end:
        rec.poll()
        time.sleep(0.1)
    pusher.stop()
    summary = rec.stop()
    assert summary["streams"][0]["samples"] == len(pusher.timestamps)
    tags = _chunk_tags(tmp_path / "chunks.xdf")
    assert tags[0] == (1, None) and tags[1] == (2, 1)       # file header, stream header
    assert sum(t == 4 for t, _ in tags) >= 2                 # clock offsets
    assert sum(t == 5 for t, _ in tags) >= 2                 # boundaries
    assert tags[-1] == (6, 1)                                # footer last
    assert sum(t == 3 for t, _ in tags) >= 5                 # samples arrive chunk by chunk
    s = load(tmp_path / "chunks.xdf")[name]
    assert np.all(np.abs(s["clock_values"]) < 0.01)          # loopback: same clock
