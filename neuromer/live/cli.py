"""The live sub-commands: ``streams``, ``record``, ``play``, ``present``, ``online``.

The terminal side only (arguments, signals, status lines); the work is done by the library
functions of :mod:`neuromer.live`, which never print.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time

from ..errors import NeuromerError
from ._names import AUDIO_STREAM, MARKER_STREAM, OUTPUT_STREAM

# The work modules (numpy, pandas, pylsl, the decoder) load inside each command, so that
# `neuromer --help` and the other commands do not pay for them.


def add_live_commands(subparsers) -> None:
    """Add every live sub-command to the ``neuromer`` parser's ``subparsers``."""
    for add in (_add_streams, _add_record, _add_play, _add_present, _add_online):
        add(subparsers)
    for name in ("streams", "record", "play", "present", "online"):
        p = subparsers.choices[name]
        p.set_defaults(func=_quiet_liblsl(p.get_default("func")))


def _quiet_liblsl(func):
    """Run a live command with liblsl's own INFO lines off unless ``-v`` was given."""
    def run(args):
        if not getattr(args, "verbose", 0):
            from . import _lsl  # here, so that `neuromer --help` does not load pylsl

            _lsl.set_liblsl_log_level(-2)
        return func(args)
    run.__wrapped__ = func
    return run


def _cmd_streams(args) -> int:
    import pandas as pd

    from .._checks import check_positive
    from .streams import StreamMonitor, list_streams

    table = list_streams(timeout=args.timeout, selectors=args.stream)
    if table.empty:
        print(f"No LSL streams found within {args.timeout:g} s.")
        return 0 if not args.watch else 1
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_rows", 200):
        print(table.drop(columns="uid").to_string(index=False))
    if not args.watch:
        return 0
    interval = check_positive(args.interval, "interval")
    mon = StreamMonitor(args.stream, timeout=args.timeout)
    print(f"Watching {len(table)} stream(s) every {interval:g} s; Ctrl-C to stop.")
    try:
        while True:
            time.sleep(interval)
            report = mon.poll()
            print(time.strftime("%H:%M:%S"), "  ".join(
                f"{r.name}: {r.measured_srate:.1f}/{r.nominal_srate:g} Hz, {r.dropouts} dropout(s)"
                f"{'' if r.receiving else ' NO DATA'}" for r in report.itertuples()), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        mon.close()
    return 0


def _add_streams(subparsers) -> None:
    """Add ``neuromer streams``."""
    p = subparsers.add_parser(
        "streams", help="list the LSL streams on the network",
        description="List visible LSL streams (name, type, channels, rate, format, source id, host); "
                    "--watch keeps printing each stream's measured rate and dropouts.")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to listen (default 1)")
    p.add_argument("--stream", action="append", metavar="KEY=VALUE",
                   help="only streams matching type=..., name=..., source_id=... (repeatable)")
    p.add_argument("--watch", action="store_true", help="keep measuring rates and dropouts until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between --watch lines (default 2)")
    p.set_defaults(func=_cmd_streams)


@contextlib.contextmanager
def _stop_on_signals():
    """An event set by Ctrl-C or SIGTERM while the block runs, so the work stops cleanly."""
    stop = threading.Event()
    old = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _cmd_record(args) -> int:
    from . import _lsl
    from .record import record

    selectors = _lsl.parse_selectors(args.stream)  # malformed selectors fail before waiting
    tty = sys.stderr.isatty()
    last = [0.0]

    def show(status):
        if tty and time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            parts = ", ".join(f"{s['name']}: {s['samples']}{' (no data)' if s['silent'] else ''}"
                              for s in status["streams"])
            print(f"\r{status['elapsed_s']:7.1f} s | {parts}\033[K", end="", file=sys.stderr, flush=True)

    try:
        with _stop_on_signals() as stop:
            summary = record(args.out, [f"{k}={v}" for k, v in selectors] or None, duration_s=args.duration,
                             stop_event=stop, status_callback=show, timeout=args.timeout)
    finally:
        if tty:
            print(file=sys.stderr)
    print(f"Recorded {len(summary['streams'])} stream(s) for {summary['duration_s']:.1f} s to {summary['path']}")
    for s in summary["streams"]:
        extra = f", {s['gaps']} gap(s) ({s['gap_s']:.2f} s)" if s["gaps"] else ""
        extra += f", {s['interruptions']} interruption(s)" if s["interruptions"] else ""
        print(f"  {s['name']:<20} {s['type']:<10} {s['samples']:>10} samples{extra}")
    return 0


def _add_record(subparsers) -> None:
    """Add ``neuromer record``."""
    p = subparsers.add_parser(
        "record", help="record LSL streams to a crash-safe XDF file",
        description="Record LSL streams to an XDF file. Every pull is flushed to disk, so the file loads "
                    "up to the last fraction of a second after a crash. Stops on Ctrl-C, SIGTERM or --duration.")
    p.add_argument("out", help="the .xdf file to create (never overwritten)")
    p.add_argument("--stream", action="append", metavar="KEY=VALUE",
                   help="record streams matching type=..., name=..., source_id=... or hostname=... "
                        "(repeatable; default: every visible stream)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the streams (default 5)")
    p.set_defaults(func=_cmd_record)


def _cmd_play(args) -> int:
    from .play import play

    with _stop_on_signals() as stop:
        summary = play(args.input, speed=args.speed, loop=args.loop, duration_s=args.duration, stop_event=stop,
                       name_prefix=args.prefix, subject=args.subject, wait_for_consumers_s=args.wait)
    print(f"Played {summary['input']} at speed {summary['speed']:g} for {summary['duration_s']:.1f} s "
          f"({summary['loops']} complete pass(es))")
    for s in summary["streams"]:
        print(f"  {s['name']:<24} {s['type']:<10} {s['samples']:>10} samples")
    return 0


def _add_play(subparsers) -> None:
    """Add ``neuromer play``."""
    p = subparsers.add_parser(
        "play", help="replay a recording as LSL streams in real time",
        description="Publish an XDF file (every stream, markers included), a simulated study folder, a DEAP "
                    ".dat/.mat/BDF or any recording neuromer reads as LSL streams, in real time scaled by --speed.")
    p.add_argument("input", help="XDF file, study folder, DEAP .dat/.mat/.bdf, EDF/BDF/FIF...")
    p.add_argument("--speed", type=float, default=1.0, help="playback speed (default 1.0 = real time)")
    p.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C or --duration")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--subject", help="subject to play from a study folder (default the first)")
    p.add_argument("--prefix", default="", help="prepend this to every stream name and source id")
    p.add_argument("--wait", type=float, default=0.0,
                   help="wait up to this many seconds for a consumer of every stream before starting")
    p.set_defaults(func=_cmd_play)


