"""Benchmark: online decoding latency on loopback LSL.

A thread pushes 64-channel EEG at 512 Hz in real time (chunks of 1/64 s, as an amplifier driver
does) to an LSL outlet; :class:`neuromer.live.online.OnlineDecoder` decodes valence and arousal
with two pipeline-style models (logistic regression on the 64 x 5 band powers) at 10 updates per
second, with the pipeline's preprocessing (resample to 128 Hz, 4-45 Hz zero-phase FIR, average
reference). Prints the latency from the arrival of a window's last sample (pulled from LSL) to the
push of its prediction: p50, p99 and max in ms (target p99 < 20 ms), and the update rate.

Run: ``python bench/live_online.py [--seconds 30]``.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, like a lab laptop
    os.environ[_var] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import mne  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pylsl  # noqa: E402

from neuromer.eeg.features import DEFAULT_BANDS  # noqa: E402
from neuromer.live.online import OnlineDecoder  # noqa: E402
from neuromer.models.estimators import make_estimator  # noqa: E402
from neuromer.models.persistence import save_model  # noqa: E402

SFREQ = 512.0
CHANNELS = mne.channels.make_standard_montage("biosemi64").ch_names


def models(folder: Path) -> list[Path]:
    """Two band-power models fitted on random features (the timing does not depend on the weights)."""
    rng = np.random.default_rng(0)
    cols = [f"eeg_{band}_{ch}" for band in DEFAULT_BANDS for ch in CHANNELS]
    x = pd.DataFrame(rng.lognormal(size=(200, len(cols))), columns=cols)
    out = []
    for target in ("valence", "arousal"):
        model = make_estimator("logreg", "classification", random_state=0).fit(x, rng.integers(0, 2, 200))
        out.append(save_model(model, folder / f"eeg_{target}.skops"))
    return out


def push_eeg(name: str, stop: threading.Event) -> None:
    info = pylsl.StreamInfo(name, "EEG", len(CHANNELS), SFREQ, pylsl.cf_float32, name)
    chans = info.desc().append_child("channels")
    for c in CHANNELS:
        ch = chans.append_child("channel")
        ch.append_child_value("label", c)
        ch.append_child_value("type", "EEG")
        ch.append_child_value("unit", "microvolts")
    outlet = pylsl.StreamOutlet(info, chunk_size=0)
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 10.0, (int(SFREQ) * 4, len(CHANNELS))).astype(np.float32)
    start, sent, step = pylsl.local_clock(), 0, int(SFREQ / 64)
    while not stop.is_set():
        due = int((pylsl.local_clock() - start) * SFREQ)
        if due - sent >= step:
            n = due - sent
            i = sent % (len(noise) - n)
            outlet.push_chunk(noise[i:i + n], start + (sent + n - 1) / SFREQ)
            sent += n
        time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="decoding time in seconds (default 30)")
    parser.add_argument("--hop-s", type=float, default=0.1, help="seconds between updates (default 0.1)")
    args = parser.parse_args()
    name = f"neuromer-bench-eeg-{uuid.uuid4().hex[:6]}"
    stop = threading.Event()
    pusher = threading.Thread(target=push_eeg, args=(name, stop), daemon=True)
    pusher.start()
    with tempfile.TemporaryDirectory() as tmp:
        decoder = OnlineDecoder(models(Path(tmp)), hop_s=args.hop_s)
    decoder.connect(f"name={name}", outlet_name=f"neuromer-emotion-bench-{uuid.uuid4().hex[:6]}")
    t0 = time.monotonic()
    decoder.run(args.seconds + decoder.n_input / SFREQ)
    elapsed = time.monotonic() - t0 - decoder.n_input / SFREQ
    stop.set()
    decoder.close()
    lat = np.asarray(decoder.latencies_s) * 1e3
    print(f"EEG {len(CHANNELS)} ch x {SFREQ:g} Hz, window {decoder.window_s:g} s -> {decoder.rate:g} Hz, "
          f"hop {args.hop_s:g} s, models: {', '.join(decoder.targets)}")
    print(f"updates: {len(lat)} in {elapsed:.1f} s ({len(lat) / max(elapsed, 1e-9):.2f}/s)")
    if len(lat):
        print(f"latency (last sample pulled -> prediction pushed): p50 {np.percentile(lat, 50):.2f} ms, "
              f"p99 {np.percentile(lat, 99):.2f} ms, max {lat.max():.2f} ms (target p99 < 20 ms)")


if __name__ == "__main__":
    main()
