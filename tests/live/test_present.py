"""neuromer.live.present on real loopback LSL: the markers it pushes become the right trials."""

from __future__ import annotations

import re
import threading
import uuid

import numpy as np
import pandas as pd
import pytest

pylsl = pytest.importorskip("pylsl")

from neuromer.epochs import trials_from_markers  # noqa: E402
from neuromer.errors import DataFormatError, NeuromerError, ProtocolError  # noqa: E402
from neuromer.live.present import present, read_ratings  # noqa: E402
from neuromer.protocol import read_protocol  # noqa: E402

PROTOCOL = """[protocol]
name = "tiny"

[timing]
baseline_s = {baseline_s}
stimulus_s = {stimulus_s}
rating_s = 1.0
inter_trial_s = 1.0

[markers]
trial_start = "trial_start"
baseline_start = "baseline_start"
stimulus_on = "stim_on/{{stimulus_id}}"
stimulus_off = "stim_off/{{stimulus_id}}"
rating = "rating/{{scale}}/{{value}}"
trial_end = "trial_end"

[[streams]]
type = "EEG"
kind = "eeg"

[[streams]]
type = "Markers"

[[stimuli]]
id = "hi"
file = "stim/hi.wav"

[[stimuli]]
id = "lo"
file = "stim/lo.wav"
"""
RATINGS = "stimulus_id,valence,arousal,dominance,liking\nlo,2,3,4,5\nhi,8,7,6,5.5\n"


def make_protocol(folder, *, baseline_s=2.0, stimulus_s=4.0, audio_s=4.0):
    """A two-stimulus protocol with WAV files in ``folder``; returns its path."""
    import soundfile as sf

    (folder / "stim").mkdir(parents=True, exist_ok=True)
    sr = 8000
    t = np.arange(int(audio_s * sr)) / sr
    for sid, f0 in (("hi", 880.0), ("lo", 220.0)):
        sf.write(folder / "stim" / f"{sid}.wav", 0.3 * np.sin(2 * np.pi * f0 * t), sr)
    path = folder / "tiny.toml"
    path.write_text(PROTOCOL.format(baseline_s=baseline_s, stimulus_s=stimulus_s), encoding="utf-8")
    return path


class MarkerCapture:
    """Pull every sample of one LSL marker stream in a thread (a minimal recorder)."""

    def __init__(self, name: str) -> None:
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        found = pylsl.resolve_byprop("name", name, 1, 5.0)
        assert found, f"marker stream {name!r} not found"
        self.inlet = pylsl.StreamInlet(found[0], processing_flags=pylsl.proc_clocksync)
        self.inlet.open_stream(5.0)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            data, ts = self.inlet.pull_chunk(timeout=0.05)
            self.samples += [(t, d[0]) for t, d in zip(ts, data)]

    def stop(self) -> pd.DataFrame:
        self._stop.set()
        self.thread.join(2.0)
        self.inlet.close_stream()
        return pd.DataFrame(self.samples, columns=["timestamp", "marker"])


def run_captured(protocol, **kwargs):
    """``present`` on a fresh outlet while a pylsl inlet records its markers."""
    name = f"neuromer-test-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, name)
    outlet = pylsl.StreamOutlet(info)
    capture = MarkerCapture(name)
    assert outlet.wait_for_consumers(5.0)
    log = present(protocol, outlet=outlet, **kwargs)
    import time

    time.sleep(0.3)
    return log, capture.stop()


def test_present_null_audio_markers_make_trials(tmp_path):
    path = make_protocol(tmp_path)
    (tmp_path / "ratings.csv").write_text(RATINGS, encoding="utf-8")
    protocol = read_protocol(path)
    speed = 20.0
    log, got = run_captured(path, audio="null", ratings=tmp_path / "ratings.csv", speed=speed,
                            order=["lo", "hi"])
    assert got["marker"].tolist() == log["marker"].tolist()
    assert got["marker"].tolist()[:4] == ["trial_start", "baseline_start", "stim_on/lo", "stim_off/lo"]
    np.testing.assert_allclose(got["timestamp"], log["timestamp"], atol=1e-3)

    t0 = got["timestamp"].iloc[0]
    markers = pd.DataFrame({"onset_s": got["timestamp"] - t0, "description": got["marker"]})
    trials, dropped = trials_from_markers(markers, protocol, on_problem="raise")
    assert dropped.empty
    assert trials["stimulus_id"].tolist() == ["lo", "hi"]
    assert trials[["valence", "arousal", "dominance", "liking"]].to_numpy().tolist() == [[2, 3, 4, 5],
                                                                                         [8, 7, 6, 5.5]]
    # timing: stimulus lasts stimulus_s / speed; baseline precedes onset by baseline_s / speed
    np.testing.assert_allclose(trials["duration_s"], 4.0 / speed, atol=0.01)
    base = got[got.marker == "baseline_start"]["timestamp"].to_numpy()
    on = got[got.marker.str.startswith("stim_on")]["timestamp"].to_numpy()
    np.testing.assert_allclose(on - base, 2.0 / speed, atol=0.01)


