"""DEAP .dat/.mat trials (round trips, real-layout files, unsafe pickles) and original BDFs."""

from __future__ import annotations

import builtins
import codecs
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from neuromer.errors import DataFormatError, NeuromerError, UnsafePickleError
from neuromer.io.deap import (DEAP_CHANNEL_TYPES, DEAP_CHANNELS_GENEVA, DEAP_EEG_GENEVA, DEAP_EEG_TWENTE,
                              read_deap, read_deap_bdf, write_deap)
from neuromer.io import read_trials, write_trials
from neuromer.protocol import Protocol, Timing
from neuromer.session import Trials

sys.path.insert(0, str(Path(__file__).parent))
from bdf_writer import write_bdf  # noqa: E402


def _trials(dtype, n_trials=4, sfreq=128.0, baseline_s=3.0, n_samples=448, seed=0):
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((n_trials, 40, n_samples)) * 20).astype(dtype)
    labels = rng.uniform(1, 9, (n_trials, 4))
    labels[1, 2] = np.nan
    meta = pd.DataFrame({"trial": np.arange(1, n_trials + 1), "stimulus_id": [f"s{i}" for i in range(n_trials)],
                         "onset_s": np.linspace(10, 100, n_trials), "duration_s": 60.0,
                         "quadrant": ["HVHA", "LVLA", "HVLA", "LVHA"][:n_trials]})
    dropped = pd.DataFrame({"trial": [9], "stimulus_id": ["s9"], "reason": ["unknown stimulus id"]})
    return Trials(data, sfreq, list(DEAP_CHANNELS_GENEVA), list(DEAP_CHANNEL_TYPES), baseline_s=baseline_s,
                  labels=labels, metadata=meta, subject="07", dropped=dropped)


