"""The damaged-input sweep (issue 12): real commands on damaged copies of one small simulated study.

Every case damages one input file in one way, runs real commands in-process through
``neuromer.cli.main`` and checks three promises.

1. **No internal error.** Exit status 0 (with results) or 2 with a one-line error: stderr holds
   ``neuromer: error:`` on one line, and never ``Traceback`` or ``internal error``. Exit status 1
   is allowed only for ``run``, and then ``run.json`` lists the failed subject.

2. **No silently wrong result.** A command that succeeds on damaged input must either give what
   the undamaged input gives where the damage does not reach, or say so in a warning (a
   ``WARNING:`` line on stderr; the ``dropped N trial(s)`` table of ``epochs`` counts as saying
   so for trials left out). Per damage kind, "silently wrong" means:

   - *truncation* (XDF, DEAP, BDF/EDF): a trial that is written differs in any value from the
     same stimulus's trial of the undamaged file, or trials are missing without a warning or
     dropped-trial table;
   - *bit flip* / *mid-file garbage*: the output differs from the undamaged one, without a warning,
     in more than the values the damage itself changed. XDF, DEAP pickles and EDF have no
     checksums, so a flipped bit inside a sample value cannot be noticed; it is allowed to change
     that one value's channel in that one trial (a flipped low bit of a time stamp may also move
     the physiological channels put on the EEG grid by ``FLIP_RTOL`` of their range), never a
     second channel or trial, the ratings, the channel names or the rate;
   - *NaN/Inf samples*: no warning, or a trial/channel the bad samples do not touch differs;
   - *time stamps going backwards*: no warning, or the rate changes;
   - *duplicated stream*: no warning naming the duplicate (the streams are never merged);
   - *protocol typo*: a protocol that loads must give the undamaged trials, or warn;
   - *run config with a wrong value*: anything but a one-line error.

3. **No user file overwritten.** Every command writes into a folder that also holds a user's file
   (which must stay byte-identical); a few cases point ``--out`` at an existing user file, which
   must be refused and left untouched.

The sweep is sized for about a minute on two cores (one subject, two short trials).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "io"))
from bdf_writer import write_bdf  # noqa: E402

pytestmark = pytest.mark.slow

#: The simulated EEG's own rate. XDF trials are compared at it: resampling (FFT over the whole
#: recording) spreads any change, even an interpolated sample outside every trial, over the whole
#: recording at ~1e-4 of the signal, which would hide what the damage itself touched.
XDF_RATE_HZ = 512
#: Changes below this fraction of a channel's peak count as equal after a bit flip (see compare_trials).
FLIP_RTOL = 1e-6
USER_TEXT = b"the user's own notes; must never be replaced\n"


# ---------------------------------------------------------------------------------------------
# running commands and checking the promises


def cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``neuromer argv`` in-process; (exit status, stdout, stderr)."""
    from neuromer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def check_exit(case: str, rc: int, out: str, err: str, *, allow_failed_run: Path | None = None) -> None:
    """Promise 1: status 0, or 2 with one error line; 1 only for `run` with failures in run.json."""
    assert "Traceback" not in err and "internal error" not in err, f"{case}: internal error\n{err}"
    if rc == 1 and allow_failed_run is not None:
        record = json.loads((allow_failed_run / "run.json").read_text())
        assert record["failed"], f"{case}: exit 1 but run.json lists no failed subject"
        return
    assert rc in (0, 2), f"{case}: exit status {rc}\n{err}"
    if rc == 2:
        errors = [line for line in err.splitlines() if line.startswith("neuromer: error:")]
        assert len(errors) == 1, f"{case}: exit 2 needs exactly one error line\n{err}"
        assert len(errors[0]) > len("neuromer: error: ") + 5, f"{case}: empty error message"


class Sweep:
    """Collects the failing cases of one test, so one run lists them all."""

    def __init__(self):
        self.failures: list[str] = []
        self.n = 0

    @contextlib.contextmanager
    def case(self, name: str):
        self.n += 1
        try:
            yield
        except AssertionError as exc:
            self.failures.append(f"{name}: {str(exc).splitlines()[0]}")

    def check(self, minimum: int) -> None:
        assert not self.failures, f"{len(self.failures)} of {self.n} cases failed:\n" + "\n".join(self.failures)
        assert self.n >= minimum, f"only {self.n} cases ran"


def warned(err: str, out: str = "") -> bool:
    return "WARNING" in err or "dropped " in out


class UserFolder:
    """An output folder that also holds a user's file; checks that it stays untouched."""

    def __init__(self, root: Path, case: str):
        self.dir = root / case
        self.dir.mkdir(parents=True)
        self.user = self.dir / "notes.txt"
        self.user.write_bytes(USER_TEXT)

    def check(self, case: str, *outputs: Path) -> None:
        assert self.user.read_bytes() == USER_TEXT, f"{case}: the user's file was changed"
        extra = {p.name for p in self.dir.iterdir()} - {"notes.txt"} - {p.name for p in outputs}
        assert not extra, f"{case}: stray files left behind: {sorted(extra)}"


