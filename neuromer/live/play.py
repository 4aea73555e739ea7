"""Replay recordings as LSL streams in real time (or faster/slower).

:func:`play` publishes one LSL outlet per stream and pushes the samples in small chunks (every
``chunk_s``, 20 ms by default) with time stamps ``start + (t - t0) / speed`` on the local LSL
clock, where ``t`` is the sample's original time stamp and ``t0`` the earliest in the file.

Inputs:

- an XDF file: every stream, marker strings included, with its original name, type, nominal
  rate, format and ``desc`` (channel labels, types, units); clocks synchronised as pyxdf does;
- a simulated study folder (``protocol.toml`` + ``xdf/``): one subject's XDF (``subject``);
- any continuous recording neuromer reads (DEAP BDF, EDF, BDF, FIF, BrainVision...): its
  channels as one ``EEG``-type stream (EEG/EOG/EMG/ECG in microvolts) and its annotations as a
  ``Markers`` string stream;
- a trials file (DEAP ``.dat``/``.mat``, ``-epo.fif``): the trials back to back, with the default
  marker vocabulary (``trial_start``, ``stim_on/<id>``, ``stim_off/<id>``, ``rating/<scale>/<value>``).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

from .._checks import check_positive, validate_type
from .._logging import logger
from ..errors import DataFormatError

_MICROVOLT_TYPES = ("eeg", "eog", "emg", "ecg")
_LSL_TYPE = {"eeg": "EEG", "eog": "EOG", "emg": "EMG", "ecg": "ECG", "gsr": "GSR", "resp": "RESP",
             "bio": "PPG", "temperature": "TEMP", "misc": "MISC", "stim": "STIM"}


class _Track:
    """One stream to publish: header, description, time stamps (s from t0) and samples."""

    def __init__(self, *, name, type, nominal_srate, channel_format, source_id, ts, data, desc=None,
                 channels=None) -> None:
        self.name, self.type, self.srate, self.fmt = name, type, float(nominal_srate), channel_format
        self.source_id, self.desc, self.channels = source_id, desc, channels
        self.ts = np.asarray(ts, dtype=np.float64)
        self.data = data  # (n, ch) array, or list of rows of str
        self.n_channels = len(data[0]) if len(self.ts) else len(channels or []) or 1
        self.outlet = None
        self.cycle, self.idx, self.pushed = 0, 0, 0

    def open(self, prefix: str, source: str, speed: float) -> None:
        import pylsl

        info = pylsl.StreamInfo(prefix + self.name, self.type, self.n_channels, self.srate, self.fmt,
                                (prefix + self.source_id) if self.source_id else "")
        root = info.desc()
        if self.desc:
            _copy_desc(root, self.desc)
        elif self.channels:
            chans = root.append_child("channels")
            for ch in self.channels:
                node = chans.append_child("channel")
                for key, value in ch.items():
                    node.append_child_value(key, str(value))
        playback = root.append_child("neuromer_playback")
        playback.append_child_value("source", source)
        playback.append_child_value("speed", repr(speed))
        self.outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=360)


def _copy_desc(elem, node) -> None:
    """Copy a pyxdf ``desc`` dict (values are lists of dicts or strings) into an LSL XML element."""
    if not isinstance(node, dict):
        return
    for key, values in node.items():
        for v in values if isinstance(values, list) else [values]:
            if isinstance(v, dict):
                _copy_desc(elem.append_child(key), v)
            else:
                elem.append_child_value(key, "" if v is None else str(v))


def _first(info: dict, key: str, default: str = "") -> str:
    v = info.get(key, [default])
    v = v[0] if isinstance(v, list) and v else v
    return default if v is None else str(v)


def _xdf_tracks(path: Path) -> list[_Track]:
    from ..io.xdf import _load

    streams, _ = _load(path, synchronize_clocks=True, handle_clock_resets=True, dejitter_timestamps=False)
    tracks = []
    for s in streams:
        info = s["info"]
        fmt = _first(info, "channel_format", "float32")
        ts = np.asarray(s["time_stamps"], dtype=np.float64)
        order = np.argsort(ts, kind="stable")
        if fmt == "string":
            data = [list(s["time_series"][i]) for i in order]
        else:
            data = np.asarray(s["time_series"]).reshape(len(ts), -1)[order] if len(ts) else np.empty((0, 1))
        desc = info.get("desc", [None])
        desc = desc[0] if isinstance(desc, list) and desc else desc
        tracks.append(_Track(name=_first(info, "name", "stream"), type=_first(info, "type"),
                             nominal_srate=float(_first(info, "nominal_srate", "0") or 0), channel_format=fmt,
                             source_id=_first(info, "source_id"), ts=ts[order], data=data,
                             desc=desc if isinstance(desc, dict) else None,
                             channels=[{}] * int(_first(info, "channel_count", "1"))))
    return tracks


def _marker_track(name: str, onsets, texts, source_id: str) -> _Track:
    order = np.argsort(np.asarray(onsets, float), kind="stable")
    return _Track(name=name, type="Markers", nominal_srate=0.0, channel_format="string", source_id=source_id,
                  ts=np.asarray(onsets, float)[order], data=[[str(texts[i])] for i in order])


def _signal_track(name, data, sfreq, ch_names, ch_types, source_id) -> _Track:
    """(n_channels, n_times) in MNE units (volts for EEG-like channels) -> one EEG-type track."""
    scale = np.array([1e6 if t in _MICROVOLT_TYPES else 1.0 for t in ch_types])
    channels = [{"label": n, "type": _LSL_TYPE.get(t, t.upper()), "unit": "microvolts" if t in _MICROVOLT_TYPES else ""}
                for n, t in zip(ch_names, ch_types)]
    values = (np.asarray(data, dtype=np.float64) * scale[:, None]).T.astype(np.float32)
    return _Track(name=name, type="EEG", nominal_srate=sfreq, channel_format="float32", source_id=source_id,
                  ts=np.arange(values.shape[0]) / sfreq, data=values, channels=channels)


def _session_tracks(path: Path) -> list[_Track]:
    from ..io import read_session

    session = read_session(path)
    raw = session.raw
    types = raw.get_channel_types()
    picks = [i for i, t in enumerate(types) if t != "stim"]
    tracks = [_signal_track(path.stem, raw.get_data(picks=picks), raw.info["sfreq"],
                            [raw.ch_names[i] for i in picks], [types[i] for i in picks], f"neuromer-play-{path.stem}")]
    m = session.markers
    tracks.append(_marker_track(f"{path.stem}-Markers", m.onset_s.to_numpy(), list(m.description),
                                f"neuromer-play-{path.stem}-markers"))
    return tracks


def _trials_tracks(path: Path) -> list[_Track]:
    from ..protocol import Markers
    from ..io import read_trials

    trials = read_trials(path)
    data = np.asarray(trials.data, dtype=np.float64)  # (n_trials, n_channels, n_samples)
    n_trials, n_ch, n_s = data.shape
    sf, span = float(trials.sfreq), n_s / float(trials.sfreq)
    # Trials keep EEG in microvolts: undo that so _signal_track's volts -> microvolts is exact
    scale = np.array([1e-6 if t in _MICROVOLT_TYPES else 1.0 for t in trials.ch_types])
    cont = (data * scale[None, :, None]).transpose(1, 0, 2).reshape(n_ch, n_trials * n_s)
    track = _signal_track(path.stem, cont, sf, list(trials.ch_names), list(trials.ch_types),
                          f"neuromer-play-{path.stem}")
    mk, meta = Markers(), trials.metadata.reset_index(drop=True)
    onsets, texts = [], []
    for k in range(n_trials):
        t0, sid = k * span, str(meta["stimulus_id"][k]) if "stimulus_id" in meta else str(k + 1)
        off = t0 + span - 1.0 / sf
        onsets += [t0, t0, t0 + trials.baseline_s, off]
        texts += ["trial_start", "baseline_start", mk.format("stimulus_on", stimulus_id=sid),
                  mk.format("stimulus_off", stimulus_id=sid)]
        for j, scale_name in enumerate(("valence", "arousal", "dominance", "liking")):
            value = trials.labels[k, j] if trials.labels is not None and trials.labels.shape[1] > j else np.nan
            if np.isfinite(value):
                onsets.append(off)
                texts.append(mk.format("rating", scale=scale_name, value=f"{value:g}"))
    return [track, _marker_track(f"{path.stem}-Markers", onsets, texts, f"neuromer-play-{path.stem}-markers")]


def _resolve_input(path: Path, subject: str | None) -> Path:
    """A study folder -> one subject's XDF file."""
    if not path.is_dir():
        return path
    files = sorted((path / "xdf").glob("*.xdf")) if (path / "xdf").is_dir() else sorted(path.glob("*.xdf"))
    files = [f for f in files if f.is_file()]
    if not files:
        raise DataFormatError(f"{path}: folder has no XDF recordings (expected xdf/sub-XX.xdf).")
    if subject is None:
        return files[0]
    for f in files:
        if f.stem in (f"sub-{subject}", str(subject)):
            return f
    raise DataFormatError(f"{path}: no recording of subject {subject!r} (found {', '.join(f.stem for f in files)}).")


