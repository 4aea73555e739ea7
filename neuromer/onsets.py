"""Audio-exact stimulus onsets: refine marker onsets with the sound the session recorded.

Software markers jitter by 5-80 ms against the sound, and audio output latency is unknown;
temporal response functions (:mod:`neuromer.trf`) need onsets to a few milliseconds. When a
session holds the sound that was played -- an audio LSL stream (``neuromer present`` can publish
one), a BioSemi Erg/AUX channel, a microphone -- :func:`refine_onsets` finds each stimulus in it:

1. the stimulus file is resampled to the recorded channel's rate (``soxr``, linear phase, so no
   delay is added); its first ``match_s`` seconds are the template;
2. the template is cross-correlated with the recording from ``search_s[0]`` to ``search_s[1]``
   around the marker: ``method="waveform"`` (default) whitens the cross-spectrum of the
   band-limited waveforms (GCC-PHAT; Knapp & Carter 1976), which gives one sharp peak where the
   plain correlation of harmonic music repeats at every pitch period; ``method="envelope"``
   correlates their Hilbert envelopes, normalised by both energies, for channels whose filters
   distort the waveform (coarser);
3. the lag of the largest absolute correlation (a microphone or AUX input may invert polarity),
   refined between samples with a parabola through the peak and its neighbours, is the offset of
   the true onset from the marker; the **confidence** is that peak over the largest absolute
   correlation more than ``exclude_s`` away from it (peak against side lobes);
4. a trial whose confidence is below ``min_confidence`` (or whose recording does not cover the
   search span) keeps its marker onset, with a warning naming it.

The trials table gains ``marker_onset_s`` (the marker), ``onset_offset_s`` (true onset minus
marker, s; NaN where kept), ``onset_confidence`` and ``onset_refined`` (bool); ``onset_s`` becomes
the true onset.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._checks import check_option, check_positive
from ._logging import logger
from .errors import DataFormatError, NeuromerError

#: below this rate a recorded sound holds too little of music's spectrum (most of its energy lies
#: above 100 Hz) for its envelope, let alone its waveform, to be matched reliably
MIN_SOUND_SFREQ_HZ = 250.0
REFINE_COLUMNS = ("marker_onset_s", "onset_offset_s", "onset_confidence", "onset_refined")


@dataclass
class RecordedSound:
    """A recorded sound channel on the session's clock.

    Attributes
    ----------
    data : ndarray, shape (n_samples,)
        The samples (any unit).
    times_s : ndarray, shape (n_samples,)
        Sample times in seconds from the session's first sample.
    sfreq : float
        Sampling rate in Hz.
    name : str
        Channel or stream name (for messages).
    """

    data: np.ndarray
    times_s: np.ndarray
    sfreq: float
    name: str

    def __repr__(self) -> str:
        return f"<RecordedSound {self.name!r} | {len(self.data)} samples at {self.sfreq:g} Hz>"


def resample_audio(y: np.ndarray, sr: float, sfreq: float) -> np.ndarray:
    """Band-limited, delay-free resampling of a sound (soxr, high quality).

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
    sr, sfreq : float
        Input and output rates in Hz.

    Returns
    -------
    ndarray, shape (round(n_samples * sfreq / sr),), float64
    """
    import soxr

    y = np.asarray(y, dtype=np.float64)
    if abs(sr - sfreq) < 1e-9:
        return y.copy()
    return np.asarray(soxr.resample(y, sr, sfreq, quality="HQ"), dtype=np.float64)


def sound_envelope(y: np.ndarray, sr: float, sfreq: float) -> np.ndarray:
    """Broadband amplitude envelope of a sound at ``sfreq`` Hz.

    The magnitude of the analytic signal (Hilbert transform), low-passed and resampled to
    ``sfreq`` by :func:`resample_audio` (its anti-alias filter limits the envelope to
    ``sfreq / 2``). This is the "envelope" TRF feature and what the simulator's planted response
    is driven by.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Sound at ``sr`` Hz.
    sr, sfreq : float
        Sound rate and output rate in Hz.

    Returns
    -------
    ndarray, shape (round(n_samples * sfreq / sr),)
        Envelope in the sound's units.
    """
    import scipy.signal

    y = np.asarray(y, dtype=np.float64)
    n_fft = int(2 ** np.ceil(np.log2(max(len(y), 2))))
    env = np.abs(scipy.signal.hilbert(y, N=n_fft)[:len(y)])
    return resample_audio(env, sr, sfreq)


def read_recorded_sound(session, name: str) -> RecordedSound:
    """The recorded sound of a session: a channel of its ``raw`` or a stream of its XDF file.

    Parameters
    ----------
    session : Session
        As read (before resampling: an audio channel is only as good as its rate).
    name : str
        Channel name in ``session.raw`` (case-insensitive), or the name or type of an XDF stream
        of the session's source file (an audio stream is kept at its own rate; see
        :func:`~neuromer.io.xdf.read_xdf`).

    Returns
    -------
    RecordedSound

    Raises
    ------
    NeuromerError
        No such channel or stream (the message lists what there is), or a stream with several
        channels.
    """
    raw = session.raw
    by_lower = {c.lower(): c for c in raw.ch_names}
    if name.lower() in by_lower:
        ch = by_lower[name.lower()]
        data = raw.get_data(picks=[ch])[0]
        return RecordedSound(data, raw.times.copy(), float(raw.info["sfreq"]), ch)
    source = (session.provenance.get("source_files") or [""])[0]
    streams_note = ""
    if source and str(source).lower().endswith((".xdf", ".xdfz", ".xdf.gz")):
        found = _xdf_sound(session, Path(source), name)
        if isinstance(found, RecordedSound):
            return found
        streams_note = f"; streams in {source}: {found}"
    raise NeuromerError(f"align.refine_onsets: no channel or stream named {name!r} "
                        f"(channels: {', '.join(raw.ch_names)}{streams_note}).")


def _xdf_sound(session, path: Path, name: str):
    from .io.xdf import _grid_rate, _load, _matches, _n_samples, _srate, _text

    streams, _ = _load(path, synchronize_clocks=True, handle_clock_resets=True, dejitter_timestamps=True)
    hits = [s for s in streams if _n_samples(s) and _matches(s, name)]
    if not hits:
        return ", ".join(repr(_text(s, "name")) for s in streams) or "none"
    sound = max(hits, key=_srate)
    values = np.asarray(sound["time_series"], dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 1:
        raise NeuromerError(f"{path}: align.refine_onsets stream {name!r} has {values.shape[-1]} channels; "
                            "a sound stream must have one.")
    steps = [s for s in session.provenance.get("steps", []) if s.get("step") == "read_xdf"]
    eeg_name = steps[0].get("eeg_stream") if steps else None
    eeg = [s for s in streams if _n_samples(s) and _text(s, "name") == eeg_name]
    if not eeg:
        raise DataFormatError(f"{path}: cannot find the session's EEG stream {eeg_name!r} to put "
                              f"stream {name!r} on the session's clock.")
    t0 = float(np.min(np.asarray(eeg[0]["time_stamps"], dtype=float)))
    ts = np.asarray(sound["time_stamps"], dtype=float)
    order = np.argsort(ts, kind="stable")
    return RecordedSound(values[order, 0], ts[order] - t0, _grid_rate(ts[order], _srate(sound)),
                         _text(sound, "name"))


def _ncc(seg: np.ndarray, tpl: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``tpl`` at every full-overlap position of ``seg``."""
    import scipy.signal

    tpl = tpl - tpl.mean()
    num = scipy.signal.correlate(seg, tpl, mode="valid", method="fft")
    n = len(tpl)
    c1 = np.concatenate([[0.0], np.cumsum(seg)])
    c2 = np.concatenate([[0.0], np.cumsum(seg ** 2)])
    s1, s2 = c1[n:] - c1[:-n], c2[n:] - c2[:-n]
    var = np.maximum(s2 - s1 ** 2 / n, 0.0)
    den = np.sqrt(var * np.sum(tpl ** 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, 0.0)


def _phat(seg: np.ndarray, tpl: np.ndarray) -> np.ndarray:
    """Phase-transform cross-correlation (GCC-PHAT) of ``tpl`` at every full-overlap position of ``seg``.

    Whitening keeps only the phase of the cross-spectrum, so a pure delay gives one sharp peak
    even for harmonic music, whose plain cross-correlation repeats at its pitch periods.
    Frequencies where the template has no energy (below -60 dB of its peak) are left out.
    """
    n = int(2 ** np.ceil(np.log2(len(seg) + len(tpl))))
    spec_x = np.fft.rfft(seg - seg.mean(), n)
    spec_t = np.fft.rfft(tpl - tpl.mean(), n)
    cross = spec_x * np.conj(spec_t)
    keep = np.abs(spec_t) > 1e-3 * np.abs(spec_t).max()
    white = np.where(keep, cross / np.maximum(np.abs(cross), 1e-300), 0.0)
    return np.fft.irfft(white, n)[:len(seg) - len(tpl) + 1] / max(int(keep.sum()), 1) * (n / 2)


def refine_onsets(trials: pd.DataFrame, sound: RecordedSound, stimuli: Mapping[str, str | os.PathLike], *,
                  search_s: tuple[float, float] = (-0.1, 0.3), match_s: float = 5.0,
                  method: str = "waveform", min_confidence: float = 1.5, exclude_s: float = 0.02) -> pd.DataFrame:
    """Move each trial's onset to where its stimulus starts in the recorded sound.

    Parameters
    ----------
    trials : DataFrame
        A trials table (``trial``, ``stimulus_id``, ``onset_s`` = marker onsets in s).
    sound : RecordedSound
        From :func:`read_recorded_sound`.
    stimuli : mapping of str -> path
        Stimulus id -> audio file (the protocol's stimuli).
    search_s : (float, float)
        Offsets from the marker searched, in s (the sound may start before or after it).
    match_s : float
        Seconds of the stimulus start used as the template.
    method : ``"waveform"`` | ``"envelope"``
        Match the band-limited waveforms (exact; default) or their envelopes.
    min_confidence : float
        Peak over largest side lobe below which a trial keeps its marker onset (warning).
    exclude_s : float
        Half-width in s of the main lobe left out of the side-lobe search.

    Returns
    -------
    DataFrame
        A copy of ``trials`` with ``onset_s`` refined and the columns ``marker_onset_s``,
        ``onset_offset_s``, ``onset_confidence``, ``onset_refined``.

    Raises
    ------
    NeuromerError
        The sound is sampled below :data:`MIN_SOUND_SFREQ_HZ`, a stimulus id has no audio file,
        or the search span is empty.
    """
    from .audio.features import load_audio

    method = check_option(method, ["waveform", "envelope"], "method")
    match_s = check_positive(match_s, "match_s")
    lo_s, hi_s = (float(v) for v in search_s)
    if not hi_s > lo_s:
        raise NeuromerError(f"refine_onsets: 'search_s' must be (earliest, latest) with latest > earliest, "
                            f"got {search_s!r}.")
    fs = float(sound.sfreq)
    if not fs >= MIN_SOUND_SFREQ_HZ:
        raise NeuromerError(f"align.refine_onsets: sound channel {sound.name!r} is sampled at {fs:g} Hz; "
                            f"matching the sound needs >= {MIN_SOUND_SFREQ_HZ:g} Hz.")
    x = np.asarray(sound.data, dtype=np.float64)
    if method == "envelope":
        x = sound_envelope(x, fs, fs)
    templates: dict[str, np.ndarray] = {}
    out = trials.copy()
    marker = out["onset_s"].to_numpy(float).copy()
    offsets = np.full(len(out), np.nan)
    conf = np.full(len(out), np.nan)
    excl = max(1, int(round(exclude_s * fs)))
    for i, (_, row) in enumerate(out.iterrows()):
        sid = row["stimulus_id"]
        if sid not in templates:
            if sid not in stimuli:
                raise NeuromerError(f"align.refine_onsets: trial {row['trial']}: stimulus {sid!r} has no audio "
                                    "file in the protocol.")
            y, sr = load_audio(stimuli[sid], sr=None)
            tpl = resample_audio(y, sr, fs)[:int(round(match_s * fs))]
            templates[sid] = sound_envelope(tpl, fs, fs) if method == "envelope" else tpl
        tpl = templates[sid]
        i0 = int(np.searchsorted(sound.times_s, marker[i] + lo_s))
        i1 = int(np.searchsorted(sound.times_s, marker[i] + hi_s)) + len(tpl)
        where = f"trial {row['trial']} (stimulus {sid!r})"
        if i0 <= 0 and sound.times_s[0] > marker[i] + lo_s or i1 > len(x):
            _warn(f"align.refine_onsets: {where}: the recorded sound {sound.name!r} does not cover "
                  f"the search span; keeping the marker onset.")
            continue
        r = _ncc(x[i0:i1], tpl) if method == "envelope" else _phat(x[i0:i1], tpl)
        a = np.abs(r)
        k = int(np.argmax(a))
        side = np.concatenate([a[:max(k - excl, 0)], a[k + excl + 1:]])
        conf[i] = a[k] / max(float(side.max()) if len(side) else 0.0, 1e-12)
        if conf[i] < min_confidence or not np.isfinite(conf[i]):
            _warn(f"align.refine_onsets: {where}: weak match in {sound.name!r} (confidence {conf[i]:.2f} "
                  f"< {min_confidence:g}); keeping the marker onset.")
            continue
        frac = 0.0
        if 0 < k < len(a) - 1:  # parabola through the peak and its neighbours
            y0, y1, y2 = a[k - 1], a[k], a[k + 1]
            den = y0 - 2 * y1 + y2
            frac = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5)) if den < 0 else 0.0
        t_lo = sound.times_s[i0 + k]
        t_hi = sound.times_s[min(i0 + k + 1, len(sound.times_s) - 1)]
        onset = t_lo + frac * (t_hi - t_lo if t_hi > t_lo else 1.0 / fs)
        offsets[i] = onset - marker[i]
    refined = np.isfinite(offsets)
    out["marker_onset_s"] = marker
    out["onset_offset_s"] = offsets
    out["onset_confidence"] = conf
    out["onset_refined"] = refined
    out["onset_s"] = np.where(refined, marker + np.nan_to_num(offsets), marker)
    if refined.any():
        logger.info("refined %d of %d onsets from %r: mean offset %.1f ms (SD %.1f ms)", refined.sum(),
                    len(out), sound.name, 1e3 * np.nanmean(offsets), 1e3 * np.nanstd(offsets))
    return out


def refine_session_onsets(session, name: str, **kwargs):
    """Refine a session's trial onsets in place from its recorded sound (see :func:`refine_onsets`).

    Parameters
    ----------
    session : Session
        With a trials table and a protocol listing the stimulus audio files.
    name : str
        Channel or stream holding the sound (``align.refine_onsets``).
    **kwargs
        Passed to :func:`refine_onsets`.

    Returns
    -------
    Session
        The same session, its ``trials`` refined and a ``refine_onsets`` provenance step added.
    """
    if session.protocol is None:
        raise NeuromerError("align.refine_onsets needs the protocol (its stimulus audio files).")
    stimuli = {s.id: s.file for s in session.protocol.stimuli if s.file is not None}
    sound = read_recorded_sound(session, name)
    session.trials = refine_onsets(session.trials, sound, stimuli, **kwargs)
    off = session.trials["onset_offset_s"]
    session.add_step("refine_onsets", sound=sound.name, sound_sfreq=sound.sfreq,
                     n_refined=int(session.trials["onset_refined"].sum()),
                     mean_offset_s=float(off.mean()) if off.notna().any() else None)
    return session


def _warn(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