def trials_by_stimulus(path: Path):
    from neuromer.io import read_trials

    t = read_trials(path)
    return t, {sid: t.data[i] for i, sid in enumerate(t.metadata["stimulus_id"])}


def differing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean mask of values that differ (NaN equals NaN)."""
    return ~((a == b) | (np.isnan(a) & np.isnan(b)))


def compare_trials(case: str, path: Path, base, out: str, err: str, *, flip: bool = False,
                   touched: set | None = None) -> None:
    """Promise 2 for a trials file written from damaged input (see the module docstring).

    flip : a single changed value is tolerated without a warning: one channel of one trial.
        touched : stimulus ids whose trials the damage may change (None: all).
    """
    t, got = trials_by_stimulus(path)
    bt, want = base
    said = warned(err, out)
    assert t.sfreq == bt.sfreq and list(t.ch_names) == list(bt.ch_names), "rate or channels changed"
    assert set(got) <= set(want), f"trials of stimuli that were never played: {set(got) - set(want)}"
    if len(got) < len(want):
        assert said, f"{len(want) - len(got)} trial(s) missing without a warning"
    changed = []
    for sid, data in got.items():
        diff = differing(data, want[sid])
        if flip:  # a low bit of one EEG time stamp moves the clock fit ~1e-10 s: physio on the grid moves ~1e-9
            scale = np.nanmax(np.abs(want[sid]), axis=1, keepdims=True)
            diff &= ~(np.abs(data - want[sid]) <= FLIP_RTOL * scale)
        if diff.any():
            assert touched is None or sid in touched, f"trial {sid} changed though the damage is elsewhere"
            changed.append((sid, np.flatnonzero(diff.any(axis=1))))
    if not said and changed:
        assert flip and len(changed) == 1 and len(changed[0][1]) == 1, (
            "silently changed: " + ", ".join(f"trial {sid} in {len(ch)} channel(s)" for sid, ch in changed))
    if said or not got:
        return
    lab, blab = t.metadata.set_index("stimulus_id"), bt.metadata.set_index("stimulus_id")
    for col in ("valence", "arousal"):
        if col in blab:
            a, b = lab.loc[list(got), col].to_numpy(float), blab.loc[list(got), col].to_numpy(float)
            assert np.array_equal(a, b, equal_nan=True), f"{col} ratings silently changed"


# ---------------------------------------------------------------------------------------------
# the study and its undamaged results, made once


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """One subject, two 3 s trials; undamaged results of the commands the sweep runs."""
    from neuromer.simulate import simulate_study

    root = tmp_path_factory.mktemp("sweep")
    study = simulate_study(root / "study", n_subjects=1, n_trials=2, stimulus_s=3.0, baseline_s=1.0, seed=12)
    base = root / "base"
    base.mkdir()
    xdf, proto = study.xdf[0], study.protocol
    rc, out, err = cli(["epochs", xdf, "--protocol", proto, "--out", base / "xdf.dat", "--sfreq", XDF_RATE_HZ])
    assert rc == 0 and "WARNING" not in err, err
    rc, out, err = cli(["epochs", study.deap[0], "--out", base / "deap.mat"])
    assert rc == 0 and "WARNING" not in err, err
    # a BDF with a Status channel, written from code: 4 EEG channels + Status with trigger codes
    rng = np.random.default_rng(5)
    sfreq, n = 256, 256 * 20
    eeg = rng.normal(0, 20, (4, n))
    status = np.zeros(n)
    for k, onset_s in enumerate((2, 8, 14)):
        status[onset_s * sfreq:onset_s * sfreq + 10] = k + 1
    bdf = write_bdf(root / "rec.bdf", np.vstack([eeg, status]), ["Fz", "Cz", "Pz", "Oz", "Status"], sfreq,
                    stim=(4,))
    edf = write_bdf(root / "rec.edf", np.vstack([eeg, status]), ["Fz", "Cz", "Pz", "Oz", "Status"], sfreq,
                    stim=(4,), fmt="edf")
    rc, out_bdf, err = cli(["info", bdf])
    assert rc == 0, err
    rc, out_edf, err = cli(["info", edf])
    assert rc == 0, err
    return {
        "root": root, "study": study, "xdf": xdf, "protocol": proto, "bdf": bdf, "edf": edf,
        "xdf_trials": trials_by_stimulus(base / "xdf.dat"),
        "deap_trials": trials_by_stimulus(base / "deap.mat"),
        "bdf_info": out_bdf, "edf_info": out_edf,
    }


def offsets(size: int, count: int, rng) -> list[int]:
    """``count`` byte offsets spread over a file: a few in the header, the rest across it."""
    head = [1, 3, 17, 64, 200]
    spread = np.linspace(300, size - 1, count - len(head)).astype(int) + rng.integers(-50, 50, count - len(head))
    return sorted({int(min(max(o, 1), size - 1)) for o in (*head, *spread)})


# ---------------------------------------------------------------------------------------------
# XDF byte surgery (float32 EEG, one time stamp per sample, as neuromer's writer stores them)


def chunks(blob: bytes):
    """(start, tag, body_start, end) of each chunk."""
    pos = 4
    while pos < len(blob):
        nb = blob[pos]
        length = int.from_bytes(blob[pos + 1:pos + 1 + nb], "little")
        yield pos, int.from_bytes(blob[pos + 1 + nb:pos + 3 + nb], "little"), pos + 3 + nb, pos + 1 + nb + length
        pos += 1 + nb + length


def eeg_layout(blob: bytes) -> tuple[int, int]:
    for _, tag, body, end in chunks(blob):
        if tag == 2:
            info = ET.fromstring(bytes(blob[body + 4:end]).decode())
            if info.findtext("type") == "EEG":
                assert info.findtext("channel_format") == "float32"
                return int.from_bytes(blob[body:body + 4], "little"), int(info.findtext("channel_count"))
    raise AssertionError("no EEG stream")


def eeg_records(blob: bytes):
    """Byte offset of each EEG sample record (flag byte, float64 stamp, float32 values)."""
    sid, n_ch = eeg_layout(blob)
    for _, tag, body, _ in chunks(blob):
        if tag == 3 and int.from_bytes(blob[body:body + 4], "little") == sid:
            nbn = blob[body + 4]
            n = int.from_bytes(blob[body + 5:body + 5 + nbn], "little")
            rec = body + 5 + nbn
            for _ in range(n):
                yield rec
                rec += 9 + 4 * n_ch


def eeg_stamps_back(blob: bytes, from_sample: int, back_s: float) -> bytes:
    """Every EEG time stamp from ``from_sample`` on moved ``back_s`` seconds back (a clock reset)."""
    out = bytearray(blob)
    for k, rec in enumerate(eeg_records(blob)):
        if k >= from_sample and out[rec] == 8:
            (ts,) = struct.unpack("<d", out[rec + 1:rec + 9])
            out[rec + 1:rec + 9] = struct.pack("<d", ts - back_s)
    return bytes(out)


def plant_eeg(blob: bytes, value: float, samples: set[int], channel: int | None = None) -> bytes:
    """``value`` written into the EEG samples ``samples`` (one channel, or all)."""
    _, n_ch = eeg_layout(blob)
    out = bytearray(blob)
    for k, rec in enumerate(eeg_records(blob)):
        if k in samples:
            chans = range(n_ch) if channel is None else [channel]
            for c in chans:
                out[rec + 9 + 4 * c:rec + 13 + 4 * c] = struct.pack("<f", value)
    return bytes(out)


def duplicate_eeg(blob: bytes, new_id: int, fraction: float = 1.0) -> bytes:
    """A second EEG stream (same name and type) appended: the header and the first ``fraction``
    of the Samples chunks of the EEG stream, under stream id ``new_id``."""
    sid, _ = eeg_layout(blob)
    own = [(a, tag, b, e) for a, tag, b, e in chunks(blob)
           if tag in (2, 3) and int.from_bytes(blob[b:b + 4], "little") == sid]
    header = [c for c in own if c[1] == 2]
    samples = [c for c in own if c[1] == 3]
    keep = header + samples[:max(1, int(len(samples) * fraction))]
    extra = bytearray()
    for a, _, b, e in keep:
        piece = bytearray(blob[a:e])
        piece[b - a:b - a + 4] = new_id.to_bytes(4, "little")
        extra += piece
    return bytes(blob) + bytes(extra)


def eeg_sample_of_time(blob: bytes, t_s: float) -> int:
    """Index of the first EEG sample at or after ``t_s`` seconds from the first EEG stamp."""
    stamps = [struct.unpack("<d", blob[r + 1:r + 9])[0] for r in eeg_records(blob)]
    return int(np.searchsorted(np.asarray(stamps) - stamps[0], t_s))


# ---------------------------------------------------------------------------------------------
# the cases


def run_epochs(sweep, case: str, damaged: Path, *, protocol=None) -> tuple[int, str, str, Path]:
    """`epochs` into a folder holding a user's file; promises 1 and 3 checked."""
    folder = UserFolder(sweep["root"] / "out", case)
    out_path = folder.dir / "trials.dat"
    rc, out, err = cli(["epochs", damaged, "--protocol", protocol or sweep["protocol"], "--out", out_path,
                        "--sfreq", XDF_RATE_HZ])
    check_exit(case, rc, out, err)
    folder.check(case, out_path)
    return rc, out, err, out_path