@pytest.mark.parametrize("suffix", [".dat", ".mat"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_bit_exact(tmp_path, suffix, dtype):
    t = _trials(dtype, sfreq=256.0, baseline_s=1.5)
    out = write_deap(t, tmp_path / f"x{suffix}")
    back = read_deap(out)
    assert back.data.dtype == np.dtype(dtype)
    assert back.data.tobytes() == t.data.tobytes()
    assert back.labels.tobytes() == t.labels.tobytes()
    assert back.ch_names == t.ch_names and back.ch_types == t.ch_types
    assert (back.sfreq, back.baseline_s, back.subject) == (256.0, 1.5, "07")
    pd.testing.assert_frame_equal(back.metadata, t.metadata, check_dtype=False)
    assert back.metadata["trial"].dtype == np.int64
    assert list(back.dropped["reason"]) == ["unknown stimulus id"]


def test_dat_is_a_plain_pickle_of_raw_bytes(tmp_path):
    # the .dat neuromer writes is a standard pickle (read the way DEAP's files are read) that stores
    # the arrays' bytes as they are: about data.nbytes on disk, not 1.5x as latin-1 text (protocol 2)
    t = _trials(np.float64, n_trials=4, n_samples=8064)
    path = write_deap(t, tmp_path / "s07.dat")
    with open(path, "rb") as fh:
        content = pickle.load(fh, encoding="latin1")
    assert content["data"].tobytes() == t.data.tobytes() and content["data"].flags.writeable
    assert content["labels"].tobytes() == t.labels.tobytes()
    assert t.data.nbytes < path.stat().st_size < t.data.nbytes * 1.01 + 20_000
    assert read_deap(path).data.tobytes() == t.data.tobytes()


@pytest.mark.parametrize("suffix", [".dat", ".mat"])
def test_trials_save_and_read_trials(tmp_path, suffix):
    t = _trials(np.float32)
    back = read_trials(write_trials(t, tmp_path / f"s07{suffix}"))
    assert back.data.tobytes() == t.data.tobytes()
    assert list(back.metadata["quadrant"]) == list(t.metadata["quadrant"])


def test_overwrite_refused(tmp_path):
    t = _trials(np.float64)
    path = write_deap(t, tmp_path / "s01.dat")
    before = path.read_bytes()
    with pytest.raises(DataFormatError, match="refusing to overwrite"):
        write_deap(_trials(np.float64, seed=1), path)
    assert path.read_bytes() == before
    write_deap(_trials(np.float64, seed=1), path, overwrite=True)
    assert path.read_bytes() != before
    assert [p.name for p in tmp_path.iterdir()] == ["s01.dat"]  # no temporary files left


def test_write_bad_extension(tmp_path):
    with pytest.raises(NeuromerError, match="extension"):
        write_deap(_trials(np.float64), tmp_path / "x.npy")


# --------------------------------------------------------------- DEAP's own files
def _deap_pickle(path, data, labels, protocol=2):
    with open(path, "wb") as fh:
        pickle.dump({"labels": labels, "data": data}, fh, protocol=protocol)
    return path


def test_deap_layout_without_neuromer_entry(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((3, 40, 8064))  # DEAP's per-trial layout, fewer trials for speed
    labels = rng.uniform(1, 9, (3, 4))
    t = read_deap(_deap_pickle(tmp_path / "s07.dat", data, labels))
    assert t.ch_names == list(DEAP_CHANNELS_GENEVA) and t.ch_types == list(DEAP_CHANNEL_TYPES)
    assert t.ch_names[:3] == ["Fp1", "AF3", "F3"] and t.ch_names[32:34] == ["hEOG", "vEOG"]
    assert (t.sfreq, t.baseline_s, t.subject) == (128.0, 3.0, "07")
    assert t.times[0] == -3.0 and t.stimulus_s == 60.0
    assert list(t.metadata["stimulus_id"]) == ["1", "2", "3"]
    np.testing.assert_array_equal(t.data, data)
    np.testing.assert_array_equal(t.labels, labels)
    assert read_deap(tmp_path / "s07.dat", subject="x").subject == "x"


def test_deap_mat_without_neuromer_entry(tmp_path):
    data = np.random.default_rng(2).standard_normal((2, 32, 512))
    savemat(tmp_path / "s12.mat", {"data": data, "labels": np.ones((2, 4))})
    t = read_deap(tmp_path / "s12.mat")
    assert t.ch_names == list(DEAP_EEG_GENEVA) and set(t.ch_types) == {"eeg"} and t.subject == "12"
    assert t.data.tobytes() == data.tobytes()


def test_generic_channel_names_warn(tmp_path, caplog):
    path = _deap_pickle(tmp_path / "s03.dat", np.zeros((2, 7, 400)), np.ones((2, 4)))
    with caplog.at_level("WARNING", logger="neuromer"):
        t = read_deap(path)
    assert t.ch_names == [f"ch{i}" for i in range(1, 8)] and "generic names" in caplog.text


def _py2_pickle(data: np.ndarray, labels: np.ndarray) -> bytes:
    """The bytes Python 2's cPickle (protocol 2) writes for DEAP's dict of float64 arrays."""
    def s(text: bytes) -> bytes:  # a Python 2 str
        return b"U" + bytes([len(text)]) + text if len(text) < 256 else b"T" + struct.pack("<I", len(text)) + text

    def array(a: np.ndarray) -> bytes:
        shape = b"(" + b"".join(b"J" + struct.pack("<i", n) for n in a.shape) + b"t"
        minus_one = b"J" + struct.pack("<i", -1)
        dtype = (b"cnumpy\ndtype\n" + s(b"f8") + b"\x89\x88\x87R"  # dtype('f8', False, True)
                 + b"(K\x03" + s(b"<") + b"NNN" + minus_one + minus_one + b"K\x00tb")  # its state
        return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"K\x00\x85" + s(b"b") + b"\x87R"
                + b"(K\x01" + shape + dtype + b"\x89" + s(a.astype("<f8").tobytes()) + b"tb")

    return b"\x80\x02}(" + s(b"labels") + array(labels) + s(b"data") + array(data) + b"u."


def test_python2_pickle(tmp_path):
    rng = np.random.default_rng(3)
    data, labels = rng.standard_normal((2, 40, 400)), rng.uniform(1, 9, (2, 4))
    path = tmp_path / "s02.dat"
    path.write_bytes(_py2_pickle(data, labels))
    t = read_deap(path)
    assert t.data.dtype == np.float64 and t.data.tobytes() == data.tobytes()
    assert t.labels.tobytes() == labels.tobytes() and t.ch_names == list(DEAP_CHANNELS_GENEVA)


def test_old_numpy_module_names(tmp_path):
    blob = pickle.dumps({"data": np.ones((1, 32, 400), np.float32), "labels": np.ones((1, 4))}, protocol=2)
    (tmp_path / "s01.dat").write_bytes(blob.replace(b"numpy._core.", b"numpy.core."))
    assert read_deap(tmp_path / "s01.dat").data.dtype == np.float32


# ---------------------------------------------------------------- unsafe pickles
class _Evil:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("make, refused", [
    (lambda p: _Evil(os.system, (f"touch {p}",)), ".system'"),
    (lambda p: _Evil(subprocess.Popen, (["touch", str(p)],)), "'subprocess.Popen'"),
    (lambda p: _Evil(builtins.eval, (f"open({str(p)!r}, 'w')",)), "'builtins.eval'"),
    (lambda p: _Evil(builtins.exec, (f"open({str(p)!r}, 'w')",)), "'builtins.exec'"),
])
def test_malicious_pickle_refused(tmp_path, make, refused):
    pwned = tmp_path / "pwned"
    path = tmp_path / "s01.dat"
    # the attack sits inside an otherwise valid DEAP dict
    with open(path, "wb") as fh:
        pickle.dump({"data": np.zeros((1, 40, 400)), "labels": make(pwned)}, fh, protocol=2)
    with pytest.raises(UnsafePickleError, match=refused) as err:
        read_deap(path)
    assert str(path) in str(err.value) and "only numpy arrays" in str(err.value)
    assert not pwned.exists()


def test_codecs_other_than_latin1_refused(tmp_path):
    path = tmp_path / "s01.dat"
    path.write_bytes(pickle.dumps({"data": _Evil(codecs.encode, ("abc", "rot13"))}, protocol=2))
    with pytest.raises(UnsafePickleError, match="latin1"):
        read_deap(path)


def test_arbitrary_object_refused(tmp_path):
    path = tmp_path / "s01.dat"
    path.write_bytes(pickle.dumps({"data": Timing()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="neuromer.protocol.Timing"):
        read_deap(path)


# ------------------------------------------------------------------ bad files
def test_truncated_and_garbage(tmp_path):
    path = write_deap(_trials(np.float64), tmp_path / "s01.dat")
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFormatError, match="truncated or corrupt") as err:
        read_deap(path)
    assert not isinstance(err.value, UnsafePickleError)
    for content in (b"", b"hello, this is text\n"):
        path.write_bytes(content)
        with pytest.raises(DataFormatError, match="not a readable DEAP .dat"):
            read_deap(path)
    (tmp_path / "s02.mat").write_bytes(b"MATLAB garbage")
    with pytest.raises(DataFormatError, match="not a readable .mat"):
        read_deap(tmp_path / "s02.mat")
    with pytest.raises(DataFormatError, match="file not found"):
        read_deap(tmp_path / "missing.dat")


@pytest.mark.parametrize("content, match", [
    ({"data": np.zeros((40, 8064)), "labels": np.zeros((40, 4))}, "'data' must be"),
    ({"data": np.zeros((2, 40, 400)), "labels": np.zeros((2, 3))}, "'labels' must be"),
    ({"data": np.zeros((2, 40, 400)), "labels": np.zeros((3, 4))}, "'labels' must be"),
    ({"data": np.zeros((2, 40, 400))}, "missing 'labels'"),
    ({"data": np.zeros((2, 40, 100)), "labels": np.zeros((2, 4))}, "baseline"),
    ([np.zeros((2, 40, 400))], "expected a dict"),
])
def test_wrong_layout(tmp_path, content, match):
    path = tmp_path / "s01.dat"
    path.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(DataFormatError, match=match):
        read_deap(path)


def test_wrong_layout_mat(tmp_path):
    savemat(tmp_path / "s01.mat", {"data": np.zeros((2, 40, 400)), "labels": np.zeros((2, 5))})
    with pytest.raises(DataFormatError, match="'labels' must be"):
        read_deap(tmp_path / "s01.mat")


def test_bad_neuromer_entry(tmp_path):
    path = tmp_path / "s01.dat"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3, 400)), "labels": np.zeros((2, 4)),
                                   "neuromer": {"ch_names": ["a", "b"], "ch_types": ["eeg"] * 3, "sfreq": 128}},
                                  protocol=2))
    with pytest.raises(DataFormatError, match="'neuromer' entry is invalid"):
        read_deap(path)