def load_tracks(input: str | os.PathLike, *, subject: str | None = None) -> list[_Track]:
    """The streams :func:`play` would publish from ``input`` (see the module docstring)."""
    from ..io import is_trials_file

    validate_type(input, (str, os.PathLike), "input")
    path = Path(input).expanduser()
    if not path.exists():
        raise DataFormatError(f"{path}: file not found.")
    path = _resolve_input(path, subject)
    if path.name.lower().endswith((".xdf", ".xdfz", ".xdf.gz")):
        tracks = _xdf_tracks(path)
    elif is_trials_file(path):
        tracks = _trials_tracks(path)
    else:
        tracks = _session_tracks(path)
    if not any(len(t.ts) for t in tracks):
        raise DataFormatError(f"{path}: no samples to play.")
    return tracks


def play(input: str | os.PathLike, speed: float = 1.0, loop: bool = False, duration_s: float | None = None,
         stop_event: threading.Event | None = None, name_prefix: str = "", *, subject: str | None = None,
         chunk_s: float = 0.02, wait_for_consumers_s: float = 0.0) -> dict:
    """Publish a recording as LSL streams in real time.

    Parameters
    ----------
    input : path-like
        XDF file, simulated study folder, continuous recording or trials file (module docstring).
    speed : float
        Playback speed: 2.0 plays twice as fast (time stamps advance twice as fast as well).
    loop : bool
        Start again from the beginning after the end (until ``duration_s`` or ``stop_event``).
    duration_s : float | None
        Stop after this many seconds of wall-clock time.
    stop_event : threading.Event | None
        Set it to stop.
    name_prefix : str
        Prepended to every stream name and source id (to tell replays from live streams).
    subject : str | None
        Subject to play from a study folder (default: the first one).
    chunk_s : float
        Seconds between pushes.
    wait_for_consumers_s : float
        Wait up to this many seconds for every outlet to have a consumer (an inlet) before starting,
        so a recorder started first misses nothing.

    Returns
    -------
    dict
        ``input`` (the file played), ``speed``, ``duration_s`` (wall clock), ``loops`` (complete
        passes) and ``streams`` (``name``, ``type``, ``samples`` pushed).
    """
    import pylsl

    speed = check_positive(speed, "speed")
    chunk_s = check_positive(chunk_s, "chunk_s")
    if duration_s is not None:
        duration_s = check_positive(duration_s, "duration_s")
    path = Path(input).expanduser() if isinstance(input, (str, os.PathLike)) else input
    played = _resolve_input(path, subject) if isinstance(path, Path) and path.is_dir() else path
    tracks = load_tracks(input, subject=subject)
    t0 = min(t.ts[0] for t in tracks if len(t.ts))
    span = 0.0
    for t in tracks:
        t.ts = t.ts - t0
        if len(t.ts):
            span = max(span, t.ts[-1] + (1.0 / t.srate if t.srate > 0 else 0.0))
        t.open(name_prefix, str(played), speed)
    span = span if span > 0 else 1.0  # a file of one instant: loop it once a second
    stop_event = stop_event or threading.Event()
    if wait_for_consumers_s > 0:
        deadline = time.monotonic() + wait_for_consumers_s
        for t in tracks:
            if not t.outlet.wait_for_consumers(max(0.0, deadline - time.monotonic())):
                logger.warning("No consumer for LSL stream %r within %g s; playing anyway.", t.name,
                               wait_for_consumers_s)
    logger.info("Playing %s: %d stream(s), %.1f s at speed %g.", played, len(tracks), span, speed)
    start_wall = time.monotonic()
    start = pylsl.local_clock() + 0.05
    loops, done = 0, False
    try:
        while not stop_event.is_set():
            now_rel = (pylsl.local_clock() - start) * speed
            done = True
            for t in tracks:
                while len(t.ts):
                    j = int(np.searchsorted(t.ts, now_rel - t.cycle * span, side="right"))
                    if j > t.idx:
                        stamps = start + (t.cycle * span + t.ts[t.idx:j]) / speed
                        t.outlet.push_chunk(t.data[t.idx:j], stamps.tolist())
                        t.pushed += j - t.idx
                        t.idx = j
                    if t.idx < len(t.ts) or not loop:
                        break
                    t.cycle, t.idx = t.cycle + 1, 0
                done = done and t.idx >= len(t.ts)
            loops = min(t.cycle for t in tracks if len(t.ts))
            if done or (duration_s is not None and time.monotonic() - start_wall >= duration_s):
                break
            stop_event.wait(chunk_s)
        if done:
            loops += 1
            time.sleep(0.1)  # let the last chunks reach the consumers before the outlets go away
    finally:
        for t in tracks:
            t.outlet = None  # closes the outlet: consumers see the stream end
    return {"input": str(played), "speed": speed, "duration_s": time.monotonic() - start_wall, "loops": loops,
            "streams": [{"name": name_prefix + t.name, "type": t.type, "samples": t.pushed} for t in tracks]}
