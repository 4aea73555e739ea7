"""Protocol runner: play a protocol's stimuli and push its markers to LSL (``neuromer present``).

For each trial :func:`present` pushes, on one LSL string marker stream, exactly the markers
:func:`neuromer.epochs.trials_from_markers` turns into trials (the same events as
:mod:`neuromer.simulate` writes): ``trial_start`` and ``baseline_start`` at the start of the
fixation baseline, ``stimulus_on``/``stimulus_off`` at the audio onset and end, one ``rating``
marker per scale once the participant has answered, ``trial_end`` if the protocol defines it, then
the inter-trial pause.

Times are scheduled against absolute deadlines on the LSL clock (``pylsl.local_clock``), so small
delays do not accumulate over a session. Stimulus markers carry the time the sound reaches the
ears: the time playback was started plus the output device's reported latency plus
``latency_s`` (the rest of the chain, e.g. measured with a microphone or photodiode).

With ``audio_stream`` the sound itself is published too, as a mono LSL ``Audio`` stream stamped on
the same clock as the markers (:mod:`neuromer.live.audio_stream`): record it with the EEG and
``[align] refine_onsets = "<its name>"`` finds every stimulus in it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_option, check_positive
from .._logging import logger
from ..errors import DataFormatError, NeuromerError, ProtocolError
from ..protocol import Protocol, read_protocol
from ._names import AUDIO_STREAM, MARKER_STREAM  # defined there so the command line need not import this module


# ----------------------------------------------------------------------------- audio players
class _NullPlayer:
    """Plays nothing; the stimulus still lasts as long as its audio (exact timing for dry runs)."""

    latency_s = 0.0

    def start(self, stimulus) -> None:
        pass

    def stop(self) -> None:
        pass


class _SoundDevicePlayer:
    """Plays through the default output device with ``sounddevice`` (PortAudio)."""

    def __init__(self) -> None:
        try:
            import sounddevice
        except (ImportError, OSError) as exc:
            raise NeuromerError(f"--audio default needs the 'sounddevice' package and a working PortAudio "
                                f"library ({type(exc).__name__}: {exc}); install it with \"pip install "
                                f"'neuromer[sound]'\", or use --audio null for a silent dry run.") from None
        self._sd = sounddevice
        self.latency_s = 0.0

    def start(self, stimulus) -> None:
        import soundfile as sf

        y, sr = sf.read(stimulus.file, dtype="float32", always_2d=True)
        self._sd.play(y, sr)
        stream = self._sd.get_stream()
        self.latency_s = float(stream.latency) if np.isscalar(stream.latency) else float(stream.latency[-1])

    def stop(self) -> None:
        self._sd.stop()


def _audio_duration_s(stimulus) -> float | None:
    if stimulus.file is None:
        return None
    import soundfile as sf

    try:
        info = sf.info(str(stimulus.file))
    except Exception as exc:  # libsndfile raises RuntimeError/LibsndfileError on bad files
        raise DataFormatError(f"{stimulus.file}: stimulus {stimulus.id!r} is not a readable audio file "
                              f"({type(exc).__name__}: {exc}).") from None
    return info.frames / info.samplerate


# ----------------------------------------------------------------------------- ratings
def read_ratings(path: str | os.PathLike, protocol: Protocol, stimulus_ids: list[str]) -> list[dict[str, float]]:
    """Read the ratings of every trial from a CSV file, validating them all before the session.

    Parameters
    ----------
    path : path-like
        CSV with a ``stimulus_id`` or a ``trial`` column (1-based, in presentation order) and one
        column per rating scale of the protocol (e.g. ``valence, arousal, dominance, liking``).
    protocol : Protocol
        Gives the scales and their range.
    stimulus_ids : list of str
        The stimuli in presentation order.

    Returns
    -------
    list of dict
        Per trial, ``{scale: value}``.

    Raises
    ------
    DataFormatError
        One sentence naming the file and row: missing file, column, trial or stimulus, a value
        that is not a number or outside the scale's range.
    """
    path = Path(path).expanduser()
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: ratings file not found.") from None
    except Exception as exc:  # pandas' parser errors
        raise DataFormatError(f"{path}: not a readable CSV ratings file ({type(exc).__name__}: {exc}).") from None
    table.columns = [str(c).strip() for c in table.columns]
    key = "stimulus_id" if "stimulus_id" in table else "trial" if "trial" in table else None
    if key is None:
        raise DataFormatError(f"{path}: the ratings file needs a 'stimulus_id' or a 'trial' column "
                              f"(columns: {', '.join(table.columns)}).")
    scales = protocol.ratings.scales
    missing = [s for s in scales if s not in table]
    if missing:
        raise DataFormatError(f"{path}: the ratings file has no column for scale(s) {', '.join(missing)}.")
    lo, hi = protocol.ratings.min, protocol.ratings.max
    rows = {}
    for i, r in table.iterrows():
        line = i + 2  # 1-based, after the header line
        k = str(r[key]).strip()
        if key == "trial":
            try:
                k = str(int(float(k)))
            except ValueError:
                raise DataFormatError(f"{path}, line {line}: trial {k!r} is not a number.") from None
        if k in rows:
            raise DataFormatError(f"{path}, line {line}: {key} {k!r} appears twice.")
        values = {}
        for s in scales:
            try:
                v = float(r[s])
            except (TypeError, ValueError):
                v = float("nan")
            if not np.isfinite(v) or not lo <= v <= hi:
                raise DataFormatError(f"{path}, line {line}: {s} rating {r[s]!r} for {key} {k!r} is not a "
                                      f"number from {lo:g} to {hi:g}.")
            values[s] = v
        rows[k] = values
    out = []
    for n, sid in enumerate(stimulus_ids, start=1):
        k = sid if key == "stimulus_id" else str(n)
        if k not in rows:
            raise DataFormatError(f"{path}: no row for {key} {k!r}" + (f" (stimulus {sid!r})." if key == "trial" else "."))
        out.append(rows[k])
    return out


def ask_rating(scale: str, lo: float, hi: float, ask=input) -> float:
    """Ask for one rating until the answer is a number in ``[lo, hi]`` (``ask`` is :func:`input`)."""
    while True:
        answer = ask(f"{scale} ({lo:g}-{hi:g}): ").strip()
        try:
            value = float(answer)
        except ValueError:
            continue
        if np.isfinite(value) and lo <= value <= hi:
            return value


# ----------------------------------------------------------------------------- the runner
def _sleep_until(clock, deadline: float) -> None:
    while True:
        left = deadline - clock()
        if left <= 0:
            return
        time.sleep(min(left, 0.05) if left > 0.002 else 0)


def present(protocol: Protocol | str | os.PathLike, *, audio: str = "null", ratings=None, latency_s: float = 0.0,
            order: list[str] | None = None, n_trials: int | None = None, speed: float = 1.0, ask=input,
            stream_name: str = MARKER_STREAM, wait_for_consumers_s: float = 0.0, outlet=None,
            audio_stream: str | None = None, audio_stream_sfreq: float | None = None) -> pd.DataFrame:
    """Run a protocol: play each stimulus and push the protocol's markers to an LSL outlet.

    Parameters
    ----------
    protocol : Protocol | path-like
        The protocol (or its TOML file / shipped name).
    audio : {"null", "default"}
        ``"default"`` plays through the default sound device (needs ``sounddevice``); ``"null"``
        plays nothing but keeps every duration (dry runs, CI).
    ratings : path-like | None
        CSV of ratings (see :func:`read_ratings`); ``None`` asks on the terminal with ``ask``.
    latency_s : float
        Audio output latency in seconds not reported by the device (added to stimulus markers).
    order : list of str | None
        Stimulus ids in presentation order; default the protocol's order.
    n_trials : int | None
        Present only the first ``n_trials`` trials.
    speed : float
        Divide every duration by this factor (e.g. 20 for a quick dry run).
    ask : callable
        Prompt function for terminal ratings (default :func:`input`); answering is self-paced
        (``timing.rating_s`` applies to ratings read from a file).
    stream_name : str
        Name of the LSL marker stream (type ``"Markers"``).
    wait_for_consumers_s : float
        Wait up to this long for a consumer (a recorder) before the first trial.
    outlet : pylsl.StreamOutlet | None
        Push to this outlet instead of creating one.
    audio_stream : str | None
        Also publish the played sound as an LSL stream of this name (type ``Audio``, mono float32;
        ``neuromer present --audio-stream`` uses ``"neuromer-audio"``), also with ``audio="null"``.
        See :mod:`neuromer.live.audio_stream`.
    audio_stream_sfreq : float | None
        Its rate in Hz; default the sample rate of the first presented stimulus file.

    Returns
    -------
    DataFrame
        The pushed markers: ``timestamp`` (LSL clock, s), ``marker``, ``trial``, ``stimulus_id``.
        With ``audio_stream``, ``.attrs["audio_stream"]`` holds its ``name``, ``sfreq``, ``t0``
        (LSL time of sample 0) and ``samples`` pushed.

    Raises
    ------
    NeuromerError
        ``audio_stream`` names the marker stream or a stream already on the network, or no
        presented stimulus has an audio file; ``DataFormatError`` for a stimulus file that cannot
        be decoded (before the first trial).
    """
    import pylsl

    check_option(audio, ["null", "default"], "audio")
    speed = check_positive(speed, "speed")
    latency_s = check_positive(latency_s, "latency_s", allow_zero=True)
    if not isinstance(protocol, Protocol):
        protocol = read_protocol(protocol)
    ids = list(order) if order is not None else protocol.stimulus_ids
    stimuli = [protocol.stimulus(sid) for sid in ids]  # ProtocolError for an unknown id
    if n_trials is not None:
        if int(n_trials) < 1:
            raise NeuromerError(f"Invalid value for the 'n_trials' parameter: expected >= 1, got {n_trials!r}.")
        stimuli = stimuli[:int(n_trials)]
    if not stimuli:
        raise ProtocolError(f"{protocol._where()}: the protocol lists no stimuli to present.")
    mk = protocol.markers
    given = read_ratings(ratings, protocol, [s.id for s in stimuli]) if ratings is not None else None
    durations = [_audio_duration_s(s) for s in stimuli]
    publisher = None if audio_stream is None else _audio_publisher(
        audio_stream, audio_stream_sfreq, stimuli, outlet.get_info().name() if outlet is not None else stream_name,
        protocol.name)
    player = _SoundDevicePlayer() if audio == "default" else _NullPlayer()

    if outlet is None:
        info = pylsl.StreamInfo(stream_name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
                                f"{stream_name}-{protocol.name}-{os.getpid()}")
        info.desc().append_child_value("protocol", protocol.name)
        outlet = pylsl.StreamOutlet(info)
    if wait_for_consumers_s > 0 and not outlet.wait_for_consumers(float(wait_for_consumers_s)):
        logger.warning("no consumer connected to the marker stream within %g s; starting anyway",
                       wait_for_consumers_s)
    if publisher is not None and wait_for_consumers_s > 0 \
            and not publisher.outlet.wait_for_consumers(float(wait_for_consumers_s)):
        logger.warning("no consumer connected to the audio stream %r within %g s; starting anyway",
                       publisher.name, wait_for_consumers_s)
    clock = pylsl.local_clock
    log: list[dict] = []

    def push(kind, t, trial, sid, **fields):
        if getattr(mk, kind) is None:
            return
        text = mk.format(kind, **fields)
        outlet.push_sample([text], t)
        log.append({"timestamp": t, "marker": text, "trial": trial, "stimulus_id": sid})
        logger.debug("%.4f %s", t, text)

    logger.info("presenting %d trials of %s (audio %s, speed x%g)", len(stimuli), protocol.name, audio, speed)
    if publisher is not None:
        publisher.start()
    try:
        _run_trials(stimuli, durations, protocol, player, publisher, given, push, clock, speed, latency_s, ask,
                    audio)
    finally:
        if publisher is not None:
            samples = publisher.close()
    out = pd.DataFrame(log, columns=["timestamp", "marker", "trial", "stimulus_id"])
    if publisher is not None:
        out.attrs["audio_stream"] = {"name": publisher.name, "sfreq": publisher.sfreq, "t0": publisher.t0,
                                     "samples": samples}
    return out


def _audio_publisher(name, sfreq, stimuli, marker_name: str, protocol_name: str):
    """The :class:`~neuromer.live.audio_stream.AudioPublisher` of ``present(audio_stream=name)``.

    Checks the name and decodes every stimulus once, so a clash or an undecodable file stops the
    session before its first trial rather than in the middle of it.
    """
    import pylsl

    from .audio_stream import AudioPublisher, read_mono

    if not isinstance(name, str) or not name.strip():
        raise NeuromerError(f"Invalid value for the 'audio_stream' parameter: expected a stream name, got {name!r}.")
    if name == marker_name:
        raise NeuromerError(f"audio stream name {name!r} is also the marker stream's name; give the audio "
                            f"stream another name (default {AUDIO_STREAM!r}).")
    clash = pylsl.resolve_byprop("name", name, 1, 0.3)
    if clash:
        raise NeuromerError(f"an LSL stream named {name!r} is already on the network (source_id "
                            f"{clash[0].source_id()!r} on {clash[0].hostname()!r}); a recording could not tell "
                            "them apart: give the audio stream another name.")
    files = list(dict.fromkeys(s.file for s in stimuli if s.file is not None))
    if not files:
        raise NeuromerError("audio stream: no presented stimulus has an audio file.")
    rates = [read_mono(f)[1] for f in files]  # decodes each file once: a bad file fails now
    rate = rates[0] if sfreq is None else check_positive(sfreq, "audio_stream_sfreq")
    return AudioPublisher(name, rate, source_id=f"{name}-{protocol_name}-{os.getpid()}")


def _run_trials(stimuli, durations, protocol, player, publisher, given, push, clock, speed, latency_s, ask,
                audio) -> None:
    mk, tm, sc = protocol.markers, protocol.timing, protocol.ratings
    deadline = clock()
    for n, (stim, dur) in enumerate(zip(stimuli, durations), start=1):
        play_s = tm.stimulus_s if dur is None else min(dur, tm.stimulus_s)
        sound = None
        if publisher is not None and stim.file is not None:  # decoded before the trial starts
            from .audio_stream import read_mono

            sound = read_mono(stim.file, publisher.sfreq)[0]
        _sleep_until(clock, deadline)
        t0 = clock()
        push("trial_start", t0, n, stim.id)
        push("baseline_start", t0, n, stim.id)
        deadline = t0 + tm.baseline_s / speed
        _sleep_until(clock, deadline)
        if stim.file is not None and audio != "null":
            player.start(stim)  # returns once the output stream runs: its first buffer is on its way
        elif audio != "null":
            logger.warning("stimulus %r has no audio file; presenting %g s of silence", stim.id, play_s)
        started = clock()
        onset = started + player.latency_s + latency_s
        if sound is not None:
            publisher.play(sound, onset, int(round(play_s / speed * publisher.sfreq)))
        push("stimulus_on", onset, n, stim.id, stimulus_id=stim.id)
        deadline = started + play_s / speed
        _sleep_until(clock, deadline)
        player.stop()
        push("stimulus_off", onset + play_s / speed, n, stim.id, stimulus_id=stim.id)
        if mk.rating is not None:
            if given is not None:
                deadline += tm.rating_s / speed
                _sleep_until(clock, deadline)
                values = given[n - 1]
            else:
                values = {s: ask_rating(s, sc.min, sc.max, ask) for s in sc.scales}
            for s, v in values.items():
                push("rating", clock(), n, stim.id, scale=s, value=f"{v:g}")
            deadline = max(deadline, clock())
        push("trial_end", clock(), n, stim.id)
        deadline = max(deadline, clock()) + tm.inter_trial_s / speed
        logger.info("trial %d/%d (%s) done", n, len(stimuli), stim.id)
    _sleep_until(clock, deadline)


# ----------------------------------------------------------------------------- command line
