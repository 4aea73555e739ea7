"""A lab dry run on one machine: replay a simulated session over LSL, record it, analyse it.

`neuromer play` publishes the simulator's XDF streams (EEG, physiology, markers) in real time (here
4x faster), `neuromer record`'s recorder writes them to a new XDF file, and the recording is cut
into trials with the study's protocol, exactly as a real session would be.

    python examples/live_dry_run.py [OUT_DIR]      # default: example_live/
"""

import dataclasses
import os
import sys
import threading
import time
from pathlib import Path

import neuromer
from neuromer.live import play, record

SPEED = 4.0
out = Path(sys.argv[1] if len(sys.argv) > 1 else "example_live")
if not (out / "study" / "protocol.toml").is_file():  # simulated once; reruns reuse it
    neuromer.simulate_study(out / "study", n_subjects=1, n_trials=2, stimulus_s=6.0, seed=2)
XDF, PROTOCOL = out / "study" / "xdf" / "sub-01.xdf", out / "study" / "protocol.toml"

# the player waits (up to 10 s) for a consumer on every stream, so the recorder misses nothing
names = neuromer.xdf_info(XDF)["name"]
PREFIX = f"dryrun{os.getpid()}-"  # unique stream names: only our streams, whatever else is on the network
selectors = [f"name={PREFIX}{n}" for n in names]
done = threading.Event()
result = {}


def player():
    result.update(play(XDF, speed=SPEED, name_prefix=PREFIX, wait_for_consumers_s=10.0))
    time.sleep(0.5)  # the last chunks reach the recorder
    done.set()


threading.Thread(target=player, daemon=True).start()
recording = out / "recording.xdf"
if recording.exists():
    recording.unlink()  # the recorder never overwrites; this example may be run twice
summary = record(recording, selectors, stop_event=done, timeout=10.0)
print(f"played {result['duration_s']:.1f} s; recorded", {s["name"]: s["samples"] for s in summary["streams"]})

# the recording ran SPEED times faster than the protocol: scale its timing to cut the trials
protocol = neuromer.read_protocol(PROTOCOL)
t = protocol.timing
fast = dataclasses.replace(protocol, timing=dataclasses.replace(
    t, baseline_s=t.baseline_s / SPEED, stimulus_s=t.stimulus_s / SPEED, rating_s=t.rating_s / SPEED,
    inter_trial_s=t.inter_trial_s / SPEED))
recorded = neuromer.make_trials(neuromer.read_xdf(recording, protocol=fast), protocol=fast, sfreq=None)
original = neuromer.make_trials(neuromer.read_xdf(XDF, protocol=protocol), protocol=protocol, sfreq=None)
cols = ["trial", "stimulus_id", "valence", "arousal"]
print("trials from the recording:        ", recorded.metadata[cols].to_dict("records"))
print("trials from the simulator's file: ", original.metadata[cols].to_dict("records"))
same = recorded.metadata[cols].reset_index(drop=True).equals(original.metadata[cols].reset_index(drop=True))
print("same trials and labels:", same)
sys.exit(0 if same else 1)