# ------------------------------------------------------------------ original BDF
SF = 512
OTHER = [f"EXG{i}" for i in range(1, 9)] + ["GSR1", "GSR2", "Erg1", "Erg2", "Resp", "Plet", "Temp"]
# (time s, status code, held for s): start, rest, then two trials (fixation 3, video 4, end 5, rating 1)
EVENTS = [(0.5, 1, 0.1), (0.8, 1, 0.1), (1.0, 2, 0.5), (2.0, 3, 1.0), (3.0, 4, 4.0), (7.0, 5, 0.5),
          (7.5, 1, 1.0), (9.0, 3, 1.0), (10.0, 4, 4.0), (14.0, 5, 0.5), (14.5, 1, 1.0), (16.0, 7, 0.2)]


def _deap_bdf(path, eeg_labels, *, status_name="Status", high_bits=0, events=EVENTS, seconds=18):
    n = SF * seconds
    data = np.zeros((48, n))
    data[:32] = (np.arange(32) * 10.0)[:, None]  # channel i of the file holds 10*i uV
    data[32:47] = np.random.default_rng(0).normal(size=(15, n))
    status = np.zeros(n)
    for t, code, held in events:
        status[int(t * SF):int((t + held) * SF)] = code
    data[47] = status + high_bits
    return write_bdf(path, data, list(eeg_labels) + OTHER + [status_name], SF, stim=(47,))