def _ask_terminal(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        raise NeuromerError("standard input closed while asking for ratings; use --ratings FILE "
                            "for unattended runs.") from None


def _cmd_present(args: argparse.Namespace) -> int:
    from .present import present

    order = [s.strip() for s in args.order.split(",") if s.strip()] if args.order else None
    log = present(args.protocol, audio=args.audio, ratings=args.ratings, latency_s=args.latency_s, order=order,
                  n_trials=args.trials, speed=args.speed, ask=_ask_terminal, stream_name=args.name,
                  wait_for_consumers_s=args.wait_s, audio_stream=args.audio_stream,
                  audio_stream_sfreq=args.audio_stream_rate)
    print(f"presented {log['trial'].nunique()} trials, pushed {len(log)} markers on LSL stream {args.name!r}")
    if "audio_stream" in log.attrs:
        a = log.attrs["audio_stream"]
        print(f"published the sound on LSL stream {a['name']!r}: {a['samples']} samples at {a['sfreq']:g} Hz")
    return 0


def _add_present(subparsers) -> None:
    """Register ``neuromer present`` on the ``neuromer`` parser's ``subparsers``."""
    p = subparsers.add_parser(
        "present", help="run a protocol: play stimuli, collect ratings, push LSL markers",
        description="Run a protocol: for each trial a fixation baseline, the stimulus, SAM ratings (terminal or "
                    "--ratings file) and the inter-trial pause, pushing the protocol's markers on an LSL "
                    "marker stream timed at the audio onset. Record it with 'neuromer record'.")
    p.add_argument("protocol", help="protocol TOML file or shipped name (e.g. music_listening)")
    p.add_argument("--audio", choices=("null", "default"), default="default",
                   help="'default' plays on the default sound device (needs sounddevice); 'null' plays "
                        "nothing but keeps the timing (default: default)")
    p.add_argument("--ratings", metavar="FILE",
                   help="CSV with stimulus_id (or trial) and one column per rating scale, instead of asking")
    p.add_argument("--latency-s", type=float, default=0.0,
                   help="extra audio output latency in seconds added to stimulus markers (default 0)")
    p.add_argument("--trials", type=int, help="present only the first N trials")
    p.add_argument("--order", help="comma-separated stimulus ids in presentation order (default: protocol order)")
    p.add_argument("--speed", type=float, default=1.0, help="divide all durations by X, for dry runs (default 1)")
    p.add_argument("--name", default=MARKER_STREAM, help=f"LSL marker stream name (default {MARKER_STREAM})")
    p.add_argument("--wait-s", type=float, default=0.0,
                   help="wait up to S seconds for a recorder to connect before starting (default 0)")
    p.add_argument("--audio-stream", nargs="?", const=AUDIO_STREAM, default=None, metavar="NAME",
                   help=f"also publish the played sound as a mono LSL Audio stream (default name {AUDIO_STREAM}), "
                        "stamped on the markers' clock; record it and set [align] refine_onsets to its name "
                        "(without NAME, put the flag after the protocol)")
    p.add_argument("--audio-stream-rate", type=float, default=None, metavar="HZ",
                   help="rate of the audio stream (default: the first stimulus file's sample rate)")
    p.set_defaults(func=_cmd_present)


def _cmd_online(args: argparse.Namespace) -> int:
    import numpy as np

    from .online import OnlineDecoder

    decoder = OnlineDecoder(args.model, window_s=args.window_s, hop_s=args.hop_s, protocol=args.protocol)
    decoder.connect(args.stream, markers=args.markers, timeout=args.timeout)
    print(f"decoding {', '.join(decoder.targets)} to LSL stream {OUTPUT_STREAM!r} "
          f"({', '.join(decoder.output_channels)}); Ctrl-C to stop")
    stop = threading.Event()

    def show(row):
        vals = "  ".join(f"{t} {row[t]:.2f}" for t in decoder.targets)
        audio = "  ".join(f"audio {t} {row[f'audio_{t}']:.2f}" for t in decoder.targets if f"audio_{t}" in row)
        stim = f"  [{row['stimulus_id']}] {audio}" if row.get("stimulus_id") else ""
        print(f"{vals}{stim}  ({1e3 * row['latency_s']:.1f} ms)", flush=True)
    try:
        decoder.run(args.seconds, stop=stop, on_prediction=show if not args.quiet else None)
    except KeyboardInterrupt:
        pass
    finally:
        decoder.close()
    lat = np.asarray(decoder.latencies_s) * 1e3
    if len(lat):
        print(f"{len(lat)} predictions; latency p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms")
    return 0


def _add_online(subparsers) -> None:
    """Register ``neuromer online`` on the ``neuromer`` parser's ``subparsers``."""
    p = subparsers.add_parser(
        "online", help="decode emotion online from an LSL EEG stream",
        description="Decode emotion online: pull EEG from LSL, compute the pipeline's window features on the "
                    "newest window every hop, predict with the pipeline's models and push the predictions to "
                    f"the LSL stream {OUTPUT_STREAM!r}.")
    p.add_argument("--model", required=True, action="append",
                   help="model file from a run (RUN/models/eeg_<target>.skops), or TARGET=PATH; repeat for more")
    p.add_argument("--stream", default="type=EEG", help="EEG stream selector KEY=VALUE (default type=EEG)")
    p.add_argument("--protocol", help="protocol TOML: follow the playing stimulus and show its audio prediction")
    p.add_argument("--markers", help="marker stream selector with --protocol (default type=Markers)")
    p.add_argument("--window-s", type=float, default=1.0, help="window length in seconds (default 1, as offline)")
    p.add_argument("--hop-s", type=float, default=0.1, help="seconds between predictions (default 0.1)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the streams (default 5)")
    p.add_argument("--quiet", action="store_true", help="do not print every prediction")
    p.set_defaults(func=_cmd_online)