def damaged_copy(sweep, name: str, data: bytes) -> Path:
    folder = sweep["root"] / "damaged"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def test_xdf_truncations_bit_flips_and_garbage(sweep):
    """Truncated XDF at many offsets, single bit flips and garbage bytes inserted mid-file:
    `epochs` never fails internally, and what it writes is the undamaged trials or is warned about."""
    blob = sweep["xdf"].read_bytes()
    rng = np.random.default_rng(2026)
    base = sweep["xdf_trials"]
    sw, results = Sweep(), {0: 0, 2: 0}
    cases = [(f"xdf-truncated-at-{o}", blob[:o], False) for o in offsets(len(blob), 14, rng)]
    for o in offsets(len(blob), 14, rng):
        data = bytearray(blob)
        data[o] ^= 1 << int(rng.integers(0, 8))
        cases.append((f"xdf-bitflip-at-{o}", bytes(data), True))
    for o in offsets(len(blob), 6, rng)[1:]:
        n = int(rng.integers(5, 200))
        cases.append((f"xdf-garbage-{n}-bytes-at-{o}",
                      blob[:o] + rng.integers(0, 256, n, dtype=np.uint8).tobytes() + blob[o:], True))
    for case, data, flip in cases:
        with sw.case(case):
            rc, out, err, path = run_epochs(sweep, case, damaged_copy(sweep, f"{case}.xdf", data))
            results[rc] += 1
            if rc == 0:
                compare_trials(case, path, base, out, err, flip=flip)
    sw.check(30)
    assert results[0] > 0 and results[2] > 0, results