def _eeg_uv(session):
    return dict(zip(DEAP_EEG_GENEVA, session.raw.get_data(picks=list(DEAP_EEG_GENEVA))[:, 100] * 1e6))


def test_bdf_twente_labels_reordered(tmp_path):
    s = read_deap_bdf(_deap_bdf(tmp_path / "s05.bdf", DEAP_EEG_TWENTE))
    assert s.raw.ch_names[:32] == list(DEAP_EEG_GENEVA)
    uv = _eeg_uv(s)
    for i, name in enumerate(DEAP_EEG_TWENTE):  # file channel i (Twente name) held 10*i uV
        assert uv[name] == pytest.approx(10 * i, abs=0.05)
    assert s.raw.ch_names[2] == "F3" and uv["F3"] == pytest.approx(30, abs=0.05)  # Twente index 3
    types = dict(zip(s.raw.ch_names, s.raw.get_channel_types()))
    assert [types[c] for c in ("hEOG1", "hEOG2", "vEOG1", "vEOG2")] == ["eog"] * 4
    assert [types[c] for c in ("zEMG1", "zEMG2", "tEMG1", "tEMG2")] == ["emg"] * 4
    assert (types["GSR"], types["Respiration belt"], types["Plethysmograph"], types["Temperature"],
            types["Status"], types["Erg1"]) == ("gsr", "resp", "bio", "temperature", "stim", "misc")
    assert s.subject == "05" and s.sfreq == SF and s.raw.get_montage() is not None
    assert s.provenance["steps"][-1]["eeg_order"] == "twente"


def test_bdf_markers_and_trials(tmp_path):
    s = read_deap_bdf(_deap_bdf(tmp_path / "s05.bdf", DEAP_EEG_TWENTE))
    m = s.markers
    assert list(m["description"]) == [
        "deap/experiment_start", "deap/rest_start", "deap/sync", "baseline_start", "stim_on/1", "stim_off/1",
        "deap/rating_screen", "baseline_start", "stim_on/2", "stim_off/2", "deap/rating_screen",
        "deap/experiment_end"]
    np.testing.assert_allclose(m["onset_s"], [int(e[0] * SF) / SF for e in EVENTS], atol=1e-9)
    tr = s.trials
    assert list(tr["trial"]) == [1, 2] and list(tr["stimulus_id"]) == ["1", "2"]
    np.testing.assert_allclose(tr["onset_s"], [3.0, 10.0])
    np.testing.assert_allclose(tr["duration_s"], [4.0, 4.0])
    assert tr["valence"].isna().all()
    assert s.protocol is not None and s.protocol.name == "deap"


