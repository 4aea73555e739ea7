"""neuromer.live.online on real loopback LSL: same features as offline, predictions at the hop rate."""

from __future__ import annotations

import re
import threading
import time
import uuid

import numpy as np
import pandas as pd
import pytest

pylsl = pytest.importorskip("pylsl")

from neuromer.eeg.features import eeg_window_features  # noqa: E402
from neuromer.errors import NeuromerError  # noqa: E402
from neuromer.live.online import OnlineDecoder, RingBuffer  # noqa: E402
from neuromer.session import Trials  # noqa: E402
from neuromer.windows import WindowGrid  # noqa: E402

CHANNELS = ["Fp1", "F3", "F4", "Fz", "Cz", "Pz", "O1", "O2"]
SFREQ = 256.0


def synthetic_eeg(n: int, sfreq: float, rng, alpha: float = 10.0) -> np.ndarray:
    """(n, n_channels) µV: noise plus a 10 Hz rhythm of amplitude ``alpha``."""
    t = np.arange(n) / sfreq
    x = rng.normal(0, 5.0, (n, len(CHANNELS)))
    return x + alpha * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 6))[:, None]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A valence decoder fitted as the pipeline's analysis fits it, saved with save_model."""
    from neuromer.models.estimators import make_estimator
    from neuromer.models.persistence import save_model

    rng = np.random.default_rng(0)
    n_trials, dur = 8, 4.0
    data = np.stack([synthetic_eeg(int(dur * 128), 128.0, rng, alpha=20.0 if k % 2 else 2.0).T
                     for k in range(n_trials)])
    meta = pd.DataFrame({"trial": np.arange(1, n_trials + 1), "stimulus_id": [f"s{k}" for k in range(n_trials)],
                         "onset_s": 0.0, "duration_s": dur, "valence": [8.0 if k % 2 else 2.0 for k in range(n_trials)]})
    table = eeg_window_features(Trials(data, 128.0, CHANNELS, baseline_s=0.0, metadata=meta))
    table = table.merge(meta[["trial", "valence"]], on="trial")
    cols = [c for c in table if re.fullmatch(r"eeg_(theta|slow_alpha|alpha|beta|gamma)_[A-Za-z0-9]+", c)]
    model = make_estimator("logreg", "classification", random_state=0)
    model.fit(table[cols], (table["valence"] > 5).astype(int))
    return save_model(model, tmp_path_factory.mktemp("models") / "eeg_valence.skops")


def test_window_features_equal_offline(model_file):
    dec = OnlineDecoder([model_file], sfreq=None, l_freq=None, h_freq=None, reference=None)
    assert dec.targets == ["valence"] and dec.channels == sorted(CHANNELS)
    dec.prepare(SFREQ, CHANNELS)
    raw = synthetic_eeg(int(SFREQ), SFREQ, np.random.default_rng(1)).T
    window = dec.preprocess(raw)
    np.testing.assert_array_equal(window, raw)  # preprocessing off: the window itself
    online = dec.features(window[dec._pick])

    meta = pd.DataFrame({"trial": [1], "stimulus_id": ["x"], "onset_s": [0.0], "duration_s": [1.0]})
    offline = eeg_window_features(Trials(raw[None], SFREQ, CHANNELS, baseline_s=0.0, metadata=meta),
                                  grid=WindowGrid(1.0, 0.5))
    assert len(offline) == 1
    np.testing.assert_allclose(online, offline[dec.feature_names].to_numpy()[0], rtol=1e-9, atol=1e-12)
    # the model sees its own columns, in its fitted order
    pred = dec.predict_window(raw)
    assert set(pred) == {"valence"} and 0 <= pred["valence"] <= 1


def test_preprocess_matches_offline_filter_inside_the_buffer(model_file):
    import mne

    dec = OnlineDecoder([model_file], sfreq=None, l_freq=4.0, h_freq=45.0, reference="average", context_s=4.0)
    dec.prepare(SFREQ, CHANNELS)
    raw = synthetic_eeg(int(8 * SFREQ), SFREQ, np.random.default_rng(2)).T
    offline = mne.filter.filter_data(raw, SFREQ, 4.0, 45.0, method="fir", phase="zero", verbose="error")
    offline -= offline.mean(axis=0)
    # a window whose filter support lies inside the data: online equals offline (MNE's zero-phase FIR)
    n_half = len(dec._fir) // 2
    end = raw.shape[1] - n_half - 1
    online = dec.preprocess(raw[:, :end + n_half + 1])
    np.testing.assert_allclose(dec.preprocess(raw[:, :end + n_half + 1])[:, -1 - n_half],
                               offline[:, end], rtol=1e-6, atol=1e-6)
    assert online.shape == (len(CHANNELS), int(SFREQ))


def test_ring_buffer_wraps():
    buf = RingBuffer(2, 5)
    buf.extend(np.arange(6).reshape(3, 2))
    buf.extend(np.arange(6, 14).reshape(4, 2))
    np.testing.assert_array_equal(buf.latest(5), np.arange(4, 14).reshape(5, 2).T)
    assert buf.n_total == 7
    with pytest.raises(NeuromerError):
        buf.latest(6)


def test_model_without_feature_names_is_refused():
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.random.default_rng(0).normal(size=(20, 3)), [0, 1] * 10)
    with pytest.raises(NeuromerError, match="no feature names"):
        OnlineDecoder({"valence": model})


