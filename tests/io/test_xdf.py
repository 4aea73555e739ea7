"""Tests of neuromer.io.xdf (and _xdf_recovery): our XDF writer against pyxdf, the reader on real files,
truncation, clock resets, duplicate streams, corrupt chunks, malformed headers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from neuromer.errors import DataFormatError, NeuromerError
from neuromer.io.xdf import XdfWriter, read_xdf, stream_info_xml, xdf_info
from neuromer.protocol import Protocol, Stimulus, StreamSpec, Timing

# ../shared/realdata/xdf from the repository root (a git worktree may sit one level deeper)
REAL = next((d / "shared" / "realdata" / "xdf" for d in Path(__file__).resolve().parents[3:5]
             if (d / "shared" / "realdata" / "xdf").is_dir()),
            Path(__file__).resolve().parents[3] / "shared" / "realdata" / "xdf")


def real(name: str) -> Path:
    path = REAL / name
    if not path.is_file():
        pytest.skip(f"real XDF example {path} is not available")
    return path


def warned(caplog, text: str) -> bool:
    return any(r.levelno >= logging.WARNING and r.name == "neuromer" and text in r.getMessage()
               for r in caplog.records)


# --------------------------------------------------------------------------------- writer
def test_writer_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "rt.xdf"
    data = {
        1: ("float32", rng.normal(0, 50, (300, 4)).astype(np.float32)),  # > 255 samples: 4-byte count
        2: ("int16", rng.integers(-32768, 32767, (7, 3), endpoint=True).astype(np.int16)),
        3: ("double64", rng.normal(0, 1, (5, 2))),
        4: ("int8", np.array([[-128], [0], [127]], dtype=np.int8)),
        5: ("int64", np.array([[2**62, -(2**62)]], dtype=np.int64)),
    }
    strings = ["stim_on/s01", "", "µV é ♫", "x" * 300]  # empty, non-ASCII, > 255 bytes
    stamps = {}
    with XdfWriter(path) as w:
        for sid, (fmt, arr) in data.items():
            w.add_stream(sid, stream_info_xml(name=f"s{sid}", type="EEG", channel_count=arr.shape[1],
                                              nominal_srate=100, channel_format=fmt,
                                              channels=[{"label": f"c{j}", "type": "EEG", "unit": "microvolts"}
                                                        for j in range(arr.shape[1])]))
            ts = 1000.0 + np.cumsum(rng.uniform(0.009, 0.011, len(arr)))
            stamps[sid] = ts
            half = len(arr) // 2
            w.write_samples(sid, ts[:half], arr[:half])
            w.write_samples(sid, ts[half:], arr[half:])
        w.add_stream(9, stream_info_xml(name="mk", type="Markers", channel_count=1, nominal_srate=0,
                                        channel_format="string"))
        stamps[9] = np.array([1.5, 2.5, 3.25, 4.0])
        w.write_samples(9, stamps[9], strings)
        w.write_clock_offset(1, 1000.0, 0.125)
        w.write_boundary()
        w.write_footer(1, first_timestamp=stamps[1][0], last_timestamp=stamps[1][-1], sample_count=300,
                       clock_offsets=[(1000.0, 0.125)])
    streams, header = pyxdf.load_xdf(path, synchronize_clocks=False, dejitter_timestamps=False)
    assert header["info"]["version"] == ["1.0"]
    by_id = {s["info"]["stream_id"]: s for s in streams}
    for sid, (fmt, arr) in data.items():
        s = by_id[sid]
        assert s["info"]["channel_format"] == [fmt]
        assert s["time_series"].dtype == arr.dtype
        np.testing.assert_array_equal(s["time_series"], arr)
        np.testing.assert_array_equal(s["time_stamps"], stamps[sid])
    assert [row[0] for row in by_id[9]["time_series"]] == strings
    np.testing.assert_array_equal(by_id[9]["time_stamps"], stamps[9])
    assert by_id[1]["clock_times"] == [1000.0] and by_id[1]["clock_values"] == [0.125]
    assert by_id[1]["footer"]["info"]["sample_count"] == ["300"]
    chans = by_id[1]["info"]["desc"][0]["channels"][0]["channel"]
    assert [c["label"][0] for c in chans] == ["c0", "c1", "c2", "c3"]
    assert chans[0]["unit"] == ["microvolts"]


def test_writer_refuses_to_overwrite(tmp_path):
    path = tmp_path / "x.xdf"
    XdfWriter(path).close()
    with pytest.raises(DataFormatError, match="file exists; refusing to overwrite it"):
        XdfWriter(path)
    with XdfWriter(path, overwrite=True) as w:
        w.add_stream(0, stream_info_xml(name="a", type="EEG", channel_count=1, nominal_srate=1,
                                        channel_format="float32"))
    assert len(pyxdf.load_xdf(path)[0]) == 1


def test_writer_checks_its_input(tmp_path):
    with XdfWriter(tmp_path / "x.xdf") as w:
        w.add_stream(1, stream_info_xml(name="a", type="EEG", channel_count=2, nominal_srate=1,
                                        channel_format="int16"))
        with pytest.raises(NeuromerError, match="shape"):
            w.write_samples(1, [0.0, 1.0], np.zeros((2, 3)))
        with pytest.raises(NeuromerError, match="not integers"):
            w.write_samples(1, [0.0], [[1.5, 2.0]])
        with pytest.raises(NeuromerError, match="not integers in its range"):
            w.write_samples(1, [0.0], np.array([[40000, 2]], dtype=np.int64))
        with pytest.raises(NeuromerError, match="no header"):
            w.write_samples(7, [0.0], [[1, 2]])
        with pytest.raises(NeuromerError, match="already has a header"):
            w.add_stream(1, stream_info_xml(name="a", type="EEG", channel_count=1, nominal_srate=1,
                                            channel_format="int16"))
    with pytest.raises(NeuromerError, match="channel_format"):
        stream_info_xml(name="a", type="EEG", channel_count=1, nominal_srate=1, channel_format="float16")


# ------------------------------------------------------------------------ synthetic session
EEG_SR, PHYS_SR = 100.0, 25.0


def write_session(path: Path, *, n_rounds: int = 3, footers: bool = True, close: bool = True,
                  offset: float = 0.5) -> tuple[XdfWriter, list[tuple[int, int]]]:
    """EEG (4 ch, 100 Hz) on a remote clock, physio (25 Hz), markers; chunk ends and EEG counts."""
    w = XdfWriter(path)
    ends = [(path.stat().st_size, 0)]  # (file size after a chunk, EEG samples complete so far)
    n_eeg = 0

    def mark():
        ends.append((path.stat().st_size, n_eeg))

    eeg_ch = [{"label": c, "type": "EEG", "unit": "microvolts"} for c in ("Fz", "Cz", "Pz", "Oz")]
    w.add_stream(1, stream_info_xml(name="amp", type="EEG", channel_count=4, nominal_srate=EEG_SR,
                                    channel_format="float32", channels=eeg_ch)); mark()
    w.add_stream(2, stream_info_xml(name="body", type="Physio", channel_count=2, nominal_srate=PHYS_SR,
                                    channel_format="double64",
                                    channels=[{"label": "GSR", "type": "GSR", "unit": "microsiemens"},
                                              {"label": "ECG", "type": "ECG", "unit": "mV"}])); mark()
    w.add_stream(3, stream_info_xml(name="mk", type="Markers", channel_count=1, nominal_srate=0,
                                    channel_format="string")); mark()
    per = 100  # one second per round
    for r in range(n_rounds):
        t = r + np.arange(per) / EEG_SR
        # EEG clock runs `offset` s behind the recorder: remote stamps = local - offset
        w.write_samples(1, 10.0 + t - offset, np.column_stack([t, -t, 2 * t, np.full(per, r)]).astype(np.float32))
        n_eeg += per; mark()
        tp = r + np.arange(int(PHYS_SR)) / PHYS_SR
        w.write_samples(2, 10.0 + tp, np.column_stack([3 * tp, tp])); mark()
        w.write_samples(3, [10.0 + r + 0.25], [f"m{r}"]); mark()
        w.write_clock_offset(1, 10.0 + r - offset, offset); mark()
    w.write_boundary(); mark()
    if footers:
        for sid in (1, 2, 3):
            w.write_footer(sid, first_timestamp=10.0, last_timestamp=10.0 + n_rounds, sample_count=0); mark()
    if close:
        w.close()
    return w, ends


def test_read_synthetic_session_on_one_clock(tmp_path, caplog):
    path = tmp_path / "sess.xdf"
    write_session(path)
    s = read_xdf(path, subject="01", dejitter=False)
    raw = s.raw
    assert raw.ch_names == ["Fz", "Cz", "Pz", "Oz", "GSR", "ECG"]
    assert raw.get_channel_types() == ["eeg"] * 4 + ["gsr", "ecg"]
    assert s.sfreq == EEG_SR and raw.n_times == 300
    t = np.arange(300) / EEG_SR
    data = raw.get_data()
    np.testing.assert_allclose(data[0], t * 1e-6, rtol=1e-6, atol=1e-12)  # float32 µV -> V
    # physio is a linear ramp: interpolation onto the EEG stamps is exact (edge value held at the end)
    last_phys = 2 + (PHYS_SR - 1) / PHYS_SR
    np.testing.assert_allclose(data[4], 3 * np.minimum(t, last_phys), atol=1e-9)
    np.testing.assert_allclose(data[5], 1e-3 * np.minimum(t, last_phys), atol=1e-12)  # mV -> V
    assert raw.info["dig"] is not None  # standard montage on 10-20 names
    # markers at local 10.25 + r; EEG sample 0 is at local 10.0 after clock sync
    np.testing.assert_allclose(s.markers.onset_s, [0.25, 1.25, 2.25], atol=1e-9)
    assert list(s.markers.description) == ["m0", "m1", "m2"]
    assert s.subject == "01"
    assert s.provenance["source_files"] == [str(path)]
    assert s.provenance["clock_offsets"]["amp"] == {"mean_offset_s": 0.5, "n": 3}
    step = s.provenance["steps"][-1]
    assert step["step"] == "read_xdf" and step["eeg_stream"] == "amp" and step["physio_streams"] == ["body"]
    assert not warned(caplog, "footer")


def test_read_selection_resampling_and_errors(tmp_path):
    path = tmp_path / "sess.xdf"
    write_session(path)
    s = read_xdf(path, eeg_stream="physio", physio_streams=[], sfreq=50.0)  # matched by type
    assert s.raw.ch_names == ["GSR", "ECG"] and s.sfreq == 50.0
    assert len(s.markers) == 3
    s = read_xdf(path, physio_streams=[], marker_stream="MK", sfreq=50.0)
    assert s.raw.ch_names == ["Fz", "Cz", "Pz", "Oz"] and s.raw.n_times == 150
    np.testing.assert_allclose(s.markers.onset_s, [0.25, 1.25, 2.25], atol=1e-6)
    with pytest.raises(DataFormatError, match="no stream with samples named or typed 'nope'"):
        read_xdf(path, eeg_stream="nope")
    bad = tmp_path / "bad.xdf"
    bad.write_bytes(b"hello world, not xdf")
    with pytest.raises(DataFormatError, match="not an XDF file"):
        read_xdf(bad)
    empty = tmp_path / "empty.xdf"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty file"):
        read_xdf(empty)
    with pytest.raises(DataFormatError, match="not found"):
        read_xdf(tmp_path / "missing.xdf")
    only_markers = tmp_path / "mk.xdf"
    with XdfWriter(only_markers) as w:
        w.add_stream(0, stream_info_xml(name="mk", type="Markers", channel_count=1, nominal_srate=0,
                                        channel_format="string"))
        w.write_samples(0, [1.0], ["a"])
    with pytest.raises(DataFormatError, match="no EEG-like numeric stream"):
        read_xdf(only_markers)


def test_read_with_protocol_names_channels_and_finds_trials(tmp_path):
    path = tmp_path / "p.xdf"
    with XdfWriter(path) as w:
        w.add_stream(1, stream_info_xml(name="amp", type="EEG", channel_count=2, nominal_srate=50,
                                        channel_format="float32"))
        w.write_samples(1, 100 + np.arange(500) / 50, np.ones((500, 2), np.float32))
        w.add_stream(2, stream_info_xml(name="mk", type="Markers", channel_count=1, nominal_srate=0,
                                        channel_format="string"))
        w.write_samples(2, [101.0, 102.0, 104.0, 105.0],
                        ["baseline_start", "stim_on/s1", "stim_off/s1", "rating/valence/7"])
    protocol = Protocol(name="t", timing=Timing(baseline_s=1.0, stimulus_s=2.0),
                        streams=(StreamSpec("EEG", None, ("Fz", "Cz"), ("eeg", "eeg")),),
                        stimuli=(Stimulus("s1"),))
    s = read_xdf(path, protocol)
    assert s.raw.ch_names == ["Fz", "Cz"] and s.protocol is protocol
    assert len(s.trials) == 1
    row = s.trials.iloc[0]
    assert row.stimulus_id == "s1" and row.onset_s == pytest.approx(2.0) and row.duration_s == pytest.approx(2.0)
    assert row.valence == 7


def test_xdf_info(tmp_path):
    path = tmp_path / "sess.xdf"
    write_session(path)
    info = xdf_info(path)
    assert list(info.columns) == ["stream_id", "name", "type", "channel_count", "nominal_srate",
                                  "channel_format", "n_samples", "duration_s", "first_ts", "last_ts",
                                  "source_id", "hostname"]
    assert info.set_index("name").loc["amp", "n_samples"] == 300
    assert info.set_index("name").loc["mk", "channel_format"] == "string"


# ---------------------------------------------------------------------------- truncation
def test_truncated_at_many_offsets_loads_the_complete_prefix(tmp_path, caplog):
    full = tmp_path / "full.xdf"
    _, ends = write_session(full, n_rounds=3)
    blob = full.read_bytes()
    size = len(blob)
    header_end = ends[0][0]
    rng = np.random.default_rng(1)
    cuts = set(range(0, header_end + 3))
    for end, _ in ends:
        cuts |= {end - 1, end, end + 1, end + 7}
    cuts |= set(rng.integers(0, size, 25).tolist())
    cuts = sorted(c for c in cuts if 0 <= c < size)
    assert len(cuts) > 60
    for cut in cuts:
        part = tmp_path / f"cut{cut}.xdf"
        part.write_bytes(blob[:cut])
        complete = max(n for end, n in ends if end <= cut) if cut >= header_end else None
        caplog.clear()
        if complete is None:
            with pytest.raises(DataFormatError, match="truncated inside its file header|empty file"):
                read_xdf(part)
        elif complete == 0:
            with pytest.raises(DataFormatError, match="no EEG-like numeric stream"):
                read_xdf(part)
        else:
            s = read_xdf(part)
            assert s.raw.n_times == complete, cut
            assert s.raw.ch_names[:4] == ["Fz", "Cz", "Pz", "Oz"]
            at_boundary = any(end == cut for end, _ in ends)
            assert warned(caplog, "cut short" if at_boundary else "incomplete or corrupt chunk"), cut
            assert warned(caplog, str(part)), cut
        part.unlink()


def test_writer_killed_midway_still_loads(tmp_path, caplog):
    path = tmp_path / "live.xdf"
    w, _ = write_session(path, n_rounds=2, footers=False, close=False)  # no footers, file still open
    s = read_xdf(path)
    assert s.raw.n_times == 200 and list(s.markers.description) == ["m0", "m1"]
    assert warned(caplog, "have no footer")
    w.close()


def test_zero_filled_tail_is_ignored(tmp_path, caplog):
    """A power loss can leave the end of a file as zeros: load what precedes them."""
    path = tmp_path / "z.xdf"
    write_session(path, n_rounds=2)
    with open(path, "ab") as fh:
        fh.write(bytes(4096))
    s = read_xdf(path)
    assert s.raw.n_times == 200
    assert warned(caplog, "incomplete or corrupt chunk")


# ---------------------------------------------------------------------------- real files
def test_real_minimal():
    s = read_xdf(real("minimal.xdf"))
    expected = np.array([[192, 255, 238], [12, 22, 32], [13, 23, 33], [14, 24, 34], [15, 25, 35],
                         [12, 22, 32], [13, 23, 33], [14, 24, 34], [15, 25, 35]], float)
    assert s.raw.get_channel_types() == ["eeg"] * 3
    assert s.raw.ch_names == ["SendDataC_0", "SendDataC_1", "SendDataC_2"]
    assert s.sfreq == 10.0
    np.testing.assert_array_equal(np.round(s.raw.get_data().T * 1e6, 6), expected)  # µV -> V
    # the EEG clock offset (-0.1 s) moves its first sample to 5.0 s; markers (no offsets) stay at
    # 5.1 ... 5.9 s, so 'Hello' (5.2 s) is 0.2 s in; the last one (5.9 s) is past the data
    m = s.markers
    assert list(m.description[1:]) == ["Hello", "World", "from", "LSL", "Hello", "World", "from"]
    assert m.description[0].startswith("<?xml")  # the file's quirk: a footer sent as a marker
    np.testing.assert_allclose(m.onset_s, np.arange(1, 9) / 10, atol=1e-9)
    assert s.provenance["clock_offsets"]["SendDataC"] == {"mean_offset_s": pytest.approx(-0.1), "n": 2}


def test_real_clock_resets():
    path = real("clock_resets.xdf")
    s = read_xdf(path)
    assert s.raw.n_times == 27815 and len(s.raw.ch_names) == 8
    assert s.raw.get_channel_types() == ["eeg"] * 8
    assert len(s.markers) > 0 and {"Test", "XXX"} <= set(s.markers.description)
    assert np.all(np.diff(s.markers.onset_s) >= 0)
    streams = {st["info"]["name"][0]: st for st in pyxdf.load_xdf(path)[0]}
    assert np.all(np.diff(streams["BioSemi"]["time_stamps"]) > 0)  # monotonic after synchronisation
    info = xdf_info(path).set_index("name")
    assert info.loc["BioSemi", "n_samples"] == 27815 and info.loc["MyMarkerStream", "n_samples"] == 175


def test_real_empty_streams(caplog):
    caplog.set_level(logging.INFO, logger="neuromer")
    s = read_xdf(real("empty_streams.xdf"))
    assert s.raw.ch_names == ["ch:00"] and s.raw.n_times == 10
    np.testing.assert_array_equal(s.raw.get_data()[0], np.arange(10))
    assert list(s.markers.description) == ['{"state": 2}']
    assert any("skipping empty stream" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------ damaged recordings
RATE = 256.0


def write_recording(path: Path, *, n_rounds: int = 6, reset_at: int | None = None, back_s: float = 2.0,
                    twin: int | None = None, garbage: dict[int, bytes] | None = None) -> np.ndarray:
    """A LabRecorder-like file: 8-ch EEG at 256 Hz in 1 s chunks, a marker per second, a Boundary
    chunk after each round. ``reset_at``: EEG stamps step back ``back_s`` from that sample on.
    ``twin``: a second stream with the EEG's name and type and this many samples (host 'pc2').
    ``garbage``: bytes inserted just before the Boundary chunk of the given rounds.
    Returns the EEG data (n, 8) float32 in µV."""
    rng = np.random.default_rng(3)
    n = int(n_rounds * RATE)
    data = rng.normal(0, 20, (n, 8)).astype(np.float32)
    stamps = 100.0 + np.arange(n) / RATE
    if reset_at is not None:
        stamps[reset_at:] -= back_s
    chans = [{"label": c, "type": "EEG", "unit": "microvolts"}
             for c in ("Fp1", "Fp2", "F3", "F4", "C3", "C4", "O1", "O2")]
    with XdfWriter(path) as w:
        w.add_stream(1, stream_info_xml(name="amp", type="EEG", channel_count=8, nominal_srate=RATE,
                                        channel_format="float32", channels=chans, hostname="pc1",
                                        source_id="amp-1"))
        w.add_stream(2, stream_info_xml(name="mk", type="Markers", channel_count=1, nominal_srate=0,
                                        channel_format="string"))
        if twin is not None:
            w.add_stream(3, stream_info_xml(name="amp", type="EEG", channel_count=8, nominal_srate=RATE,
                                            channel_format="float32", channels=chans, hostname="pc2",
                                            source_id="amp-2"))
            w.write_samples(3, 100.0 + np.arange(twin) / RATE, np.full((twin, 8), 7, np.float32))
        per = int(RATE)
        for r in range(n_rounds):
            w.write_samples(1, stamps[r * per:(r + 1) * per], data[r * per:(r + 1) * per])
            w.write_samples(2, [100.0 + r + 0.5], [f"m{r}"])
            if garbage and r in garbage:
                w._fh.write(garbage[r])  # damage: raw bytes between two chunks
            w.write_boundary()
    return data


def test_clock_reset_backwards_is_split_and_joined(tmp_path, caplog):
    clean, broken = tmp_path / "clean.xdf", tmp_path / "reset.xdf"
    data = write_recording(clean)
    k = int(3 * RATE) + 17
    write_recording(broken, reset_at=k, back_s=2.0)
    for dejitter in (False, True):
        caplog.clear()
        ref = read_xdf(clean, dejitter=dejitter)
        s = read_xdf(broken, dejitter=dejitter)
        assert s.sfreq == RATE == ref.sfreq  # sorting gave a wrong, faster rate
        assert s.raw.n_times == len(data)  # no sample dropped
        np.testing.assert_array_equal(s.raw.get_data(), ref.raw.get_data())  # samples in recorded order
        np.testing.assert_array_equal(s.raw.get_data()[0], data[:, 0].astype(float) * 1e-6)
        np.testing.assert_allclose(s.markers.onset_s, ref.markers.onset_s, atol=1e-9)
        np.testing.assert_allclose(s.markers.onset_s, np.arange(6) + 0.5, atol=1e-9)
        (where, back), = s.provenance["clock_resets"]["amp"]
        assert where == k and back == pytest.approx(2.0, abs=1e-9)
        assert warned(caplog, f"jump back 1 time(s) (first at sample {k}, {k / RATE:.3f} s into the stream, "
                              "by 2.000 s)")
        assert not warned(caplog, "break")
    info = xdf_info(broken).set_index("name")
    assert info.loc["amp", "n_samples"] == len(data)


def test_small_backward_jitter_is_not_a_reset(tmp_path, caplog):
    path = tmp_path / "jitter.xdf"
    with XdfWriter(path) as w:
        w.add_stream(1, stream_info_xml(name="amp", type="EEG", channel_count=1, nominal_srate=RATE,
                                        channel_format="double64"))
        ts = 10 + np.arange(1024) / RATE
        ts[500] -= 1.5 / RATE  # one stamp 1.5 periods early: jitter, below 5 periods
        w.write_samples(1, ts, np.arange(1024.0))
    s = read_xdf(path, dejitter=True)
    assert s.raw.n_times == 1024 and s.sfreq == RATE and "clock_resets" not in s.provenance
    np.testing.assert_array_equal(s.raw.get_data()[0], np.arange(1024.0) * 1e-6)
    assert not warned(caplog, "jump back")


def test_duplicate_streams_are_never_merged(tmp_path, caplog):
    path = tmp_path / "twin.xdf"
    data = write_recording(path, n_rounds=4, twin=900)
    s = read_xdf(path)
    assert len(s.raw.ch_names) == 8  # not 16 (the twin is not taken as a physio stream)
    assert s.raw.ch_names == ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "O1", "O2"]
    np.testing.assert_array_equal(s.raw.get_data(), data.T.astype(float) * 1e-6)
    assert warned(caplog, "2 streams have the same name and type 'EEG'; using 'amp' (id 1, hostname pc1, "
                          "source_id amp-1, 1024 samples) (most samples) and leaving out 'amp' (id 3, hostname pc2, "
                          "source_id amp-2, 900 samples)")
    assert warned(caplog, "eeg_stream='id=N'")
    caplog.clear()
    other = read_xdf(path, eeg_stream="id=3")
    assert other.raw.n_times == 900 and len(other.raw.ch_names) == 8
    np.testing.assert_array_equal(other.raw.get_data(), np.full((8, 900), 7e-6))
    assert not warned(caplog, "same name and type")
    by_source = read_xdf(path, eeg_stream="amp-2")
    assert by_source.raw.n_times == 900
    with pytest.raises(DataFormatError, match="no stream with samples named or typed 'id=9'"):
        read_xdf(path, eeg_stream="id=9")


def test_duplicate_streams_tie_goes_to_lowest_id(tmp_path, caplog):
    path = tmp_path / "tie.xdf"
    data = write_recording(path, n_rounds=2, twin=512)
    s = read_xdf(path)
    np.testing.assert_array_equal(s.raw.get_data(), data.T.astype(float) * 1e-6)
    assert warned(caplog, "using 'amp' (id 1")


def test_garbage_before_a_boundary_is_skipped(tmp_path, caplog):
    clean, broken = tmp_path / "clean.xdf", tmp_path / "garbage.xdf"
    write_recording(clean)
    junk = b"GARBAGE!" * 16 + bytes(range(256))  # 384 bytes
    write_recording(broken, garbage={1: junk, 3: junk[:100]})
    assert broken.stat().st_size == clean.stat().st_size + 484
    ref = read_xdf(clean)
    s = read_xdf(broken)
    # garbage between chunks loses nothing: the data and markers are those of the clean file
    np.testing.assert_array_equal(s.raw.get_data(), ref.raw.get_data())
    np.testing.assert_array_equal(s.markers.onset_s, ref.markers.onset_s)
    assert list(s.markers.description) == [f"m{r}" for r in range(6)]
    assert warned(caplog, "skipped 484 byte(s) of corrupt data in 2 place(s)")
    assert not warned(caplog, "truncated")


def test_corrupt_chunk_mid_file_resyncs_at_next_boundary(tmp_path, caplog):
    clean, broken = tmp_path / "clean.xdf", tmp_path / "corrupt.xdf"
    data = write_recording(clean)
    blob = bytearray(clean.read_bytes())
    boundary = b"\x01\x12\x05\x00" + bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")
    starts = [i for i in range(len(blob)) if blob.startswith(boundary, i)]
    assert len(starts) == 6
    # the round-2 EEG chunk starts right after the first ... second Boundary chunk: break its length
    eeg2 = starts[1] + len(boundary)
    blob[eeg2] = 0x07  # not a valid length-of-length byte
    broken.write_bytes(bytes(blob))
    s = read_xdf(broken)
    # round 2's EEG chunk, its marker chunk, lost up to the Boundary after them; the rest is back
    n = int(RATE)
    kept = np.r_[0:2 * n, 3 * n:6 * n]
    assert s.raw.n_times == 5 * n and s.sfreq == RATE  # the lost second is not spread by dejittering
    np.testing.assert_array_equal(s.raw.get_data(), data[kept].T.astype(float) * 1e-6)
    assert list(s.markers.description) == ["m0", "m1", "m3", "m4", "m5"]
    assert warned(caplog, f"skipped {starts[2] - eeg2} byte(s) of corrupt data in 1 place(s) (first at byte {eeg2})")
    assert warned(caplog, "break(s)")  # the lost second is a gap in the EEG time stamps
    # pyxdf on its own recovers as much
    streams = {st["info"]["name"][0]: st for st in pyxdf.load_xdf(broken)[0]}
    assert len(streams["amp"]["time_stamps"]) == 5 * n


def write_zero_channel_stream(path: Path, *, name: str, type: str, n_samples: int,
                              edit=("<channel_count>1</channel_count>", "<channel_count>0</channel_count>")) -> None:
    """A file whose stream 1 declares channel_count 0 (or another ``edit`` of its header XML),
    written byte by byte: our writer refuses such headers."""
    import struct

    from neuromer.io.xdf import _varlen

    def chunk(tag: int, content: bytes) -> bytes:
        return _varlen(len(content) + 2) + struct.pack("<H", tag) + content

    xml = stream_info_xml(name=name, type=type, channel_count=1, nominal_srate=100, channel_format="float32")
    xml = xml.replace(*edit)
    with XdfWriter(path) as w:
        w.add_stream(2, stream_info_xml(name="ok", type="Misc", channel_count=1, nominal_srate=100,
                                        channel_format="float32"))
        w.write_samples(2, np.arange(50) / 100, np.ones(50, np.float32))
    body = chunk(2, struct.pack("<I", 1) + xml.encode())
    if n_samples:
        rec = b"".join(b"\x08" + struct.pack("<df", i / 100, 1.0) for i in range(n_samples))
        body += chunk(3, struct.pack("<I", 1) + _varlen(n_samples) + rec)
    with open(path, "ab") as fh:
        fh.write(body)


@pytest.mark.parametrize("name,type", [("counter", "Misc"), ("amp", "EEG")])
def test_zero_channel_stream_with_samples_is_a_one_line_error(tmp_path, capsys, name, type):
    from neuromer.cli import main

    path = tmp_path / "zero.xdf"
    write_zero_channel_stream(path, name=name, type=type, n_samples=10)
    msg = f"{path}: stream {name!r} (id 1) carries samples but its header declares channel_count 0; the file"
    with pytest.raises(DataFormatError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        read_xdf(path)
    with pytest.raises(DataFormatError, match="its header declares channel_count 0"):
        xdf_info(path)
    capsys.readouterr()
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "declares channel_count 0" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("edit,problem", [
    (("<channel_count>1<", "<channel_count>two<"), "stream 'amp' (id 1) carries samples but its header declares channel_count two"),
    (("<channel_count>1</channel_count>", ""), "its header declares channel_count (missing)"),
    (("float32", "float16"), "its header declares channel_format 'float16' (expected one of int8"),
    (("</info>", "</inf>"), "stream id 1 carries samples but its header is not valid XML"),
])
def test_unreadable_stream_header_with_samples_is_a_one_line_error(tmp_path, edit, problem):
    path = tmp_path / "bad.xdf"
    write_zero_channel_stream(path, name="amp", type="EEG", n_samples=10, edit=edit)
    with pytest.raises(DataFormatError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        read_xdf(path)


def test_zero_channel_stream_without_samples_is_skipped(tmp_path):
    path = tmp_path / "zero.xdf"
    write_zero_channel_stream(path, name="amp", type="EEG", n_samples=0)
    s = read_xdf(path)
    assert s.raw.ch_names == ["ok_0"] and s.raw.n_times == 50


def test_read_xdf_takes_a_protocol_path(tmp_path):
    path = tmp_path / "p.xdf"
    with XdfWriter(path) as w:
        w.add_stream(1, stream_info_xml(name="amp", type="EEG", channel_count=2, nominal_srate=50,
                                        channel_format="float32"))
        w.write_samples(1, 100 + np.arange(500) / 50, np.ones((500, 2), np.float32))
        w.add_stream(2, stream_info_xml(name="mk", type="Markers", channel_count=1, nominal_srate=0,
                                        channel_format="string"))
        w.write_samples(2, [101.0, 102.0, 104.0, 105.0],
                        ["baseline_start", "stim_on/s1", "stim_off/s1", "rating/valence/7"])
    toml = tmp_path / "proto.toml"
    toml.write_text('[protocol]\nname = "t"\n[timing]\nbaseline_s = 1.0\nstimulus_s = 2.0\n'
                    '[[stimuli]]\nid = "s1"\nfile = "missing.wav"\n', encoding="utf-8")
    for protocol in (toml, str(toml)):
        s = read_xdf(path, protocol=protocol)
        assert s.protocol.name == "t" and len(s.trials) == 1
        assert s.trials.iloc[0].onset_s == pytest.approx(2.0) and s.trials.iloc[0].valence == 7
    with pytest.raises(NeuromerError, match="Invalid type for the 'protocol' parameter"):
        read_xdf(path, protocol=42)


@pytest.mark.parametrize("name", ["minimal.xdf", "clock_resets.xdf", "empty_streams.xdf"])
def test_real_files_load_as_pyxdf_loads_them(name):
    """Our chunk scan, reset repair and dejittering give pyxdf's own streams on real files."""
    from neuromer.io.xdf import _load

    path = real(name)
    ours, truncated = _load(path, synchronize_clocks=True, handle_clock_resets=True, dejitter_timestamps=True)
    theirs = pyxdf.load_xdf(path)[0]
    assert not truncated and len(ours) == len(theirs)
    for a, b in zip(sorted(ours, key=lambda s: s["info"]["stream_id"]),
                    sorted(theirs, key=lambda s: s["info"]["stream_id"])):
        assert a["info"]["name"] == b["info"]["name"] and "clock_resets" not in a
        if isinstance(b["time_series"], list):
            assert a["time_series"] == b["time_series"]
        else:
            np.testing.assert_array_equal(a["time_series"], b["time_series"])
        np.testing.assert_allclose(a["time_stamps"], b["time_stamps"], rtol=0, atol=1e-9)