def test_bdf_generic_labels_use_subject_site(tmp_path):
    generic = [f"A{i}" for i in range(1, 33)]
    twente = read_deap_bdf(_deap_bdf(tmp_path / "s05.bdf", generic))
    assert _eeg_uv(twente)["F3"] == pytest.approx(30, abs=0.05)  # Twente: F3 is the 4th channel
    geneva = read_deap_bdf(_deap_bdf(tmp_path / "s25.bdf", generic))
    assert _eeg_uv(geneva)["F3"] == pytest.approx(20, abs=0.05)  # Geneva: already in place
    assert geneva.provenance["steps"][-1]["eeg_order_from"] == "subject"
    forced = read_deap_bdf(tmp_path / "s25.bdf", eeg_order="twente")
    assert _eeg_uv(forced)["F3"] == pytest.approx(30, abs=0.05)
    with pytest.raises(DataFormatError, match="subject number"):
        read_deap_bdf(_deap_bdf(tmp_path / "rec.bdf", generic))


def test_bdf_geneva_status_bits_and_odd_name(tmp_path):
    # Geneva recordings set BioSemi system bits (0x190000) and may label the status channel '-1'
    s = read_deap_bdf(_deap_bdf(tmp_path / "s29.bdf", DEAP_EEG_GENEVA, status_name="-1", high_bits=0x190000))
    assert "Status" in s.raw.ch_names
    assert list(s.trials["onset_s"]) == [3.0, 10.0]
    assert s.markers["description"].tolist()[4] == "stim_on/1"


def test_bdf_missing_end_code_uses_protocol_length(tmp_path):
    events = [e for e in EVENTS if e[1] != 5]
    proto = Protocol(name="p", timing=Timing(stimulus_s=5.0))
    s = read_deap_bdf(_deap_bdf(tmp_path / "s05.bdf", DEAP_EEG_TWENTE, events=events), protocol=proto)
    np.testing.assert_allclose(s.trials["duration_s"], [5.0, 5.0])
    assert s.protocol is proto


