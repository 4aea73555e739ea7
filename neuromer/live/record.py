"""Record LSL streams to an XDF file that survives a crash.

:class:`Recorder` opens one inlet per matching stream (``recover=True``, so a stream that
disappears and comes back with the same source id is picked up again) and, from one loop, pulls
what every inlet has and appends it through :class:`~neuromer.io.xdf.XdfWriter`, which flushes
and fsyncs each chunk: the file always loads (pyxdf, :func:`~neuromer.io.xdf.read_xdf`) up to the
last pull, a fraction of a second before a crash. Like LabRecorder it stores the senders' time
stamps as they are, with a ClockOffset chunk per stream about every 5 s (``time_correction``)
and a Boundary chunk about every 10 s; on a clean stop each stream gets its footer (first/last
time stamp, sample count).

Breaks are logged and counted: a regular stream whose time stamps jump by more than two sample
periods, or which sends nothing for more than a second.
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
from . import _lsl

_SILENCE_S = 1.0  # no data for this long on a regular stream counts as an interruption


class _Stream:
    """One inlet and what has been written from it."""

    def __init__(self, stream_id: int, inlet, info: dict) -> None:
        self.stream_id, self.inlet, self.info = stream_id, inlet, info
        self.srate = info["nominal_srate"]
        self.is_string = info["channel_format"] == "string"
        self.max_pull = max(1024, int(self.srate * 2))
        self.samples, self.first_ts, self.last_ts = 0, None, None
        self.gaps: list[tuple[float, float]] = []  # (time stamp where the break starts, length s)
        self.interruptions, self.silent = 0, False
        self.last_data_at = time.monotonic()
        self.offsets: list[tuple[float, float]] = []
        self.pending_offsets: list[tuple[float, float]] = []

    def pull(self):
        """Everything the inlet holds now: (timestamps (n,), samples (n, ch) | list of rows)."""
        ts_parts, x_parts = [], []
        while True:
            if self.is_string:
                x, ts = self.inlet.pull_chunk(timeout=0.0, max_samples=self.max_pull, as_numpy=False)
            else:
                x, ts = self.inlet.pull_chunk(timeout=0.0, max_samples=self.max_pull, as_numpy=True)
            if len(ts) == 0:
                break
            ts_parts.append(np.asarray(ts, dtype=np.float64))
            x_parts.append(x)
            if len(ts) < self.max_pull:
                break
        if not ts_parts:
            return np.empty(0), None
        ts = np.concatenate(ts_parts)
        if self.is_string:
            return ts, [row for part in x_parts for row in part]
        return ts, np.concatenate(x_parts, axis=0)

    def check_breaks(self, ts: np.ndarray, now: float) -> None:
        name = self.info["name"]
        if len(ts):
            if self.silent:
                logger.warning("LSL stream %r is back after %.1f s without data.", name, now - self.last_data_at)
                self.silent = False
            self.last_data_at = now
            if self.srate > 0:
                prev = ts if self.last_ts is None else np.concatenate([[self.last_ts], ts])
                d = np.diff(prev)
                for i in np.flatnonzero(d > 2.0 / self.srate):
                    self.gaps.append((float(prev[i]), float(d[i])))
                    logger.warning("LSL stream %r: %.3f s gap in the time stamps at %.3f.", name, d[i], prev[i])
        elif self.srate > 0 and not self.silent and now - self.last_data_at > _SILENCE_S:
            self.silent = True
            self.interruptions += 1
            logger.warning("LSL stream %r sent no data for %.1f s (lost? the inlet keeps trying to "
                           "reconnect).", name, now - self.last_data_at)

    def summary(self) -> dict:
        keys = ("name", "type", "source_id", "hostname", "channel_count", "nominal_srate", "channel_format")
        out = {"stream_id": self.stream_id, **{k: self.info[k] for k in keys}}
        out.update(samples=self.samples, first_timestamp=self.first_ts, last_timestamp=self.last_ts,
                   gaps=len(self.gaps), gap_s=float(sum(g for _, g in self.gaps)),
                   interruptions=self.interruptions)
        return out


class Recorder:
    """Record LSL streams into an append-only, crash-safe XDF file.

    Parameters
    ----------
    path : path-like
        The ``.xdf`` file to create; an existing file is never overwritten.
    selectors : str | list of str | None
        Stream selectors such as ``"type=EEG"`` (see :mod:`neuromer.live._lsl`); a stream matching
        any of them is recorded. ``None`` records every visible stream.
    timeout : float
        Seconds to wait for the streams to appear.
    pull_interval_s : float
        Seconds between pulls; each pull appends (and fsyncs) one chunk per stream with data.
    clock_offset_s, boundary_s : float
        Seconds between ClockOffset chunks (per stream) and between Boundary chunks.

    Examples
    --------
    >>> rec = Recorder("sub-01.xdf", ["type=EEG", "type=Markers"]).start()  # doctest: +SKIP
    >>> rec.poll()  # call repeatedly  # doctest: +SKIP
    >>> summary = rec.stop()  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, selectors=None, *, timeout: float = 5.0,
                 pull_interval_s: float = 0.2, clock_offset_s: float = 5.0, boundary_s: float = 10.0) -> None:
        validate_type(path, (str, os.PathLike), "path")
        self.path = Path(path).expanduser()
        self.selectors = _lsl.parse_selectors(selectors)
        self.timeout = check_positive(timeout, "timeout")
        self.pull_interval_s = check_positive(pull_interval_s, "pull_interval_s")
        self.clock_offset_s = check_positive(clock_offset_s, "clock_offset_s")
        self.boundary_s = check_positive(boundary_s, "boundary_s")
        self.streams: list[_Stream] = []
        self._writer = None
        self._t0 = None
        self._next_boundary = 0.0
        self._stop_clock = threading.Event()
        self._clock_thread = None

    def start(self) -> Recorder:
        """Find the streams, create the file and write the stream headers."""
        import pylsl

        from ..io.xdf import XdfWriter

        if self.path.exists():
            raise DataFormatError(f"{self.path}: file exists; refusing to overwrite it.")
        if not self.path.parent.is_dir():
            raise DataFormatError(f"{self.path.parent}: folder not found.")
        infos = _lsl.resolve([f"{k}={v}" for k, v in self.selectors] or None, timeout=self.timeout)
        opened = []
        for info in infos:
            inlet = pylsl.StreamInlet(info, max_buflen=360, recover=True)
            try:
                inlet.open_stream(timeout=self.timeout)
                full = inlet.info(timeout=self.timeout)
            except Exception as exc:  # pylsl raises TimeoutError, LostError, RuntimeError
                logger.warning("Could not open LSL stream %r (%s); not recording it.", info.name(), exc)
                continue
            opened.append((inlet, full))
        if not opened:
            raise _lsl.StreamNotFoundError("None of the LSL streams found could be opened.")
        self._writer = XdfWriter(self.path)
        for sid, (inlet, full) in enumerate(opened, start=1):
            stream = _Stream(sid, inlet, _lsl.info_to_dict(full))
            self._writer.add_stream(sid, _lsl.info_xml(full))
            self.streams.append(stream)
            logger.info("Recording LSL stream %r (%s, %d ch, %g Hz) as stream %d.", stream.info["name"],
                        stream.info["type"], stream.info["channel_count"], stream.srate, sid)
        self._t0 = time.monotonic()
        self._next_boundary = self._t0 + self.boundary_s
        self._stop_clock.clear()
        self._clock_thread = threading.Thread(target=self._measure_clock_offsets, name="neuromer-clock",
                                              daemon=True)
        self._clock_thread.start()
        return self

    def poll(self) -> int:
        """Pull every inlet once and append what arrived; returns the number of samples written."""
        if self._writer is None:
            raise DataFormatError(f"{self.path}: the recorder is not started (call start()).")
        now = time.monotonic()
        total = 0
        for s in self.streams:
            ts, x = s.pull()
            s.check_breaks(ts, now)
            if len(ts):
                self._writer.write_samples(s.stream_id, ts, x)
                s.first_ts = float(ts[0]) if s.first_ts is None else s.first_ts
                s.last_ts = float(ts[-1])
                s.samples += len(ts)
                total += len(ts)
            while s.pending_offsets:  # measured by the clock thread
                collection, offset = s.pending_offsets.pop(0)
                self._writer.write_clock_offset(s.stream_id, collection, offset)
                s.offsets.append((collection, offset))
        if now >= self._next_boundary:
            self._writer.write_boundary()
            self._next_boundary = now + self.boundary_s
        return total

    def _measure_clock_offsets(self) -> None:
        """Thread: ``time_correction`` of every stream about every ``clock_offset_s`` seconds.

        It blocks (about half a second the first time, up to its timeout while a stream is away),
        so it runs beside the pull loop, which only writes the results.
        """
        import pylsl

        while not self._stop_clock.is_set():
            for s in self.streams:
                if s.silent or self._stop_clock.is_set():
                    continue
                try:
                    offset = s.inlet.time_correction(timeout=1.0)
                except Exception as exc:  # TimeoutError while the stream is away
                    logger.debug("time_correction of %r failed: %s", s.info["name"], exc)
                    continue
                # the collection time is on the sender's clock, as LabRecorder writes it
                s.pending_offsets.append((pylsl.local_clock() - offset, offset))
            self._stop_clock.wait(self.clock_offset_s)

    def status(self) -> dict:
        """``elapsed_s`` and per stream ``name, samples, silent``."""
        elapsed = 0.0 if self._t0 is None else time.monotonic() - self._t0
        return {"elapsed_s": elapsed, "streams": [{"name": s.info["name"], "type": s.info["type"],
                                                  "samples": s.samples, "silent": s.silent}
                                                 for s in self.streams]}

    def stop(self) -> dict:
        """Write what is left, the stream footers, and close the file.

        Returns
        -------
        dict
            ``path``, ``duration_s`` (wall clock) and ``streams``: one dict per stream with its
            header fields, ``samples`` written, ``first_timestamp``/``last_timestamp`` (s, sender
            clock), ``gaps`` (count of time stamp jumps > 2 sample periods), ``gap_s`` (their total
            length, s) and ``interruptions`` (times it sent nothing for more than 1 s).
        """
        if self._writer is None:
            raise DataFormatError(f"{self.path}: the recorder is not started (call start()).")
        self._stop_clock.set()
        if self._clock_thread is not None:
            self._clock_thread.join(5)
        time.sleep(0.05)  # samples in flight
        self.poll()
        for s in self.streams:
            if s.samples:
                self._writer.write_footer(s.stream_id, first_timestamp=s.first_ts, last_timestamp=s.last_ts,
                                          sample_count=s.samples, clock_offsets=s.offsets)
            else:
                self._writer.write_footer(s.stream_id, first_timestamp=0.0, last_timestamp=0.0,
                                          sample_count=0, clock_offsets=s.offsets)
        self._writer.close()
        for s in self.streams:
            s.inlet.close_stream()
        summary = {"path": str(self.path), "duration_s": time.monotonic() - self._t0,
                   "streams": [s.summary() for s in self.streams]}
        self._writer = None
        return summary

    def __repr__(self) -> str:
        state = "recording" if self._writer is not None else "stopped"
        n = sum(s.samples for s in self.streams)
        return f"<Recorder | {self.path} | {len(self.streams)} streams, {n} samples, {state}>"


