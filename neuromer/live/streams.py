"""Discover LSL streams and watch their rates and dropouts.

:func:`list_streams` is the table ``neuromer streams`` prints; :class:`StreamMonitor` opens an
inlet per stream and reports, per interval, the measured sample rate and the dropouts (time stamp
jumps of more than two sample periods, or no data for more than a second).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._checks import check_positive
from . import _lsl

COLUMNS = ["name", "type", "channel_count", "nominal_srate", "channel_format", "source_id", "hostname", "uid"]
_SILENCE_S = 1.0


def list_streams(timeout: float = 1.0, selectors=None) -> pd.DataFrame:
    """The LSL streams visible on the network.

    Parameters
    ----------
    timeout : float
        Seconds to listen for stream announcements.
    selectors : str | list of str | None
        Only streams matching any ``key=value`` selector (``"type=EEG"``).

    Returns
    -------
    DataFrame
        One row per stream: ``name, type, channel_count, nominal_srate`` (Hz, 0 for irregular
        streams), ``channel_format, source_id, hostname, uid``; sorted by name. Empty (with these
        columns) if none is found.
    """
    import pylsl

    timeout = check_positive(timeout, "timeout")
    parsed = _lsl.parse_selectors(selectors)
    rows = {}
    for info in pylsl.resolve_streams(wait_time=timeout):
        d = _lsl.info_to_dict(info)
        if _lsl.matches(d, parsed):
            rows[d["uid"]] = {k: d[k] for k in COLUMNS}
    table = pd.DataFrame(list(rows.values()), columns=COLUMNS)
    return table.sort_values(["name", "source_id"], kind="stable").reset_index(drop=True)


class StreamMonitor:
    """Measure the sample rate and dropouts of LSL streams.

    Parameters
    ----------
    selectors : str | list of str | None
        Streams to watch (default every visible one).
    timeout : float
        Seconds to wait for the streams.

    Examples
    --------
    >>> mon = StreamMonitor(timeout=1.0)  # doctest: +SKIP
    >>> time.sleep(2); print(mon.poll())  # doctest: +SKIP
    """

    def __init__(self, selectors=None, *, timeout: float = 1.0) -> None:
        import pylsl

        self._inlets = []
        for info in _lsl.resolve(selectors, timeout=check_positive(timeout, "timeout")):
            inlet = pylsl.StreamInlet(info, max_buflen=30, recover=True)
            inlet.open_stream(timeout=timeout)
            self._inlets.append({"info": _lsl.info_to_dict(info), "inlet": inlet, "last_ts": None,
                                 "last_data": time.monotonic(), "silent": False, "samples": 0,
                                 "dropouts": 0})
        self._last_poll = time.monotonic()

    def poll(self) -> pd.DataFrame:
        """Pull what arrived since the last call.

        Returns
        -------
        DataFrame
            One row per stream: ``name, type, nominal_srate, measured_srate`` (Hz, samples over the
            time since the last poll), ``samples`` (total), ``dropouts`` (total), ``receiving`` (data
            in the last second).
        """
        now = time.monotonic()
        span = max(now - self._last_poll, 1e-6)
        self._last_poll = now
        rows = []
        for s in self._inlets:
            srate, n = s["info"]["nominal_srate"], 0
            while True:
                _, ts = s["inlet"].pull_chunk(timeout=0.0, max_samples=4096, as_numpy=True)
                if len(ts) == 0:
                    break
                n += len(ts)
                if srate > 0:
                    # the jump across a silence already counted as a dropout is not counted again
                    prev = ts if s["last_ts"] is None or s["silent"] else np.concatenate([[s["last_ts"]], ts])
                    s["dropouts"] += int(np.sum(np.diff(prev) > 2.0 / srate))
                    s["silent"] = False
                s["last_ts"] = float(ts[-1])
            if n:
                s["last_data"] = now
            elif srate > 0 and not s["silent"] and now - s["last_data"] > _SILENCE_S:
                s["silent"] = True
                s["dropouts"] += 1
            s["samples"] += n
            rows.append({"name": s["info"]["name"], "type": s["info"]["type"], "nominal_srate": srate,
                         "measured_srate": n / span, "samples": s["samples"], "dropouts": s["dropouts"],
                         "receiving": now - s["last_data"] <= _SILENCE_S})
        return pd.DataFrame(rows, columns=["name", "type", "nominal_srate", "measured_srate", "samples",
                                           "dropouts", "receiving"])

    def close(self) -> None:
        """Close the inlets."""
        for s in self._inlets:
            s["inlet"].close_stream()
        self._inlets = []

    def __repr__(self) -> str:
        return f"<StreamMonitor | {len(self._inlets)} streams>"