class EegOutlet:
    """Push synthetic EEG in real time (chunks of 1/32 s) from a thread."""

    def __init__(self, name: str, sfreq: float = SFREQ, channels=CHANNELS) -> None:
        info = pylsl.StreamInfo(name, "EEG", len(channels), sfreq, pylsl.cf_float32, name)
        chans = info.desc().append_child("channels")
        for c in channels:
            chans.append_child("channel").append_child_value("label", c)
        self.outlet = pylsl.StreamOutlet(info, chunk_size=0)
        self.sfreq, self.n_ch = sfreq, len(channels)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        rng = np.random.default_rng(3)
        step = int(self.sfreq / 32)
        start, sent = pylsl.local_clock(), 0
        while not self._stop.is_set():
            due = int((pylsl.local_clock() - start) * self.sfreq)
            if due - sent >= step:
                n = due - sent
                chunk = rng.normal(0, 5.0, (n, self.n_ch)).astype(np.float32)
                self.outlet.push_chunk(chunk, start + (sent + n - 1) / self.sfreq)
                sent += n
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2.0)


def test_online_predictions_on_lsl(tmp_path, model_file):
    from neuromer.protocol import read_protocol

    from .test_present import make_protocol

    protocol = read_protocol(make_protocol(tmp_path))
    tag = uuid.uuid4().hex[:8]
    eeg = EegOutlet(f"neuromer-test-eeg-{tag}")
    markers = pylsl.StreamOutlet(pylsl.StreamInfo(f"neuromer-test-mk-{tag}", "Markers", 1, 0, pylsl.cf_string,
                                                  f"mk-{tag}"))
    dec = OnlineDecoder([model_file], hop_s=0.1, protocol=protocol)
    dec.connect(f"name=neuromer-test-eeg-{tag}", markers=f"name=neuromer-test-mk-{tag}")
    assert dec.output_channels == ["valence", "audio_valence"]
    stop = threading.Event()
    runner = threading.Thread(target=dec.run, kwargs={"stop": stop}, daemon=True)
    runner.start()
    try:
        # the default output stream, told apart from other tests' by its source id (from the EEG stream's)
        found = pylsl.resolve_byprop("source_id", f"neuromer-emotion-neuromer-test-eeg-{tag}", 1, 5.0)
        assert found and found[0].name() == "neuromer-emotion"
        inlet = pylsl.StreamInlet(found[0])
        info = inlet.info(5.0)
        assert info.channel_count() == 2 and info.type() == "Emotion"
        assert info.nominal_srate() == pytest.approx(10.0)
        inlet.open_stream(5.0)
        markers.wait_for_consumers(5.0)
        markers.push_sample(["stim_on/hi"])
        markers.push_sample(["stim_on/lo"], pylsl.local_clock() + 100)  # markers count at their time stamp
        rows, stamps = [], []
        t_first = time.monotonic() + 10.0
        while time.monotonic() < t_first and not rows:  # the buffer fills first
            rows, stamps = inlet.pull_chunk(timeout=0.2)
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            data, ts = inlet.pull_chunk(timeout=0.2)
            rows += data
            stamps += ts
    finally:
        stop.set()
        runner.join(5.0)
        dec.close()
        eeg.stop()
    values = np.asarray(rows)
    assert values.shape[1] == 2 and 25 <= len(values) <= 36  # ~10 per second for 3 s
    assert np.all((values[:, 0] >= 0) & (values[:, 0] <= 1))
    assert np.median(np.diff(stamps)) == pytest.approx(0.1, abs=0.02)
    playing = [h for h in dec.history if h["stimulus_id"] == "hi"]
    assert playing and not any(h["stimulus_id"] == "lo" for h in dec.history)
    if dec._audio is not None:  # neuromer.audio is installed: the stimulus' audio prediction rides along
        assert np.isfinite(values[-1, 1]) and 1 <= values[-1, 1] <= 9
        assert all(np.isfinite(h["audio_valence"]) for h in playing)
    assert len(dec.latencies_s) >= len(values) and np.median(dec.latencies_s) < 0.1


def test_cli_online_errors_are_one_line(tmp_path, capsys):
    from neuromer.cli import main

    status = main(["online", "--model", str(tmp_path / "eeg_valence.skops")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "file not found" in err


def test_model_metadata_guards_window_and_baseline(model_file, tmp_path):
    from neuromer.models.persistence import load_model, save_model

    est = load_model(model_file)
    two_s = save_model(est, tmp_path / "eeg_valence.skops", metadata={"window_s": 2.0, "eeg_baseline": "none"})
    with pytest.raises(NeuromerError, match="trained on 2.0 s windows"):
        OnlineDecoder([two_s])
    assert OnlineDecoder([two_s], window_s=2.0).window_s == 2.0
    ratio = save_model(est, tmp_path / "eeg_arousal.skops", metadata={"window_s": 1.0, "eeg_baseline": "ratio"})
    with pytest.raises(NeuromerError, match="baseline-corrected"):
        OnlineDecoder([ratio])


def test_model_trained_with_other_preprocessing_warns(model_file, tmp_path, caplog):
    from neuromer.models.persistence import load_model, save_model

    est = load_model(model_file)
    meta = {"window_s": 1.0, "eeg_baseline": "none",
            "preprocess": {"enabled": True, "sfreq": 128.0, "l_freq": 1.0, "h_freq": 45.0, "reference": "average"}}
    path = save_model(est, tmp_path / "eeg_valence.skops", metadata=meta)
    OnlineDecoder([path])
    assert "trained with {'l_freq': 1.0}" in caplog.text
    caplog.clear()
    meta["preprocess"]["l_freq"] = 4.0
    OnlineDecoder([save_model(est, tmp_path / "eeg_valence.skops", metadata=meta)])
    assert "trained with" not in caplog.text