def test_twin_marker_streams_are_both_used(tmp_path, caplog):
    path = tmp_path / "mk2.xdf"
    with XdfWriter(path) as w:
        w.add_stream(1, stream_info_xml(name="amp", type="EEG", channel_count=1, nominal_srate=100,
                                        channel_format="float32"))
        w.write_samples(1, 10 + np.arange(500) / 100, np.zeros(500, np.float32))
        for sid, texts in ((2, ["a", "b"]), (3, ["c"])):
            w.add_stream(sid, stream_info_xml(name="Markers", type="Markers", channel_count=1,
                                              nominal_srate=0, channel_format="string"))
            w.write_samples(sid, 11 + np.arange(len(texts)) + 0.5 * (sid - 2), texts)
    s = read_xdf(path)
    assert list(s.markers.description) == ["a", "c", "b"]
    assert not warned(caplog, "same name and type")


def test_join_clock_resets_and_dejitter_exact():
    from neuromer.io._xdf_recovery import dejitter, join_clock_resets

    ts = 50.0 + np.arange(1000) / 100.0
    broken = ts.copy()
    broken[300:] -= 3.0   # reset back 3 s at sample 300
    broken[700:] -= 0.5   # and 0.5 s at sample 700
    fixed, resets = join_clock_resets(broken, 100.0)
    np.testing.assert_allclose(fixed, ts, rtol=0, atol=1e-9)
    assert [j for j, _ in resets] == [300, 700]
    np.testing.assert_allclose([b for _, b in resets], [3.0, 0.5], atol=1e-9)
    same, none = join_clock_resets(ts, 100.0)
    assert same is ts and none == []
    # a 0.3 s dropout (30 samples, far below pyxdf's 500-sample threshold) keeps its own segment
    gap = np.r_[ts[:400], ts[430:]]
    jitter = gap + np.random.default_rng(0).normal(0, 1e-4, len(gap))
    np.testing.assert_allclose(dejitter(jitter, 100.0), gap, atol=5e-5)