def test_xdf_nonfinite_samples_backward_stamps_and_duplicate_streams(sweep):
    """NaN/Inf EEG samples outside and inside trials, EEG time stamps going backwards, a
    duplicated EEG stream: warned, and trials the damage does not touch are unchanged."""
    blob = sweep["xdf"].read_bytes()
    base = sweep["xdf_trials"]
    bt = base[0]
    onsets = bt.metadata.set_index("stimulus_id")["onset_s"]
    first_sid = onsets.idxmin()
    n_eeg = sum(1 for _ in eeg_records(blob))
    sw = Sweep()
    # bad samples before the first trial (outside every trial) and inside the first trial
    inside = eeg_sample_of_time(blob, float(onsets[first_sid]) + 1.0)
    for value in (np.nan, np.inf, -np.inf):
        for where, samples, touched in (("outside", {5, 6, 7}, set()), ("inside", {inside}, {first_sid}),
                                        ("inside-long", set(range(inside, inside + 200)), {first_sid})):
            case = f"xdf-{value}-{where}"
            with sw.case(case):
                rc, out, err, path = run_epochs(sweep, case, damaged_copy(sweep, f"{case}.xdf",
                                                                          plant_eeg(blob, value, samples)))
                assert rc == 0, err
                assert warned(err, out), "NaN/inf samples without a warning"
                compare_trials(case, path, base, out, err, touched=touched)
    # one channel only, inside a trial: other channels stay identical
    case = "xdf-nan-one-channel"
    with sw.case(case):
        rc, out, err, path = run_epochs(sweep, case, damaged_copy(
            sweep, f"{case}.xdf", plant_eeg(blob, np.nan, set(range(inside, inside + 100)), channel=3)))
        assert rc == 0 and warned(err, out), err
        t, got = trials_by_stimulus(path)
        for sid, data in got.items():
            diff = differing(data, base[1][sid])
            assert not diff[[c for c in range(len(t.ch_names)) if c != 3]].any(), "other channels changed"
    # time stamps going backwards at several places
    for frac, back_s in ((0.1, 2.0), (0.5, 5.0), (0.9, 0.5)):
        case = f"xdf-stamps-back-{back_s}s-at-{frac}"
        with sw.case(case):
            rc, out, err, path = run_epochs(sweep, case, damaged_copy(
                sweep, f"{case}.xdf", eeg_stamps_back(blob, int(n_eeg * frac), back_s)))
            assert warned(err, out), f"backward time stamps without a warning (exit {rc})"
            if rc == 0:
                assert trials_by_stimulus(path)[0].sfreq == bt.sfreq
    # duplicated EEG stream: a complete copy, a shorter copy
    for fraction in (1.0, 0.5):
        case = f"xdf-duplicate-eeg-{fraction}"
        with sw.case(case):
            rc, out, err, path = run_epochs(sweep, case, damaged_copy(sweep, f"{case}.xdf",
                                                                      duplicate_eeg(blob, 99, fraction)))
            assert rc == 2 or "WARNING" in err, "a duplicate stream without a warning"
            if rc == 0:  # the original is used (most samples, lowest id)
                compare_trials(case, path, base, "", "")
    # `info` on a few damaged files
    for case, data in (("info-truncated", blob[:len(blob) // 2]), ("info-nan", plant_eeg(blob, np.nan, {5})),
                       ("info-duplicate", duplicate_eeg(blob, 99)),
                       ("info-stamps-back", eeg_stamps_back(blob, n_eeg // 2, 3.0))):
        with sw.case(case):
            rc, out, err = cli(["info", damaged_copy(sweep, f"{case}.xdf", data), "--protocol", sweep["protocol"]])
            check_exit(case, rc, out, err)
            assert rc == 2 or warned(err) or "NaN/inf samples" in out, "damage not reported by info"
    sw.check(19)


def test_deap_dat_and_mat_truncations_and_bit_flips(sweep):
    """Truncated and bit-flipped DEAP .dat (pickle) and .mat: `info` and `epochs` (conversion)
    end in results equal to the undamaged ones (but for one flipped value) or in a one-line
    error; `features eeg` refuses a truncated pickle."""
    rng = np.random.default_rng(7)
    base = sweep["deap_trials"]
    mat = sweep["root"] / "base" / "deap.mat"
    sw = Sweep()
    for src in (sweep["study"].deap[0], mat):
        blob = src.read_bytes()
        kind = src.suffix[1:]
        cases = [(f"{kind}-truncated-at-{o}", blob[:o]) for o in offsets(len(blob), 10, rng)]
        for o in offsets(len(blob), 10, rng):
            data = bytearray(blob)
            data[o] ^= 1 << int(rng.integers(0, 8))
            cases.append((f"{kind}-bitflip-at-{o}", bytes(data)))
        for case, data in cases:
            with sw.case(case):
                damaged = damaged_copy(sweep, f"{case}{src.suffix}", data)
                rc, out, err = cli(["info", damaged])
                check_exit(case, rc, out, err)
                folder = UserFolder(sweep["root"] / "out", case)
                out_path = folder.dir / "trials.mat"
                rc, out, err = cli(["epochs", damaged, "--out", out_path])
                check_exit(case, rc, out, err)
                folder.check(case, out_path)
                if rc == 0:
                    compare_trials(case, out_path, base, out, err, flip="truncated" not in case)
    blob = sweep["study"].deap[0].read_bytes()
    for o in (len(blob) // 3, len(blob) - 10):
        case = f"features-dat-truncated-at-{o}"
        with sw.case(case):
            folder = UserFolder(sweep["root"] / "out", case)
            rc, out, err = cli(["features", "eeg", damaged_copy(sweep, f"{case}.dat", blob[:o]),
                                "--out", folder.dir / "f.parquet"])
            check_exit(case, rc, out, err)
            assert rc == 2, "a truncated pickle must be refused"
            folder.check(case)
    sw.check(30)


def trigger_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("trigger")]


def test_bdf_edf_truncations_and_bit_flips(sweep):
    """Truncated and bit-flipped BDF/EDF files with a Status channel: `info` ends in a one-line
    error, or reads them; a flipped EEG sample value leaves the trigger events as they were."""
    rng = np.random.default_rng(3)
    sw = Sweep()
    for key in ("bdf", "edf"):
        blob = sweep[key].read_bytes()
        header = 256 * 6  # 5 signals + the main header
        width = 3 if key == "bdf" else 2
        cases = [(f"{key}-truncated-at-{o}", blob[:o], False) for o in offsets(len(blob), 7, rng)]
        for o in offsets(len(blob), 7, rng):
            data = bytearray(blob)
            data[o] ^= 1 << int(rng.integers(0, 8))
            # a value of an EEG channel (records: 256 samples per signal, Status last)
            in_eeg = o >= header and ((o - header) // width) % (256 * 5) < 256 * 4
            cases.append((f"{key}-bitflip-at-{o}", bytes(data), in_eeg))
        for case, data, in_eeg in cases:
            with sw.case(case):
                rc, out, err = cli(["info", damaged_copy(sweep, f"{case}.{key}", data)])
                check_exit(case, rc, out, err)
                if rc == 0 and in_eeg and not warned(err):
                    assert trigger_lines(out) == trigger_lines(sweep[f"{key}_info"]), "trigger events changed"
    sw.check(20)


PROTOCOL_TYPOS = [
    ("drop-first-equals", lambda t: t.replace("=", "", 1)),
    ("unclosed-quote", lambda t: t.replace('"', "", 1)),
    ("unclosed-table", lambda t: t.replace("]", "", 1)),
    ("duplicate-table", lambda t: t + "\n" + t.split("\n", 1)[0] + "\n"),
    ("number-as-text", lambda t: t.replace("stimulus_s = 3.0", 'stimulus_s = "3.0"')),
    ("negative-duration", lambda t: t.replace("stimulus_s = 3.0", "stimulus_s = -3.0")),
    ("huge-duration", lambda t: t.replace("stimulus_s = 3.0", "stimulus_s = 1e300")),
    ("nan-duration", lambda t: t.replace("stimulus_s = 3.0", "stimulus_s = nan")),
    ("zero-duration", lambda t: t.replace("stimulus_s = 3.0", "stimulus_s = 0.0")),
    ("truncated-half", lambda t: t[:len(t) // 2]),
    ("empty", lambda t: ""),
    ("binary", lambda t: "\x00\xff" * 10),
    ("deep-nesting", lambda t: "x = " + "[" * 5000 + "]" * 5000),
    ("unknown-key", lambda t: t + "\nsurprise = 1\n"),
    ("stimulus-id-space", lambda t: t.replace('id = "', 'id = " ', 1)),
]


def test_protocol_typos(sweep):
    """A protocol TOML with a typo: `info PROTOCOL` and `epochs --protocol` end in a one-line
    error, or (if it still loads) give the undamaged trials or warn."""
    text = sweep["protocol"].read_text(encoding="utf-8")
    assert "stimulus_s = 3.0" in text and 'id = "' in text, text  # the typos below edit these
    sw = Sweep()
    for name, typo in PROTOCOL_TYPOS:
        case = f"protocol-{name}"
        with sw.case(case):
            damaged = typo(text)
            assert damaged != text, "the typo changed nothing"
            path = damaged_copy(sweep, f"{case}.toml", damaged.encode("utf-8", "surrogateescape"))
            rc, out, err = cli(["info", path])
            check_exit(case, rc, out, err)
            rc, out, err, out_path = run_epochs(sweep, case, sweep["xdf"], protocol=path)
            if rc == 0:
                compare_trials(case, out_path, sweep["xdf_trials"], out, err)
    sw.check(len(PROTOCOL_TYPOS))


def test_run_configs_with_wrong_values(sweep):
    """A run config with a wrong value ends in a one-line error before any work is done, and
    `run --out` into a folder holding a user's file is refused and leaves it untouched."""
    study = sweep["study"]
    inputs, proto = f'inputs = ["{study.xdf[0]}"]', f'protocol = "{study.protocol}"'
    good = (f'[study]\nname = "sweep"\n{inputs}\n{proto}\nout = "run"\n\n[features]\naudio_latency_s = 0.0\n\n'
            '[models]\ntargets = ["valence"]\nfeature_sets = [["eeg"]]\nestimator = "logreg"\ncv = "trial"\n'
            'n_permutations = 0\n')
    edits = {
        "no-inputs": (inputs, 'inputs = ["nothing/*.xdf"]'),
        "inputs-not-a-list": (inputs, "inputs = 3"),
        "inputs-numbers": (inputs, "inputs = [1, 2]"),
        "missing-protocol": (proto, 'protocol = "nope.toml"'),
        "protocol-number": (proto, "protocol = 5"),
        "latency-text": ("audio_latency_s = 0.0", 'audio_latency_s = "soon"'),
        "latency-huge": ("audio_latency_s = 0.0", "audio_latency_s = 1e300"),
        "latency-nan": ("audio_latency_s = 0.0", "audio_latency_s = nan"),
        "unknown-estimator": ('"logreg"', '"magic"'),
        "unknown-feature-set": ('[["eeg"]]', '[["telepathy"]]'),
        "feature-sets-not-a-list": ('[["eeg"]]', '"eeg"'),
        "feature-sets-empty-set": ('[["eeg"]]', '[[]]'),
        "unknown-target": ('["valence"]', '["happiness"]'),
        "targets-text": ('targets = ["valence"]', 'targets = "valence"'),
        "unknown-cv": ('cv = "trial"', 'cv = "sometimes"'),
        "permutations-negative": ("n_permutations = 0", "n_permutations = -5"),
        "permutations-float": ("n_permutations = 0", "n_permutations = 2.5"),
        "permutations-text": ("n_permutations = 0", 'n_permutations = "many"'),
        "unknown-section": ("[models]", "[modles]"),
        "typo-toml": ("[models]", "[models"),
        "name-table": ('name = "sweep"', "name = {a = 1}"),
    }
    sw = Sweep()
    for name, (old, new) in edits.items():
        case = f"config-{name}"
        with sw.case(case):
            folder = UserFolder(sweep["root"] / "runs", case)
            config = folder.dir / "config.toml"
            damaged = good.replace(old, new)
            assert damaged != good, "the edit changed nothing"
            config.write_text(damaged, encoding="utf-8")
            rc, out, err = cli(["run", config, "--out", folder.dir / "run", "--no-report", "--quiet"])
            check_exit(case, rc, out, err)
            assert rc == 2, f"a wrong config value must be refused (exit {rc})"
            assert folder.user.read_bytes() == USER_TEXT, "the user's file was changed"
    # `run --out` into a folder that holds the user's files (not a run folder)
    case = "config-out-is-user-folder"
    with sw.case(case):
        folder = UserFolder(sweep["root"] / "runs", case)
        config = sweep["root"] / "runs" / "good.toml"
        config.write_text(good, encoding="utf-8")
        rc, out, err = cli(["run", config, "--out", folder.dir, "--no-report", "--quiet"])
        check_exit(case, rc, out, err)
        assert rc == 2
        folder.check(case)
    sw.check(len(edits) + 1)


def test_existing_outputs_are_never_replaced(sweep):
    """`epochs` and `features eeg` pointed at an existing user file (from damaged and undamaged
    input alike) refuse and leave the file byte-identical, with no stray file next to it."""
    blob = sweep["xdf"].read_bytes()
    inputs = {"clean": sweep["xdf"],
              "nan": damaged_copy(sweep, "ow-nan.xdf", plant_eeg(blob, np.nan, {10, 11})),
              "truncated": damaged_copy(sweep, "ow-trunc.xdf", blob[:int(len(blob) * 0.8)])}
    sw = Sweep()
    for name, src in inputs.items():
        for ext in (".dat", ".mat", "-epo.fif"):
            case = f"overwrite-epochs-{name}{ext}"
            with sw.case(case):
                target = sweep["root"] / "ow" / case / f"mine{ext}"
                target.parent.mkdir(parents=True)
                target.write_bytes(USER_TEXT)
                rc, out, err = cli(["epochs", src, "--protocol", sweep["protocol"], "--out", target])
                check_exit(case, rc, out, err)
                assert rc == 2 and target.read_bytes() == USER_TEXT, "user file replaced"
                assert sorted(p.name for p in target.parent.iterdir()) == [target.name], "stray files"
    case = "overwrite-features"
    with sw.case(case):
        target = sweep["root"] / "ow" / "features.parquet"
        target.write_bytes(USER_TEXT)
        rc, out, err = cli(["features", "eeg", sweep["root"] / "base" / "xdf.dat", "--out", target])
        check_exit(case, rc, out, err)
        assert rc == 2 and target.read_bytes() == USER_TEXT, "user file replaced"
    sw.check(10)


def eeg_stamps_set(blob: bytes, samples: set[int], value: float) -> bytes:
    """The time stamps of EEG samples ``samples`` replaced by ``value``."""
    out = bytearray(blob)
    for k, rec in enumerate(eeg_records(blob)):
        if k in samples and out[rec] == 8:
            out[rec + 1:rec + 9] = struct.pack("<d", value)
    return bytes(out)


def test_xdf_bad_time_stamps(sweep):
    """NaN, infinite and far-off time stamps of single EEG samples: mended with a warning (their
    samples taken as missing), or a one-line error; the rate never changes."""
    blob = sweep["xdf"].read_bytes()
    n_eeg = sum(1 for _ in eeg_records(blob))
    sw = Sweep()
    for value in (np.nan, np.inf, -1e12, 1e12, 0.0):
        for k in (n_eeg // 3, n_eeg - 2):
            case = f"xdf-stamp-{value}-at-{k}"
            with sw.case(case):
                rc, out, err, path = run_epochs(sweep, case, damaged_copy(sweep, f"{case}.xdf",
                                                                          eeg_stamps_set(blob, {k}, value)))
                if rc == 0:
                    compare_trials(case, path, sweep["xdf_trials"], out, err)
                    assert warned(err, out), "a bad time stamp without a warning"
    sw.check(10)


def test_run_with_a_damaged_subject(sweep):
    """`run` on two subjects, one of them with all-NaN EEG: exit 1, the damaged subject listed in
    run.json's failures with its reason, the other done; the user's file in the folder untouched."""
    blob = sweep["xdf"].read_bytes()
    folder = UserFolder(sweep["root"] / "runs", "run-damaged-subject")
    shutil.copy(sweep["xdf"], folder.dir / "sub-01.xdf")
    (folder.dir / "sub-02.xdf").write_bytes(plant_eeg(blob, np.nan, set(range(sum(1 for _ in eeg_records(blob))))))
    config = folder.dir / "config.toml"
    config.write_text(f'[study]\ninputs = ["sub-*.xdf"]\nprotocol = "{sweep["protocol"]}"\nout = "run"\n\n'
                      '[features]\naudio = false\nphysio = false\n\n'
                      '[models]\ntargets = ["valence"]\nfeature_sets = [["eeg"]]\n'
                      'n_permutations = 0\n', encoding="utf-8")
    rc, out, err = cli(["run", config, "--no-report", "--quiet"])
    check_exit("run-damaged-subject", rc, out, err, allow_failed_run=folder.dir / "run")
    assert rc == 1, err
    record = json.loads((folder.dir / "run" / "run.json").read_text())
    assert record["failed"] == ["02"], record["failed"]
    assert "NaN" in record["subjects"]["02"]["error"] or "nan" in record["subjects"]["02"]["error"].lower()
    assert "01" not in record["failed"]
    assert folder.user.read_bytes() == USER_TEXT


@pytest.mark.parametrize("bad", [100.0, -5.0, np.inf, -np.inf, np.nan, 0.0, 9.5, 1.0, 9.0])
@pytest.mark.parametrize("layout", ["deap", "neuromer"])
def test_deap_ratings_out_of_range(sweep, bad, layout):
    """A DEAP .dat whose first valence rating is changed: `epochs` keeps it if it is on the scale,
    marks it missing (NaN) with a warning if not, or refuses; the other ratings and all the EEG
    are unchanged. DEAP's own layout is on the 1-9 SAM scale; a file neuromer wrote records the
    scale its ratings were checked against ('rating_scale' in its 'neuromer' entry); without one,
    only an infinite rating is certainly wrong (a finite one is kept as it is)."""
    import pickle

    case = f"deap-{layout}-valence-{bad}"
    with open(sweep["study"].deap[0], "rb") as fh:  # our own simulated file, not untrusted data
        content = pickle.load(fh, encoding="latin1")
    if layout == "deap":
        content = {"data": content["data"], "labels": content["labels"]}
    labels = content["labels"].copy()
    labels[0, 0] = bad
    content["labels"] = labels
    damaged = sweep["root"] / "damaged" / f"{case}.dat"
    damaged.parent.mkdir(exist_ok=True)
    with open(damaged, "wb") as fh:
        pickle.dump(content, fh)
    folder = UserFolder(sweep["root"] / "out", case)
    out_path = folder.dir / "trials.mat"
    rc, out, err = cli(["epochs", damaged, "--out", out_path])
    check_exit(case, rc, out, err)
    folder.check(case, out_path)
    if rc == 2:
        return
    from neuromer.io import read_trials

    t, bt = read_trials(out_path), sweep["deap_trials"][0]
    assert np.array_equal(t.data, bt.data, equal_nan=True), f"{case}: the EEG changed"
    valence = t.metadata["valence"].to_numpy(float)
    expected = bt.metadata["valence"].to_numpy(float)
    unscaled = layout == "neuromer" and "rating_scale" not in content["neuromer"]
    if np.isnan(bad) or 1 <= bad <= 9 or (unscaled and np.isfinite(bad)):
        expected[0] = bad
        assert np.array_equal(valence, expected, equal_nan=True), f"{case}: {valence} != {expected}"
        return
    assert "WARNING" in err, f"{case}: an out-of-range rating without a warning"
    expected[0] = np.nan
    assert np.array_equal(valence, expected, equal_nan=True), f"{case}: {valence} != {expected}"


def test_features_on_trials_with_a_nan_channel(sweep, tmp_path):
    """`features eeg` on trials where one channel of one trial is NaN for half a second: warned,
    and the windows of the other trial are identical to the undamaged ones."""
    import pandas as pd

    from neuromer.io import read_trials, write_trials

    src = sweep["root"] / "base" / "deap.mat"
    trials = read_trials(src)
    damaged = trials.copy() if hasattr(trials, "copy") else read_trials(src)
    damaged.data = damaged.data.copy()
    damaged.data[0, 2, 300:364] = np.nan
    damaged_path = write_trials(damaged, tmp_path / "nan.mat")
    outs = {}
    for name, path in (("clean", src), ("nan", damaged_path)):
        rc, out, err = cli(["features", "eeg", path, "--out", tmp_path / f"{name}.parquet"])
        check_exit(f"features-{name}", rc, out, err)
        assert rc == 0, err
        outs[name] = (pd.read_parquet(tmp_path / f"{name}.parquet"), err)
    clean, (nan, err) = outs["clean"][0], outs["nan"]
    assert list(clean.columns) == list(nan.columns) and len(clean) == len(nan)
    first = trials.metadata["trial"].iloc[0] if "trial" in trials.metadata else None
    other = (clean["trial"] != first).to_numpy() if first is not None else None
    assert other is not None and other.any()
    num = clean.select_dtypes("number").columns
    pd.testing.assert_frame_equal(clean.loc[other, num].reset_index(drop=True),
                                  nan.loc[other, num].reset_index(drop=True))
    changed = ~np.isclose(clean.loc[~other, num].to_numpy(float), nan.loc[~other, num].to_numpy(float),
                          equal_nan=True)
    assert changed.any() and ("WARNING" in err or np.isnan(nan.loc[~other, num].to_numpy(float)).any()), \
        "NaN samples changed features silently"


def marker_chunks(blob: bytes) -> list[tuple[int, int]]:
    """(body_start, end) of the Samples chunks of the marker stream."""
    ids = set()
    out = []
    for _, tag, body, end in chunks(blob):
        sid = int.from_bytes(blob[body:body + 4], "little") if tag in (2, 3) else None
        if tag == 2 and ET.fromstring(bytes(blob[body + 4:end]).decode()).findtext("type") == "Markers":
            ids.add(sid)
        elif tag == 3 and sid in ids:
            out.append((body, end))
    return out


def test_xdf_damaged_marker_strings(sweep):
    """A bit flipped in the marker stream's samples (its text, lengths or time stamps): the trial
    it opens or closes is dropped with a warning, or the trials come out as undamaged; a changed
    rating digit (a valid rating again) cannot be noticed and is the only silent change allowed."""
    blob = sweep["xdf"].read_bytes()
    rng = np.random.default_rng(11)
    found = marker_chunks(blob)
    sw = Sweep()
    body, end = found[0]
    for text_at in sorted(rng.choice(np.arange(body + 10, end), 8, replace=False)):
        text_at = int(text_at)
        data = bytearray(blob)
        data[text_at] ^= 1 << int(rng.integers(0, 7))
        case = f"xdf-marker-text-at-{text_at}"
        with sw.case(case):
            rc, out, err, path = run_epochs(sweep, case, damaged_copy(sweep, f"{case}.xdf", bytes(data)))
            if rc == 0:
                try:
                    compare_trials(case, path, sweep["xdf_trials"], out, err)
                except AssertionError as exc:
                    assert "ratings silently changed" in str(exc), exc
                    text = bytes(blob[text_at - 24:text_at + 4]).decode("utf-8", "replace")
                    assert "rating" in text, f"{exc} (marker text near the flip: {text!r})"
    sw.check(8)
