"""Publish the sound ``neuromer present`` plays as an LSL audio stream (``--audio-stream``).

A recorder (``neuromer record``, LabRecorder) then stores the exact sound next to the EEG and the
markers, with no microphone or AUX cable, and ``[align] refine_onsets = "<stream name>"`` finds
each stimulus in it (:mod:`neuromer.onsets`).

The stream is one mono ``float32`` channel of type ``Audio`` at a regular rate (``sfreq``: by
default the sample rate of the first presented stimulus file; other files are resampled to it
with :func:`neuromer.onsets.resample_audio`, which adds no delay; stereo files are averaged).
It runs for the whole session: zeros outside the stimuli, so a recorder sees one continuous
regular stream without gaps. Sample ``i`` is time-stamped ``t0 + i / sfreq`` on the LSL clock
(``pylsl.local_clock``); a stimulus's first sample goes on the grid sample nearest to its onset
(within half a sample, 62.5 µs at 8 kHz), where the onset is the time stamp of its
``stimulus_on`` marker: the moment the samples were handed to the player plus the output latency
(the device's reported latency plus ``latency_s``). Samples are pushed in chunks every
``chunk_s`` once they are ``delay_s`` old, which leaves the presenter time to register a stimulus
before its first sample is due; the stream's time stamps, not the moment of pushing, place it.

With ``speed`` above 1 a stimulus plays for its duration divided by ``speed``, and the stream
holds that much of the sound at its true rate, as a sound card would have played it.
"""

from __future__ import annotations

import threading

import numpy as np

from .._logging import logger
from ..errors import DataFormatError


def read_mono(path, sfreq: float | None = None) -> tuple[np.ndarray, float]:
    """Decode an audio file as mono float32, optionally resampled.

    Parameters
    ----------
    path : path-like
        Audio file soundfile can decode (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1).
    sfreq : float | None
        Output rate in Hz; ``None`` keeps the file's rate.

    Returns
    -------
    y : ndarray, shape (n_samples,), float32
        Channels averaged.
    sfreq : float
        Its rate in Hz.

    Raises
    ------
    DataFormatError
        The file cannot be decoded (the message names it).
    """
    import soundfile as sf

    try:
        y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises RuntimeError/LibsndfileError/TypeError on bad files
        raise DataFormatError(f"{path}: cannot decode the stimulus audio for the audio stream "
                              f"({type(exc).__name__}: {exc}).") from None
    y = y.mean(axis=1)
    if sfreq is None or abs(float(sr) - float(sfreq)) < 1e-9:
        return y.astype(np.float32), float(sr)
    from ..onsets import resample_audio

    return resample_audio(y, float(sr), float(sfreq)).astype(np.float32), float(sfreq)


class AudioPublisher:
    """A continuous mono LSL audio stream fed with the stimuli as they play.

    Parameters
    ----------
    name : str
        LSL stream name (type ``Audio``).
    sfreq : float
        Nominal rate in Hz.
    source_id : str
        LSL source id.
    chunk_s : float
        Seconds between pushes.
    delay_s : float
        Samples are pushed once they are this old (s), so a stimulus registered with
        :meth:`play` up to ``delay_s`` after its onset still goes out whole.
    outlet : pylsl.StreamOutlet | None
        Push to this outlet instead of creating one.
    """

    def __init__(self, name: str, sfreq: float, *, source_id: str, chunk_s: float = 0.02, delay_s: float = 0.1,
                 outlet=None) -> None:
        import pylsl

        self.name, self.sfreq = name, float(sfreq)
        self.chunk_s, self.delay_s = float(chunk_s), float(delay_s)
        if outlet is None:
            info = pylsl.StreamInfo(name, "Audio", 1, self.sfreq, pylsl.cf_float32, source_id)
            ch = info.desc().append_child("channels").append_child("channel")
            ch.append_child_value("label", name)
            ch.append_child_value("type", "Audio")
            ch.append_child_value("unit", "normalized")  # full scale = 1, as the file holds it
            info.desc().append_child_value("content", "the sound handed to the player (neuromer present)")
            outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)
        self.outlet = outlet
        self._clock = pylsl.local_clock
        self._lock = threading.Lock()
        self._segments: list[tuple[int, np.ndarray]] = []  # (first grid sample, samples)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"audio-stream-{name}")
        self.t0: float | None = None
        self.sent = 0

    def start(self) -> AudioPublisher:
        """Start the stream clock (``t0`` = now on the LSL clock) and the pushing thread."""
        self.t0 = self._clock()
        self._thread.start()
        return self

    def play(self, samples: np.ndarray, onset: float, n_play: int | None = None) -> int:
        """Put a stimulus on the stream.

        Parameters
        ----------
        samples : ndarray, shape (n_samples,), float32
            The sound at ``sfreq``.
        onset : float
            LSL time of its first sample (the ``stimulus_on`` marker's time stamp).
        n_play : int | None
            Samples actually played (a stimulus cut short by ``stimulus_s`` or ``speed``).

        Returns
        -------
        int
            The grid index of its first sample.
        """
        i_on = int(round((onset - self.t0) * self.sfreq))
        y = np.asarray(samples, dtype=np.float32)[:None if n_play is None else max(int(n_play), 0)]
        with self._lock:
            if i_on < self.sent:  # the presenter registered it later than delay_s after its onset
                logger.warning("audio stream %r: the first %d samples of a stimulus were due before it was "
                               "registered; they are missing from the stream.", self.name, self.sent - i_on)
            self._segments.append((i_on, y))
        return i_on

    def _push_until(self, due: int) -> None:
        with self._lock:
            a, b = self.sent, due
            if b <= a:
                return
            out = np.zeros(b - a, dtype=np.float32)
            keep = []
            for i_on, y in self._segments:
                lo, hi = max(a, i_on), min(b, i_on + len(y))
                if hi > lo:
                    out[lo - a:hi - a] = y[lo - i_on:hi - i_on]
                if i_on + len(y) > b:
                    keep.append((i_on, y))
            self._segments = keep
            self.sent = b
        stamps = self.t0 + np.arange(a, b) / self.sfreq
        self.outlet.push_chunk(out[:, None], stamps.tolist())

    def _run(self) -> None:
        while not self._stop.wait(self.chunk_s):
            self._push_until(int(np.floor((self._clock() - self.delay_s - self.t0) * self.sfreq)))

    def close(self, linger_s: float = 0.1) -> int:
        """Push everything up to now and close the outlet.

        A session that ended normally waited for its last stimulus to end; one interrupted mid
        stimulus ends its stream now too (nothing is stamped in the future).

        Returns
        -------
        int
            Samples pushed in all.
        """
        self._stop.set()
        self._thread.join(5.0)
        self._push_until(int(np.floor((self._clock() - self.t0) * self.sfreq)))
        threading.Event().wait(linger_s)  # let the last chunks reach the consumers
        self.outlet = None
        return self.sent