def test_bdf_ratings_csv(tmp_path):
    csv = tmp_path / "participant_ratings.csv"
    pd.DataFrame({"Participant_id": [4, 5, 5], "Trial": [1, 1, 2], "Experiment_id": [9, 17, 3],
                  "Start_time": [0, 0, 0], "Valence": [1.0, 7.5, 2.0], "Arousal": [1.0, 6.0, 3.0],
                  "Dominance": [1.0, 5.0, 4.0], "Liking": [1.0, 8.0, 5.0], "Familiarity": [1, 2, 3]}
                 ).to_csv(csv, index=False)
    s = read_deap_bdf(_deap_bdf(tmp_path / "s05.bdf", DEAP_EEG_TWENTE), ratings=csv)
    assert list(s.trials["stimulus_id"]) == ["17", "3"]
    np.testing.assert_allclose(s.trials[["valence", "arousal", "dominance", "liking"]],
                               [[7.5, 6, 5, 8], [2, 3, 4, 5]])
    assert "stim_on/17" in s.markers["description"].tolist()
    pd.DataFrame({"who": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataFormatError, match="missing column"):
        read_deap_bdf(tmp_path / "s05.bdf", ratings=tmp_path / "bad.csv")


def test_bdf_unreadable(tmp_path):
    (tmp_path / "s01.bdf").write_bytes(b"not a bdf at all")
    with pytest.raises(DataFormatError, match="not a readable BDF"):
        read_deap_bdf(tmp_path / "s01.bdf")
    with pytest.raises(DataFormatError, match="file not found"):
        read_deap_bdf(tmp_path / "nope.bdf")


def test_zero_trials_rejected(tmp_path):
    path = tmp_path / "s01.dat"
    with open(path, "wb") as fh:
        pickle.dump({"data": np.zeros((0, 40, 8064)), "labels": np.zeros((0, 4))}, fh)
    with pytest.raises(DataFormatError, match=r"s01\.dat: 'data' holds no trials"):
        read_deap(path)


def test_ratings_outside_the_scale_become_nan_with_a_warning(tmp_path):
    # DEAP's SAM ratings are 1-9: 100 would be "high" in every model and quadrant, -5 "low"
    labels = np.array([[5.0, 5.0, 5.0, 5.0], [100.0, 2.0, 3.0, 4.0], [-5.0, 9.0, np.inf, 1.0]])
    path = _deap_pickle(tmp_path / "s03.dat", np.zeros((3, 32, 512)), labels)
    with pytest.warns(RuntimeWarning) as rec:
        t = read_deap(path)
    msg = " ".join(str(w.message) for w in rec)
    assert str(path) in msg and "1-9 scale" in msg
    assert "trial 2 valence=100" in msg and "trial 3 valence=-5" in msg and "trial 3 dominance=inf" in msg
    expected = labels.copy()
    expected[1, 0] = expected[2, 0] = expected[2, 2] = np.nan
    np.testing.assert_array_equal(t.labels, expected)


def test_neuromer_trials_keep_their_own_scale_but_not_infinity(tmp_path):
    from neuromer.io import read_any_trials

    t = _trials(np.float32)
    t.metadata["valence"] = [50.0, 0.0, 100.0, np.inf]  # written from a 0-100 protocol
    path = write_trials(t, tmp_path / "x.dat")
    with pytest.warns(RuntimeWarning, match="trial 4 valence=inf"):
        back = read_trials(path)
    np.testing.assert_array_equal(back.labels[:, 0], [50.0, 0.0, 100.0, np.nan])
    # with the protocol's 1-9 scale, the 0-100 values are refused too
    with pytest.warns(RuntimeWarning, match="outside the 1-9 scale"):
        again = read_any_trials(path, protocol=Protocol("p"))
    assert np.isnan(again.labels[:, 0]).all()


def test_bdf_ratings_csv_outside_the_scale_become_nan(tmp_path):
    from neuromer.epochs import make_trials

    csv = tmp_path / "participant_ratings.csv"
    pd.DataFrame({"Participant_id": [5, 5], "Trial": [1, 2], "Experiment_id": [17, 3], "Start_time": [0, 0],
                  "Valence": [100.0, 2.0], "Arousal": [6.0, -5.0], "Dominance": [5.0, 4.0], "Liking": [8.0, 5.0],
                  "Familiarity": [2, 3]}).to_csv(csv, index=False)
    proto = Protocol(name="p", timing=Timing(baseline_s=1.0, stimulus_s=4.0))
    s = read_deap_bdf(_deap_bdf(tmp_path / "s05.bdf", DEAP_EEG_TWENTE), ratings=csv, protocol=proto)
    with pytest.warns(RuntimeWarning, match=r"2 rating\(s\) outside the 1-9 scale.*trial 1 valence=100"):
        t = make_trials(s, protocol=proto)
    np.testing.assert_array_equal(t.labels, [[np.nan, 6, 5, 8], [2, np.nan, 4, 5]])


def test_neuromer_file_records_its_rating_scale(tmp_path):
    """Trials checked against a scale write it into the file; a rating edited off that scale
    later (100 on 1-9) is caught on reading, not kept as a confident 'high'."""
    import pickle

    t = _trials(np.float32)
    t.metadata["valence"] = [2.0, 5.0, 7.0, 9.0]
    assert t.check_ratings(1.0, 9.0) == 0 and t.rating_scale == (1.0, 9.0)
    path = write_trials(t, tmp_path / "x.dat")
    with open(path, "rb") as fh:  # our own file, written just above
        content = pickle.load(fh, encoding="latin1")
    assert content["neuromer"]["rating_scale"] == [1.0, 9.0]
    content["labels"][2, 0] = 100.0
    with open(path, "wb") as fh:
        pickle.dump(content, fh)
    with pytest.warns(RuntimeWarning, match=r"outside the 1-9 scale.*trial 3 valence=100"):
        back = read_trials(path)
    np.testing.assert_array_equal(back.labels[:, 0], [2.0, 5.0, np.nan, 9.0])
    content["neuromer"]["rating_scale"] = [9, 1]
    with open(path, "wb") as fh:
        pickle.dump(content, fh)
    with pytest.raises(DataFormatError, match="'rating_scale' must be two finite numbers"):
        read_trials(path)