def record(path: str | os.PathLike, selectors=None, duration_s: float | None = None,
           stop_event: threading.Event | None = None, status_callback=None, *, timeout: float = 5.0,
           pull_interval_s: float = 0.2) -> dict:
    """Record LSL streams to ``path`` until ``duration_s`` passes or ``stop_event`` is set.

    Parameters
    ----------
    path : path-like
        New ``.xdf`` file (never overwritten).
    selectors : str | list of str | None
        ``"type=EEG"``, ``"name=Markers"``, ``"source_id=..."``; ``None``: every stream.
    duration_s : float | None
        Recording length in seconds (wall clock); ``None`` until ``stop_event``.
    stop_event : threading.Event | None
        Set it (from a signal handler or another thread) for a clean stop.
    status_callback : callable | None
        Called after every pull with :meth:`Recorder.status`.
    timeout : float
        Seconds to wait for the streams to appear.
    pull_interval_s : float
        Seconds between pulls (and fsynced chunks).

    Returns
    -------
    dict
        See :meth:`Recorder.stop`.
    """
    if duration_s is not None:
        duration_s = check_positive(duration_s, "duration_s")
    if duration_s is None and stop_event is None:
        raise DataFormatError("record() needs duration_s or a stop_event, or it would never stop.")
    stop_event = stop_event or threading.Event()
    rec = Recorder(path, selectors, timeout=timeout, pull_interval_s=pull_interval_s).start()
    try:
        end = None if duration_s is None else time.monotonic() + duration_s
        while not stop_event.is_set():
            rec.poll()
            if status_callback is not None:
                status_callback(rec.status())
            left = rec.pull_interval_s if end is None else min(rec.pull_interval_s, end - time.monotonic())
            if left <= 0 or stop_event.wait(left):
                break
    finally:
        summary = rec.stop()
    for s in summary["streams"]:
        if s["gaps"] or s["interruptions"]:
            logger.warning("LSL stream %r: %d gap(s) totalling %.2f s, %d interruption(s).", s["name"],
                           s["gaps"], s["gap_s"], s["interruptions"])
    return summary


# ------------------------------------------------------------------------------------- command line
