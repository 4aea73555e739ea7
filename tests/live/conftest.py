"""Real LSL outlets on loopback for the live tests.

Every stream gets a unique name and source id, and tests select streams by them, so tests (and
other processes on the machine) publishing at the same time never see each other's streams.
"""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")


class Pusher:
    """Push samples into an outlet in real time from a thread, remembering what was pushed.

    Numeric streams carry a counter (sample ``i``, channel ``c`` holds ``i + c / 100``) so a
    recording can be compared value by value; marker streams push ``"m<i>"`` every ``1 / rate`` s.
    """

    def __init__(self, outlet, *, rate: float, n_channels: int = 1, strings: bool = False,
                 chunk_s: float = 0.02) -> None:
        self.outlet, self.rate, self.n_channels, self.strings = outlet, rate, n_channels, strings
        self.chunk_s = chunk_s
        self.timestamps: list[float] = []
        self.samples: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._count = 0

    def start(self) -> Pusher:
        self._thread.start()
        return self

    def stop(self) -> Pusher:
        self._stop.set()
        self._thread.join(5)
        return self

    def _run(self) -> None:
        start = pylsl.local_clock()
        while not self._stop.is_set():
            due = int((pylsl.local_clock() - start) * self.rate) + 1
            if due > self._count:
                idx = np.arange(self._count, due)
                ts = start + idx / self.rate
                if self.strings:
                    rows = [[f"m{i}"] for i in idx]
                else:
                    rows = (idx[:, None] + np.arange(self.n_channels)[None, :] / 100).astype(np.float32)
                self.outlet.push_chunk(rows if self.strings else rows, ts.tolist())
                self.timestamps += ts.tolist()
                self.samples += list(rows)
                self._count = due
            self._stop.wait(self.chunk_s)


@pytest.fixture
def make_outlet():
    """``make_outlet(type, n_channels, rate, fmt)`` -> (outlet, selector, name); closed afterwards."""
    made = []

    def make(stype="EEG", n_channels=8, rate=256.0, fmt="float32", *, name=None, source_id=None, labels=None):
        tag = uuid.uuid4().hex[:8]
        name = name or f"test-{stype}-{tag}"
        source_id = source_id or f"neuromer-test-{tag}"
        info = pylsl.StreamInfo(name, stype, n_channels, rate, fmt, source_id)
        if labels:
            chans = info.desc().append_child("channels")
            for label in labels:
                ch = chans.append_child("channel")
                ch.append_child_value("label", label)
                ch.append_child_value("type", stype)
                ch.append_child_value("unit", "microvolts")
        outlet = pylsl.StreamOutlet(info)
        made.append(outlet)
        return outlet, f"source_id={source_id}", name

    yield make
    made.clear()
    time.sleep(0.05)


def wait_for_consumers(*outlets, timeout: float = 10.0) -> None:
    for outlet in outlets:
        assert outlet.wait_for_consumers(timeout), "the recorder did not connect in time"