def test_damaged_file_sweep_never_ends_in_an_internal_error(tmp_path):
    """Bit flips, inserted, deleted, overwritten and zeroed bytes at random places: every damaged
    file loads (with the EEG rate intact) or raises DataFormatError. Bytes inserted or deleted
    leave the EEG either as recorded or NaN (a sample whose time stamp went bad is taken as
    missing), except at most one sample at the edge of a chunk whose framing the damage kept
    consistent; a changed sample value cannot be detected at all (XDF has no checksums)."""
    clean_path = tmp_path / "clean.xdf"
    write_recording(clean_path, n_rounds=3)
    clean = read_xdf(clean_path)
    recorded = {tuple(r) for r in clean.raw.get_data().T}
    blob = clean_path.read_bytes()
    rng = np.random.default_rng(2026)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(150):
        damaged = bytearray(blob)
        kind, pos, k = i % 5, int(rng.integers(4, len(blob))), int(rng.integers(1, 64))
        if kind == 0:
            damaged[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            damaged[pos:pos] = rng.integers(0, 256, k, dtype=np.uint8).tobytes()
        elif kind == 2:
            del damaged[pos:pos + k]
        elif kind == 3:
            damaged[pos:pos + k] = rng.integers(0, 256, len(damaged[pos:pos + k]), dtype=np.uint8).tobytes()
        else:
            damaged[pos:pos + 8 * k] = bytes(len(damaged[pos:pos + 8 * k]))
        path = tmp_path / "damaged.xdf"
        path.write_bytes(bytes(damaged))
        try:
            s = read_xdf(path)
        except DataFormatError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        assert s.sfreq == RATE and s.raw.n_times <= clean.raw.n_times and s.raw.ch_names == clean.raw.ch_names
        if kind in (1, 2):
            rows = s.raw.get_data().T
            foreign = [j for j, r in enumerate(rows) if np.isfinite(r).all() and tuple(r) not in recorded]
            assert len(foreign) <= 1, (i, pos, k, foreign)
    assert outcomes["loaded"] > 120 and outcomes["refused"] > 0


def chunk_table(blob: bytes) -> list[tuple[int, int, int]]:
    """(start, tag, end) of every chunk of an XDF file."""
    out, pos = [], 4
    while pos < len(blob):
        nb = blob[pos]
        length = int.from_bytes(blob[pos + 1:pos + 1 + nb], "little")
        out.append((pos, int.from_bytes(blob[pos + 1 + nb:pos + 3 + nb], "little"), pos + 1 + nb + length))
        pos += 1 + nb + length
    return out


def eeg_chunks(blob: bytes) -> list[tuple[int, int]]:
    """(start, end) of the EEG Samples chunks of write_recording (each: 256 records of 41 bytes)."""
    return [(a, e) for a, tag, e in chunk_table(blob) if tag == 3 and e - a > 1000]


def record(chunk_start: int, k: int) -> int:
    """Byte offset of sample k in an EEG chunk of write_recording: 7 bytes of chunk length and
    tag, the stream id (4), the sample count 256 (5: a 4-byte varlen), 41 bytes a sample."""
    return chunk_start + 7 + 4 + 5 + 41 * k


def test_corrupt_time_stamp_is_mended_and_its_sample_taken_as_missing(tmp_path, caplog):
    clean, broken = tmp_path / "clean.xdf", tmp_path / "flip.xdf"
    data = write_recording(clean, n_rounds=3)
    blob = bytearray(clean.read_bytes())
    start, _ = eeg_chunks(bytes(blob))[1]
    k = 100  # the 100th sample of the second chunk: sample 356 of the stream
    stamp_byte = record(start, k) + 1 + 7  # last byte of its double time stamp
    blob[stamp_byte] ^= 0x40  # flip an exponent bit: the stamp becomes astronomically large
    broken.write_bytes(bytes(blob))
    s = read_xdf(broken)
    ref = read_xdf(clean)
    assert s.sfreq == RATE and s.raw.n_times == len(data)
    got = s.raw.get_data()
    assert np.isnan(got[:, 256 + k]).all() and np.isfinite(np.delete(got, 256 + k, axis=1)).all()
    np.testing.assert_array_equal(np.delete(got, 256 + k, axis=1), np.delete(ref.raw.get_data(), 256 + k, axis=1))
    np.testing.assert_allclose(s.markers.onset_s, ref.markers.onset_s, atol=1e-9)
    assert warned(caplog, "stream 'amp' has 1 time stamp(s) out of line with their neighbours")
    assert "clock_resets" not in s.provenance


def test_samples_chunk_with_shifted_layout_is_skipped_alone(tmp_path, caplog):
    clean, broken = tmp_path / "clean.xdf", tmp_path / "shift.xdf"
    data = write_recording(clean, n_rounds=3)
    blob = bytearray(clean.read_bytes())
    start, end = eeg_chunks(bytes(blob))[1]
    assert blob[record(start, 50)] == 8
    blob[record(start, 50)] = 0x03  # a time-stamp length byte that is neither 0 nor 8
    broken.write_bytes(bytes(blob))
    s = read_xdf(broken)
    assert s.raw.n_times == 512 and s.sfreq == RATE
    np.testing.assert_array_equal(s.raw.get_data(), np.r_[data[:256], data[512:]].T.astype(float) * 1e-6)
    assert list(s.markers.description) == ["m0", "m1", "m2"]  # the chunks after it are intact
    assert warned(caplog, f"skipped {end - start} byte(s) of corrupt data in 1 place(s) (first at byte {start})")


def test_deleted_bytes_that_swallow_a_boundary_resync_there(tmp_path, caplog):
    clean, broken = tmp_path / "clean.xdf", tmp_path / "del.xdf"
    data = write_recording(clean, n_rounds=3)
    blob = clean.read_bytes()
    start, end = eeg_chunks(blob)[1]
    # 50 bytes cut from the end of the second EEG chunk: its length now runs over the marker
    # chunk (23 bytes) and the Boundary chunk (20) after it
    broken.write_bytes(blob[:end - 50] + blob[end:])
    boundary = [a for a, tag, _ in chunk_table(blob) if tag == 5][1]
    s = read_xdf(broken)
    assert s.raw.n_times == 512 and s.sfreq == RATE
    np.testing.assert_array_equal(s.raw.get_data(), np.r_[data[:256], data[512:]].T.astype(float) * 1e-6)
    assert list(s.markers.description) == ["m0", "m2"]
    assert warned(caplog, f"skipped {boundary - 50 - start} byte(s) of corrupt data in 1 place(s) "
                          f"(first at byte {start})")