def test_present_latency_and_short_audio(tmp_path):
    # audio shorter than stimulus_s: stim_off marks the real end of the sound
    path = make_protocol(tmp_path, stimulus_s=6.0, audio_s=2.0)
    answers = iter(["", "x", "10", "5", "4", "3", "2"] + ["5"] * 4)
    prompts = []

    def ask(prompt):
        prompts.append(prompt)
        return next(answers)

    log, got = run_captured(path, audio="null", speed=20.0, n_trials=1, latency_s=0.5, ask=ask)
    assert prompts[0] == "valence (1-9): " and len(prompts) == 7  # three bad answers re-asked
    ratings = got[got.marker.str.startswith("rating/")]["marker"].tolist()
    assert ratings == ["rating/valence/5", "rating/arousal/4", "rating/dominance/3", "rating/liking/2"]
    base = got[got.marker == "baseline_start"]["timestamp"].iloc[0]
    on = got[got.marker == "stim_on/hi"]["timestamp"].iloc[0]
    off = got[got.marker == "stim_off/hi"]["timestamp"].iloc[0]
    assert on - base == pytest.approx(0.1 + 0.5, abs=0.01)
    assert off - on == pytest.approx(2.0 / 20, abs=0.01)


@pytest.mark.parametrize("text, match", [
    ("stimulus_id,valence,arousal,dominance,liking\nhi,8,7,6,5\n", "no row for stimulus_id 'lo'"),
    ("stimulus_id,valence,arousal,dominance,liking\nhi,8,7,6,5\nlo,2,12,4,5\n", r"line 3: arousal rating '12'"),
    ("stimulus_id,valence,arousal,dominance\nhi,8,7,6\nlo,2,3,4\n", "no column for scale"),
    ("trial,valence,arousal,dominance,liking\n1,8,7,6,5\n2,x,7,6,5\n", r"line 3: valence rating 'x'"),
    ("who,valence\n", "needs a 'stimulus_id' or a 'trial' column"),
])
def test_bad_ratings_file_one_line_error(tmp_path, text, match):
    path = make_protocol(tmp_path)
    (tmp_path / "r.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DataFormatError, match=match) as info:
        present(path, audio="null", ratings=tmp_path / "r.csv", speed=100.0)
    assert "\n" not in str(info.value) and "r.csv" in str(info.value)


def test_ratings_by_trial_number(tmp_path):
    protocol = read_protocol(make_protocol(tmp_path))
    (tmp_path / "r.csv").write_text("trial,valence,arousal,dominance,liking\n2,1,1,1,1\n1,9,9,9,9\n")
    rows = read_ratings(tmp_path / "r.csv", protocol, ["lo", "hi"])
    assert rows[0]["valence"] == 9 and rows[1]["valence"] == 1


def test_protocol_typo_and_bad_arguments(tmp_path):
    path = make_protocol(tmp_path)
    bad = tmp_path / "typo.toml"
    bad.write_text(path.read_text().replace("baseline_s", "baseline_sec"), encoding="utf-8")
    with pytest.raises(ProtocolError, match="did you mean 'baseline_s'"):
        present(bad, audio="null")
    with pytest.raises(ProtocolError, match="unknown stimulus id 'nope'"):
        present(path, audio="null", order=["nope"])
    with pytest.raises(NeuromerError, match="'audio' parameter"):
        present(path, audio="speakers")


def test_cli_present_errors_are_one_line(tmp_path, capsys):
    from neuromer.cli import main

    path = make_protocol(tmp_path)
    (tmp_path / "r.csv").write_text("stimulus_id,valence\nhi,3\n", encoding="utf-8")
    status = main(["present", str(path), "--audio", "null", "--ratings", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "no column for scale" in err


@pytest.mark.slow
def test_present_record_and_run_the_pipeline(tmp_path, capsys):
    """present (audio null) + a simulated EEG outlet, recorded to XDF -> `neuromer run` works."""
    from neuromer.io.xdf import read_xdf
    from neuromer.live.record import Recorder
    from neuromer.pipeline import read_config, run

    path = make_protocol(tmp_path, baseline_s=1.0, stimulus_s=2.0, audio_s=2.0)
    text = path.read_text().replace("rating_s = 1.0", "rating_s = 0.2").replace("inter_trial_s = 1.0",
                                                                                 "inter_trial_s = 0.3")
    for sid in ("hi2", "lo2"):
        text += f'\n[[stimuli]]\nid = "{sid}"\nfile = "stim/{sid[:2]}.wav"\n'
    path.write_text(text, encoding="utf-8")
    (tmp_path / "ratings.csv").write_text("stimulus_id,valence,arousal,dominance,liking\n"
                                          "hi,8,7,5,6\nlo,2,3,5,4\nhi2,7,8,5,6\nlo2,3,2,5,4\n", encoding="utf-8")
    tag = uuid.uuid4().hex[:8]
    eeg = EegNoise(f"neuromer-test-eeg-{tag}")
    done = {}

    def run_present():
        done["log"] = present(path, audio="null", ratings=tmp_path / "ratings.csv", order=["hi", "lo", "hi2", "lo2"],
                              stream_name=f"neuromer-test-markers-{tag}", wait_for_consumers_s=10.0)
    presenter = threading.Thread(target=run_present, daemon=True)
    presenter.start()
    xdf = tmp_path / "xdf" / "sub-01.xdf"
    xdf.parent.mkdir()
    rec = Recorder(xdf, [f"name=neuromer-test-eeg-{tag}", f"name=neuromer-test-markers-{tag}"],
                   pull_interval_s=0.1).start()
    try:
        while presenter.is_alive():
            rec.poll()
            presenter.join(0.1)
        import time

        time.sleep(0.5)
    finally:
        rec.stop()
        eeg.stop()
    assert len(done["log"]) == 4 * 9  # trial_start, baseline_start, on, off, 4 ratings, trial_end

    protocol = read_protocol(path)
    session = read_xdf(xdf, protocol)
    assert session.trials["stimulus_id"].tolist() == ["hi", "lo", "hi2", "lo2"]
    assert session.trials["valence"].tolist() == [8, 2, 7, 3]
    np.testing.assert_allclose(session.trials["duration_s"], 2.0, atol=0.02)

    (tmp_path / "run.toml").write_text(f"""
[study]
inputs = ["xdf/*.xdf"]
protocol = "{path.name}"
out = "run"
[preprocess]
eog = ""
[features]
audio = false
physio = false
[models]
targets = ["valence"]
feature_sets = [["eeg"]]
n_permutations = 5
""", encoding="utf-8")
    record = run(read_config(tmp_path / "run.toml"), report=False)
    assert record["failed"] == [], record
    aligned = pd.read_parquet(tmp_path / "run" / "subjects" / "sub-01" / "aligned.parquet")
    assert sorted(aligned["stimulus_id"].unique()) == ["hi", "hi2", "lo", "lo2"]
    assert len(aligned) == 4 * 3  # 2 s stimuli, 1 s windows every 0.5 s

    # the decoder the run saved works online on the same kind of stream (`neuromer online`)
    from neuromer.cli import main

    model = tmp_path / "run" / "models" / "eeg_valence.skops"
    assert model.is_file()
    eeg = EegNoise(f"neuromer-test-eeg2-{tag}")
    try:
        status = main(["online", "--model", str(model), "--stream", f"name=neuromer-test-eeg2-{tag}",
                       "--seconds", "3", "--quiet"])
    finally:
        eeg.stop()
    out = capsys.readouterr().out
    assert status == 0, out
    n = int(re.search(r"(\d+) predictions; latency p50", out).group(1))
    assert 8 <= n <= 31  # 10 per second once the first 1.8 s have filled the buffer


class EegNoise:
    """A 14-channel, 256 Hz EEG outlet pushing noise with a 10 Hz rhythm in real time."""

    CHANNELS = ["Fp1", "AF3", "F3", "F7", "FC5", "C3", "P3", "O1", "Fp2", "AF4", "F4", "F8", "C4", "O2"]

    def __init__(self, name: str, sfreq: float = 256.0) -> None:
        info = pylsl.StreamInfo(name, "EEG", len(self.CHANNELS), sfreq, pylsl.cf_float32, name)
        chans = info.desc().append_child("channels")
        for c in self.CHANNELS:
            ch = chans.append_child("channel")
            ch.append_child_value("label", c)
            ch.append_child_value("type", "EEG")
            ch.append_child_value("unit", "microvolts")
        self.outlet, self.sfreq = pylsl.StreamOutlet(info), sfreq
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        rng = np.random.default_rng(0)
        start, sent = pylsl.local_clock(), 0
        while not self._stop.wait(0.02):
            due = int((pylsl.local_clock() - start) * self.sfreq)
            t = (sent + np.arange(due - sent)) / self.sfreq
            x = rng.normal(0, 5.0, (len(t), len(self.CHANNELS))) + 10 * np.sin(2 * np.pi * 10 * t)[:, None]
            self.outlet.push_chunk(x.astype(np.float32), (start + t).tolist())
            sent = due

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2.0)


def test_audio_default_without_sounddevice_is_a_clear_error(tmp_path):
    import importlib.util

    if importlib.util.find_spec("sounddevice") is not None:
        pytest.skip("sounddevice is installed")
    with pytest.raises(NeuromerError, match="--audio null"):
        present(make_protocol(tmp_path), audio="default")
