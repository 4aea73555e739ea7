"""Live benchmarks: `neuromer record` (here) then online decoding latency (bench/live_online.py).

Recorder: 8 LSL outlets (one 64 ch x 2048 Hz float32) recorded for
--seconds (default 600, the issue's 10 minutes).

The outlets are fed from this process; the recorder runs as its own process (`python -m neuromer
record`), so its CPU time is measured alone (getrusage of the child). Prints, per stream, the
samples pushed and written (lost must be 0), the recorder's CPU time and share of one core, its
peak memory and the file size. Prints numbers; asserts nothing about timings.

    python bench/live.py --seconds 60 [--online-seconds 30]

Online: after the recording, runs bench/live_online.py (64 ch x 512 Hz, 10 updates/s; p50/p99
latency from a window's last sample being pulled to its prediction being pushed); 0 skips it.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: name, type, channels, rate (Hz, 0 = irregular), format
STREAMS = [("EEG64", "EEG", 64, 2048.0, "float32"), ("EEG8", "EEG", 8, 256.0, "float32"),
           ("ExG", "EXG", 4, 512.0, "float32"), ("GSR", "GSR", 1, 32.0, "double64"),
           ("PPG", "PPG", 1, 128.0, "float32"), ("Accel", "Accelerometer", 3, 100.0, "int16"),
           ("Temp", "TEMP", 1, 4.0, "double64"), ("Markers", "Markers", 1, 0.0, "string")]
MARKER_RATE = 2.0  # Hz


def main() -> int:
    import pylsl

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="recording length (default 600)")
    ap.add_argument("--out", help="XDF file to write (default: a temporary file, deleted)")
    ap.add_argument("--online-seconds", type=float, default=30.0,
                    help="then benchmark online decoding for this long (default 30; 0 skips it)")
    args = ap.parse_args()

    tag = uuid.uuid4().hex[:6]
    outlets = []
    for name, stype, n_ch, rate, fmt in STREAMS:
        info = pylsl.StreamInfo(f"bench-{name}-{tag}", stype, n_ch, rate, fmt, f"bench-{tag}-{name}")
        outlets.append(pylsl.StreamOutlet(info))
    tmpdir = None
    if args.out:
        out = Path(args.out)
    else:
        tmpdir = tempfile.TemporaryDirectory()
        out = Path(tmpdir.name) / "bench.xdf"
    cmd = [sys.executable, "-m", "neuromer", "record", str(out), "--timeout", "10"]
    for name, *_ in STREAMS:
        cmd += ["--stream", f"source_id=bench-{tag}-{name}"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for o in outlets:
        if not o.wait_for_consumers(30):
            proc.kill()
            print("the recorder did not connect within 30 s", file=sys.stderr)
            return 1

    rng = np.random.default_rng(0)
    blocks = {name: (rng.standard_normal((int(max(rate, 1) * 2), n_ch)) * 50).astype(
        np.int16 if fmt == "int16" else np.float64 if fmt == "double64" else np.float32)
        for name, _, n_ch, rate, fmt in STREAMS if fmt != "string"}
    pushed = {name: 0 for name, *_ in STREAMS}
    stop = threading.Event()

    def feed():
        start = pylsl.local_clock()
        while not stop.is_set():
            elapsed = pylsl.local_clock() - start
            for (name, _, _, rate, fmt), outlet in zip(STREAMS, outlets):
                due = int(elapsed * (rate or MARKER_RATE))
                n = due - pushed[name]
                if n <= 0:
                    continue
                if fmt == "string":
                    outlet.push_chunk([[f"marker {pushed[name] + i}"] for i in range(n)])
                else:
                    block = blocks[name]
                    i0 = pushed[name] % (len(block) // 2)
                    outlet.push_chunk(block[i0:i0 + n])
                pushed[name] = due
            stop.wait(0.02)

    feeder = threading.Thread(target=feed, daemon=True)
    t0 = time.monotonic()
    feeder.start()
    print(f"recording {len(STREAMS)} streams for {args.seconds:g} s to {out} ...", flush=True)
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    stop.set()
    feeder.join()
    time.sleep(1.0)  # let the last pull happen
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    wall = time.monotonic() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(stdout, stderr, file=sys.stderr)
        return 1

    import pyxdf

    streams, _ = pyxdf.load_xdf(str(out), dejitter_timestamps=False)
    written = {s["info"]["name"][0].split("bench-", 1)[1].rsplit(f"-{tag}", 1)[0]: len(s["time_stamps"])
               for s in streams}
    print(f"\n{'stream':<10} {'ch':>4} {'rate Hz':>8} {'pushed':>12} {'written':>12} {'lost':>8}")
    total_lost = 0
    for name, _, n_ch, rate, _ in STREAMS:
        lost = pushed[name] - written.get(name, 0)
        total_lost += lost
        print(f"{name:<10} {n_ch:>4} {rate:>8g} {pushed[name]:>12} {written.get(name, 0):>12} {lost:>8}")
    cpu = usage.ru_utime + usage.ru_stime
    size = out.stat().st_size
    print(f"\nlost samples in total: {total_lost}")
    print(f"recorder CPU: {cpu:.1f} s (user {usage.ru_utime:.1f}, system {usage.ru_stime:.1f}) over {wall:.1f} s "
          f"wall = {100 * cpu / wall:.1f} % of one core")
    print(f"recorder peak memory: {usage.ru_maxrss / 1024:.0f} MB")
    print(f"file size: {size / 1e6:.1f} MB ({size / 1e6 / wall:.2f} MB/s)")
    if tmpdir is not None:
        tmpdir.cleanup()
    if args.online_seconds > 0:
        print("\nonline decoding:", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("live_online.py")),
                        "--seconds", str(args.online_seconds)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
