"""Frame-level music features, each with its frame times.

One magnitude STFT (``n_fft=2048``, ``hop_length=512`` at 22.05 kHz: 93 ms frames every 23 ms) feeds
every spectral feature, so a clip is transformed once. Everything is computed with librosa:

=====================  ==========================================================================
name                   meaning (unit)
=====================  ==========================================================================
``rms_db``             frame RMS level (dB re full scale)
``zcr``                zero-crossing rate (crossings per sample)
``centroid_hz``        spectral centroid, "brightness" (Hz)
``bandwidth_hz``       spectral bandwidth (Hz)
``rolloff_hz``         frequency below which 85 % of the energy lies (Hz)
``flatness``           spectral flatness (0 tonal .. 1 noise-like)
``contrast_0..6``      spectral contrast per octave band (dB)
``flux``               spectral flux / novelty: onset strength of the log-mel spectrogram
``entropy``            spectral entropy, normalised to 0..1
``mfcc_0..12``         mel-frequency cepstral coefficients; ``dmfcc_*`` their deltas
``chroma_C..B``        constant-Q chroma (pitch-class energy, max-normalised per frame)
``harmonic_change``    harmonic change detection function (Harte, Sandler & Gasser 2006): distance
                       between tonal centroids (tonnetz) of neighbouring frames
``hp_ratio_db``        harmonic / percussive energy ratio after median-filter HPSS (dB)
``tempo_bpm``          local tempo from the tempogram (beats per minute)
``pulse_clarity``      height of the tempogram's autocorrelation peak at that tempo (0..1;
                       Lartillot et al. 2008 use the same idea)
``roughness`` ...      ``roughness``, ``inharmonicity``, ``crest_db``, ``tonnetz_0..5``,
                       ``local_key_clarity``, ``local_mode_strength``: see
                       :mod:`neuromer.audio._timbre_stats`
=====================  ==========================================================================

Key and mode, tempo stability and onset rate are properties of a stretch of music rather than of
a frame; :mod:`neuromer.audio.summary` computes them per window and per clip from these frames
(:func:`key_mode`, :func:`onset_times`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._checks import check_file, check_positive
from .._logging import logger
from ..errors import DataFormatError

#: Analysis sampling rate (Hz), FFT size and hop (samples) used throughout.
SR = 22050
N_FFT = 2048
HOP_LENGTH = 512
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# Key profiles, C major / C minor: how often each pitch class (C..B) sounds in pieces in that key,
# from Albrecht & Shanahan (2013), "The use of large corpora to train a new type of key-finding
# algorithm: an improved treatment of the minor mode", Music Perception 31(1), 59-67. They replace
# Krumhansl & Kessler's (1982) probe-tone profiles, which on audio chroma read minor music as its
# relative or parallel major (measured in bench/key_mode.py).
_KEY_MAJOR = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081])
_KEY_MINOR = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])
_TEMPO_RANGE_BPM = (40.0, 240.0)
_PROFILES = np.array([np.roll(_KEY_MAJOR, k) for k in range(12)] + [np.roll(_KEY_MINOR, k) for k in range(12)])
_PROFILES_Z = (_PROFILES - _PROFILES.mean(1, keepdims=True)) / _PROFILES.std(1, keepdims=True)


def load_audio(source, sr: int | None = SR) -> tuple[np.ndarray, int]:
    """Read an audio file (or take an array) as mono float32 at ``sr`` Hz.

    Parameters
    ----------
    source : path-like | ndarray, shape (n_samples,) | (n_channels, n_samples) | (n_samples, n_channels)
        An audio file soundfile or librosa can read (WAV, FLAC, OGG; MP3 where the backend
        allows) or samples. For a 2-D array the shorter axis is taken as channels.
    sr : int | None
        Target rate in Hz; ``None`` keeps the file's rate (an array needs a tuple ``(y, sr)``).

    Returns
    -------
    y : ndarray, shape (n_samples,), float32
        Mono signal (channels averaged).
    sr : int
        Its sampling rate in Hz.
    """
    import librosa

    if isinstance(source, tuple) and len(source) == 2:
        y, file_sr = np.asarray(source[0]), int(source[1])
        name = "audio array"
    elif isinstance(source, (str, os.PathLike)):
        path = check_file(source, "audio file")
        name = str(path)
        y, file_sr = _read_file(path)
    else:
        raise DataFormatError("Audio must be a file path or a (samples, sample_rate) tuple, got "
                              f"{type(source).__name__}.")
    if y.ndim == 2 and y.shape[1] == 2 and y.shape[0] > 2 and np.issubdtype(y.dtype, np.floating):
        # stereo as read from a file: numpy's mean over a length-2 inner axis is slow (~40 ms for
        # 30 s); this is the same sum and division, so the same samples bit for bit
        y = (y[:, 0] + y[:, 1]) / 2
    elif y.ndim == 2:
        y = y.mean(axis=int(np.argmin(y.shape)))
    if y.ndim != 1:
        raise DataFormatError(f"{name}: expected mono or multichannel samples, got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.number):
        raise DataFormatError(f"{name}: samples must be numbers, got dtype {y.dtype}.")
    if np.issubdtype(y.dtype, np.integer):
        y = y / float(np.iinfo(y.dtype).max)
    y = y.astype(np.float32, copy=False)
    if not np.all(np.isfinite(y)):
        raise DataFormatError(f"{name}: {int(np.sum(~np.isfinite(y)))} samples are NaN or infinite.")
    if y.size == 0:
        raise DataFormatError(f"{name}: the audio is empty.")
    if sr is not None and file_sr != sr:
        y = librosa.resample(y, orig_sr=file_sr, target_sr=int(sr), res_type="soxr_hq")
        file_sr = int(sr)
    return y, file_sr


def _read_file(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    # libmpg123 prints "Note: Illegal Audio-MPEG-Header..." straight to the terminal for a file that
    # is no MPEG stream: hush it there only, so a corrupt MP3 reads as the one-line error below
    suspect = path.suffix.lower() == ".mp3" and not _has_mpeg_frames(path)
    with _quiet_stderr() if suspect else contextlib.nullcontext():
        try:
            y, sr = sf.read(path, dtype="float32", always_2d=False)
        except Exception:  # soundfile cannot read it (e.g. MP3 on an old libsndfile): try audioread
            pass
        else:
            y = np.asarray(y)
            _check_wav_length(path, len(y), int(sr))
            return y, int(sr)
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():  # librosa warns that it falls back to audioread
                warnings.simplefilter("ignore")
                y, sr = librosa.load(path, sr=None, mono=False)
            return np.asarray(y), int(sr)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc).strip() else (
                "empty file" if path.stat().st_size == 0 else
                "corrupt, truncated or not audio: no decoder could read it")
            raise DataFormatError(f"{path}: not a readable audio file ({detail}).") from None


def _has_mpeg_frames(path: Path, search_bytes: int = 1 << 16) -> bool:
    """Whether two consecutive MPEG-1/2/2.5 Layer III frame headers sit near the start of the file
    (after an ID3v2 tag). Only used to decide whether the decoder's chatter should be hushed."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(10)
            start = 0
            if head[:3] == b"ID3" and len(head) == 10:  # syncsafe tag size, 7 bits a byte
                start = 10 + sum((head[6 + k] & 0x7F) << (21 - 7 * k) for k in range(4))
            fh.seek(start)
            data = fh.read(search_bytes)
    except OSError:
        return False
    rates = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
    kbps_v1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
    kbps_v2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)

    def frame_length(i: int) -> int:
        b1, b2 = data[i + 1], data[i + 2]
        version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
        bitrate, rate, pad = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
        if version == 1 or layer != 1 or bitrate in (0, 15) or rate == 3:
            return 0
        kbps = (kbps_v1 if version == 3 else kbps_v2)[bitrate]
        return (144 if version == 3 else 72) * kbps * 1000 // rates[version][rate] + pad

    for i in range(len(data) - 4):
        if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0:
            n = frame_length(i)
            j = i + n
            if n and j + 4 <= len(data) and data[j] == 0xFF and data[j + 1] & 0xE0 == 0xE0 and frame_length(j):
                return True
    return False


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null for the duration (C libraries write there directly)."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _wav_declared_frames(path: Path) -> tuple[int, int] | None:
    """(frames the RIFF WAV header declares, frames the file holds), or None if not a plain WAV.

    libsndfile silently shortens a WAV whose ``data`` chunk is cut off (a copy interrupted, a
    recorder killed), so the header is read here: a 5 s header over 0.02 s of samples is reported.
    """
    import struct

    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = None
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(min(csize, 16))
                    if len(fmt) < 16:
                        return None
                    block_align = struct.unpack("<H", fmt[12:14])[0]
                    fh.seek(csize - 16 + (csize & 1), 1)
                elif cid == b"data":
                    # 0 and 0xFFFFFFFF mark a length the writer never filled in (streaming writers)
                    if not block_align or csize in (0, 0xFFFFFFFF):
                        return None
                    held = max(0, size - fh.tell())
                    return csize // block_align, min(csize, held) // block_align
                else:
                    fh.seek(csize + (csize & 1), 1)
    except OSError:
        return None


def _check_wav_length(path: Path, n_read: int, sr: int) -> None:
    frames = _wav_declared_frames(path) if path.suffix.lower() in (".wav", ".wave") else None
    if frames is None:
        return
    declared, held = frames
    if held < declared:
        logger.warning("%s: the WAV header says %.3g s of audio but the file holds %.3g s (truncated?): "
                       "analysing the %.3g s present.", path, declared / sr, held / sr, n_read / sr)


@dataclass(frozen=True)
class FrameFeatures:
    """Frame-level features of one clip.

    Attributes
    ----------
    times : ndarray, shape (n_frames,)
        Frame centre times in seconds.
    values : dict of str -> ndarray, shape (n_frames,)
        One curve per feature (see the module docstring for names and units).
    duration_s : float
        Clip length in seconds.
    onsets_s : ndarray
        Detected note/event onset times in seconds.
    tempogram : ndarray, shape (n_lags, n_frames)
        Autocorrelation tempogram (normalised, lag 0 = 1); ``tempogram_bpm`` gives each lag's tempo.
    """

    times: np.ndarray
    values: dict
    duration_s: float
    sr: int
    hop_length: int
    onsets_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    tempogram: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    tempogram_bpm: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def names(self) -> list[str]:
        return list(self.values)

    def matrix(self) -> np.ndarray:
        """All curves stacked, shape (n_features, n_frames), in :attr:`names` order."""
        return np.vstack([self.values[k] for k in self.values])

    def __repr__(self) -> str:
        return (f"<FrameFeatures | {len(self.values)} features x {len(self.times)} frames "
                f"({self.duration_s:.1f} s)>")


def frame_features(y: np.ndarray, sr: int = SR, *, hop_length: int = HOP_LENGTH,
                   n_fft: int = N_FFT, timings: dict | None = None) -> FrameFeatures:
    """Compute every frame-level feature of a mono signal.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono signal (see :func:`load_audio`).
    sr : int
        Sampling rate in Hz.
    hop_length, n_fft : int
        STFT hop and size in samples.
    timings : dict | None
        If given, filled with the seconds spent per feature family (``stft``, ``spectral``,
        ``mfcc``, ``chroma``, ``hpss``, ``rhythm``), for benchmarks.

    Returns
    -------
    FrameFeatures

    Examples
    --------
    >>> y, sr = load_audio("stim01.wav")  # doctest: +SKIP
    >>> ff = frame_features(y, sr)        # doctest: +SKIP
    >>> ff.values["centroid_hz"].shape    # doctest: +SKIP
    (2584,)
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    check_positive(sr, "sr")
    if len(y) < n_fft:  # shorter than one frame: pad so every feature is defined
        y = np.pad(y, (0, n_fft - len(y)))
    lap = _Laps(timings)
    local = local_frames(y, sr, hop_length=hop_length, n_fft=n_fft, lap=lap)
    return finish_frames(local, sr, n_samples=len(y), hop_length=hop_length, lap=lap)


def local_frames(y: np.ndarray, sr: int = SR, *, hop_length: int = HOP_LENGTH, n_fft: int = N_FFT,
                 lap=None, chroma: bool = True) -> dict[str, np.ndarray]:
    """The frame-local part of :func:`frame_features`: every value that depends only on the samples
    within a few seconds of its frame.

    The block-wise path (:mod:`neuromer.audio.blockwise`) computes this on overlapping stretches of
    a long file and joins the frames; :func:`finish_frames` then does everything that needs the whole
    clip (dB floors relative to the loudest frame, onset-envelope normalisation, the tempogram).

    Parameters
    ----------
    y : ndarray, shape (n_samples,), float32
        Mono signal, at least ``n_fft`` samples.
    sr : int
        Sampling rate in Hz.
    hop_length, n_fft : int
        STFT hop and size in samples.
    lap : callable | None
        Timer of :func:`frame_features` (``timings``).
    chroma : bool
        Compute the chroma (the block-wise path computes it from resampling streams that run over
        the whole file, see :class:`neuromer.audio.blockwise._OctaveStreams`).

    Returns
    -------
    dict of str -> ndarray
        Curves of shape (n_frames,) (``rms`` linear, ``zcr``, ``centroid_hz`` ... ``entropy``,
        ``contrast_*``, ``hp_ratio_db``), plus ``mel_power`` (96, n_frames) and ``chroma``
        (12, n_frames); ``n_frames = 1 + len(y) // hop_length`` (centred frames).
    """
    import librosa

    from . import _fast

    lap = lap if lap is not None else _Laps(None)
    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    power = mag ** 2
    n = mag.shape[1]
    lap("stft")
    eps = 1e-10
    v: dict[str, np.ndarray] = {}
    # time-domain RMS on the STFT's (centred) frames: the spectrum's would include the window's loss
    v["rms"] = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length)[0][:n]
    v["zcr"] = _fast.zero_crossing_rate(y, n_fft, hop_length)[:n]  # librosa's values, O(n_samples)
    # centroid and bandwidth as matrix products (librosa's versions normalise a copy of S first)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    total = mag.sum(axis=0) + eps
    # a float64 product casts ``mag`` (Fortran-ordered float32 from the STFT) to a C-ordered float64
    # copy first, which takes far longer than the product: made once here for both, the same values
    mag64 = np.ascontiguousarray(mag, dtype=np.float64)
    v["centroid_hz"] = freqs @ mag64 / total
    v["bandwidth_hz"] = np.sqrt(np.maximum((freqs ** 2) @ mag64 / total - v["centroid_hz"] ** 2, 0.0))
    del mag64
    v["rolloff_hz"] = _fast.spectral_rolloff(mag, freqs, roll_percent=0.85)  # librosa's values, faster
    v["flatness"] = librosa.feature.spectral_flatness(S=mag)[0]
    # spectral contrast in two steps: the dB conversion of librosa.feature.spectral_contrast floors
    # the band peaks (and valleys) 80 dB below their loudest frame in the clip, so it happens in
    # finish_frames
    v["contrast_peak"], v["contrast_valley"] = _contrast_bands(mag, freqs)
    p = power / (power.sum(axis=0, keepdims=True) + eps)
    v["entropy"] = -(p * np.log(p + eps)).sum(axis=0) / np.log(p.shape[0])
    del p
    lap("spectral")
    v["mel_power"] = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=96)
    del power
    lap("mfcc")
    if chroma:
        v["chroma"] = _chroma(y, sr, hop_length, n)
        lap("chroma")
    v["hp_ratio_db"] = _hp_ratio_db(mag)
    lap("hpss")
    from ._timbre_stats import timbre_local_frames

    v.update(timbre_local_frames(y=y, mag=mag, sr=sr, n_fft=n_fft, hop_length=hop_length))
    lap("timbre")
    return v


def finish_frames(local: dict, sr: int, *, n_samples: int, hop_length: int = HOP_LENGTH,
                  lap=None) -> FrameFeatures:
    """:class:`FrameFeatures` from the :func:`local_frames` of a whole clip (possibly joined from blocks).

    The whole-clip steps: the 80 dB floors of ``rms_db`` and of the mel spectrogram are relative to
    the clip's loudest frame, ``librosa.onset.onset_detect`` normalises the onset envelope by its
    range, the harmonic change smooths the chroma over 9 frames and the tempogram autocorrelates
    the onset envelope over ~8.9 s; the spectral contrast's dB floor is relative to the loudest
    frame of each band too. They run on arrays of a few hundred values per frame (60 MB of mel
    spectrogram per hour), never on the samples.

    Parameters
    ----------
    local : dict
        Output of :func:`local_frames` (consumed: its arrays are released as they are used).
    sr : int
        Sampling rate in Hz.
    n_samples : int
        Length of the clip in samples (for ``duration_s``).
    hop_length : int
        STFT hop in samples.
    lap : callable | None
        Timer of :func:`frame_features`.

    Returns
    -------
    FrameFeatures
    """
    import librosa

    lap = lap if lap is not None else _Laps(None)
    v = local
    n = len(v["zcr"])
    v["rms_db"] = librosa.amplitude_to_db(v.pop("rms"), ref=1.0, amin=1e-5)
    # absolute dB (ref 1.0), so MFCC 0 compares across clips; the 80 dB floor is relative to the peak
    mel_db = librosa.power_to_db(v.pop("mel_power"), ref=1.0, amin=1e-10)
    onset_env = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=hop_length)
    v["flux"] = onset_env[:n]
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=13)
    del mel_db
    dmfcc = librosa.feature.delta(mfcc, width=min(9, n - (1 - n % 2))) if n >= 3 else np.zeros_like(mfcc)
    for i in range(13):
        v[f"mfcc_{i}"] = mfcc[i]
    for i in range(13):
        v[f"dmfcc_{i}"] = dmfcc[i]
    lap("mfcc")
    # as librosa.feature.spectral_contrast(S=mag, sr=sr): dB of the band peaks minus dB of the valleys
    contrast = librosa.power_to_db(v.pop("contrast_peak")) - librosa.power_to_db(v.pop("contrast_valley"))
    for i, row in enumerate(contrast):
        v[f"contrast_{i}"] = row
    chroma = v.pop("chroma")
    for name, row in zip(PITCH_CLASSES, chroma):
        v[f"chroma_{name}"] = row
    v["harmonic_change"] = _harmonic_change(chroma, sr)
    lap("chroma")
    from ._timbre_stats import timbre_chroma_frames

    v.update(timbre_chroma_frames(chroma=chroma, sr=sr, hop_length=hop_length, key_correlations=key_correlations))
    lap("timbre")
    tgram, bpm = _tempogram(onset_env[:n], sr, hop_length)
    v["tempo_bpm"], v["pulse_clarity"] = _local_tempo(tgram, bpm)
    silent = v["rms_db"] < -80  # digital silence: spectral shape is undefined there
    for key in ("centroid_hz", "bandwidth_hz", "rolloff_hz", "flatness", "entropy", "tempo_bpm", "pulse_clarity",
                "local_key_clarity", "local_mode_strength"):
        v[key] = np.where(silent, np.nan, v[key])
    v = {k: np.asarray(v[k], dtype=np.float64) for k in _frame_order(v)}
    times = librosa.frames_to_time(np.arange(n), sr=sr, hop_length=hop_length)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=hop_length, units="time")
    lap("rhythm")
    return FrameFeatures(times=times, values=v, duration_s=n_samples / sr, sr=int(sr), hop_length=hop_length,
                         onsets_s=np.asarray(onsets, dtype=float), tempogram=tgram, tempogram_bpm=bpm)


def _frame_order(v: dict) -> list[str]:
    """Feature names in the order :func:`frame_features` has always returned them (tables keep
    their column order)."""
    head = ["rms_db", "zcr", "centroid_hz", "bandwidth_hz", "rolloff_hz", "flatness"]
    head += [k for k in v if k.startswith("contrast_")] + ["entropy", "flux"]
    head += [f"mfcc_{i}" for i in range(13)] + [f"dmfcc_{i}" for i in range(13)]
    head += [f"chroma_{name}" for name in PITCH_CLASSES] + ["harmonic_change", "hp_ratio_db", "tempo_bpm",
                                                             "pulse_clarity"]
    return head + [k for k in v if k not in head]


class _Laps:
    """Accumulates wall time per named step into a dict (no-op without one)."""

    def __init__(self, store: dict | None) -> None:
        import time

        self._clock, self.store = time.perf_counter, store
        self._t = self._clock()

    def __call__(self, name: str) -> None:
        if self.store is not None:
            now = self._clock()
            self.store[name] = self.store.get(name, 0.0) + now - self._t
            self._t = now


def _chroma(y: np.ndarray, sr: int, hop_length: int, n_frames: int) -> np.ndarray:
    """Constant-Q chroma (C2 up, 5 octaves) on a 4x coarser hop, repeated onto the STFT frames.

    The STFT's 10.8 Hz bins cannot tell neighbouring semitones apart below ~200 Hz, where bass and
    chords carry the key; the constant-Q transform can, and key/mode need no finer time steps.
    """
    import warnings

    import librosa

    from ._fast import memoise_cqt_filters

    memoise_cqt_filters()  # the filter bank is built once per process, not per clip (same values)
    step = 4
    with warnings.catch_warnings():  # very short clips: librosa warns that its filters are long
        warnings.simplefilter("ignore")
        chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop_length * step, tuning=0.0,
                                            fmin=librosa.note_to_hz("C2"), n_octaves=5)
    chroma = np.repeat(chroma, step, axis=1)[:, :n_frames]
    if chroma.shape[1] < n_frames:
        chroma = np.pad(chroma, ((0, 0), (0, n_frames - chroma.shape[1])), mode="edge")
    return chroma


def _contrast_bands(mag: np.ndarray, freqs: np.ndarray, *, fmin_hz: float = 200.0, n_bands: int = 6,
                    quantile: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Per octave band and frame, the mean of the strongest and of the weakest ``quantile`` of the
    bins (Jiang et al. 2002): the peaks and valleys of spectral contrast, before the dB step.

    Bands and bin counts are those of ``librosa.feature.spectral_contrast`` (its defaults): band 0
    is below ``fmin_hz``, band k (1..n_bands) the octave above ``fmin_hz * 2 ** (k - 1)`` plus the
    bin below it, the last band also every bin above; all but the last drop their top bin.

    Returns
    -------
    peak, valley : ndarray, shape (n_bands + 1, n_frames)
    """
    edges = np.concatenate([[0.0], fmin_hz * 2.0 ** np.arange(n_bands + 1)])
    peak = np.zeros((n_bands + 1, mag.shape[1]))
    valley = np.zeros_like(peak)
    frames = np.ascontiguousarray(mag.T)  # (n_frames, n_bins): no copy for the STFT's Fortran order
    for k in range(n_bands + 1):
        inside = np.flatnonzero((freqs >= edges[k]) & (freqs <= edges[k + 1]))
        lo = inside[0] - 1 if k > 0 else inside[0]
        hi = len(freqs) if k == n_bands else inside[-1] + 1
        n_take = max(1, int(np.rint(quantile * (hi - lo))))
        # each frame's bins sorted along contiguous rows (a sort's output does not depend on the
        # layout); the extremes then go back to C-ordered (n_take, n_frames) arrays, the layout
        # librosa averages over, so the means sum in its order
        band = np.sort(frames[:, lo:hi if k == n_bands else hi - 1], axis=1)
        valley[k] = np.ascontiguousarray(band[:, :n_take].T).mean(axis=0)
        peak[k] = np.ascontiguousarray(band[:, band.shape[1] - n_take:].T).mean(axis=0)
    return peak, valley


def _harmonic_change(chroma: np.ndarray, sr: int) -> np.ndarray:
    import librosa
    from scipy.ndimage import uniform_filter1d

    smooth = uniform_filter1d(chroma, size=9, axis=1, mode="nearest")  # ~0.2 s, as Harte et al. smooth
    tonal = librosa.feature.tonnetz(chroma=smooth, sr=sr)
    padded = np.pad(tonal, ((0, 0), (1, 1)), mode="edge")
    return np.sqrt(((padded[:, 2:] - padded[:, :-2]) ** 2).sum(axis=0))


def _hp_ratio_db(mag: np.ndarray) -> np.ndarray:
    """Median-filter HPSS (Fitzgerald 2010) on a decimated spectrogram, for speed."""
    from ._fast import hpss_sums

    # pairs of frames and bins are averaged first: HPSS' medians cost O(kernel) per cell
    f2 = mag.shape[0] // 2 * 2
    t2 = max(mag.shape[1] // 2 * 2, 2)
    small = mag[:f2]
    if mag.shape[1] < 2:
        small = np.repeat(small, 2, axis=1)
    small = small[:, :t2]
    small = small.reshape(f2 // 2, 2, t2 // 2, 2)
    # = small.mean(axis=(1, 3)), summed in numpy's order (bins first) but 5-10x faster
    small = ((small[:, 0, :, 0] + small[:, 1, :, 0]) + (small[:, 0, :, 1] + small[:, 1, :, 1])) / 4
    harm_energy, perc_energy = hpss_sums(small)  # librosa.decompose.hpss(small, kernel_size=(9, 9)), faster
    ratio = 10 * np.log10(harm_energy + 1e-10) - 10 * np.log10(perc_energy + 1e-10)
    full = np.repeat(ratio, 2)
    return np.pad(full, (0, max(0, mag.shape[1] - len(full))), mode="edge")[: mag.shape[1]]


def _tempogram(onset_env: np.ndarray, sr: int, hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    win = 384  # ~8.9 s of context at 23 ms frames: enough for two bars at 60 BPM
    bpm = librosa.tempo_frequencies(win, sr=sr, hop_length=hop_length)
    keep = (bpm >= _TEMPO_RANGE_BPM[0]) & (bpm <= _TEMPO_RANGE_BPM[1])
    n = len(onset_env)
    if n <= _TEMPOGRAM_CHUNK:
        tg = librosa.feature.tempogram(onset_envelope=onset_env, sr=sr, hop_length=hop_length, win_length=win)
        return tg[keep], bpm[keep]
    # a long clip: the full tempogram (384 lags, and its FFT) would take ~1 GB per 10 min, so it is
    # computed over runs of frames and only the lags in the tempo range are kept. librosa's
    # centring (a linear ramp to 0 over win / 2 frames at either end) is applied once to the whole
    # envelope, so every column is the one librosa computes for the whole clip.
    padded = np.pad(onset_env, win // 2, mode="linear_ramp", end_values=(0, 0))
    out = np.empty((int(keep.sum()), n))
    for a in range(0, n, _TEMPOGRAM_CHUNK):
        b = min(n, a + _TEMPOGRAM_CHUNK)
        tg = librosa.feature.tempogram(onset_envelope=padded[a: b + win - 1], sr=sr, hop_length=hop_length,
                                       win_length=win, center=False)
        out[:, a:b] = tg[keep]
    return out, bpm[keep]


#: Frames of tempogram computed at once (~47 s at 23 ms frames, ~40 MB of temporaries).
_TEMPOGRAM_CHUNK = 1 << 11


def _tempo_prior(bpm: np.ndarray) -> np.ndarray:
    # log-normal prior centred on 120 BPM, one octave wide: librosa's default, which resolves
    # octave ambiguity toward the tempo listeners most often tap (Moelants & McKinney 2004)
    return np.exp(-0.5 * (np.log2(bpm) - np.log2(120.0)) ** 2)


def _local_tempo(tgram: np.ndarray, bpm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if tgram.size == 0:
        n = tgram.shape[1] if tgram.ndim == 2 else 0
        return np.full(n, np.nan), np.full(n, np.nan)
    best = np.argmax(tgram * _tempo_prior(bpm)[:, None], axis=0)
    cols = np.arange(tgram.shape[1])
    return bpm[best], np.clip(tgram[best, cols], 0.0, 1.0)


def tempo_from_tempogram(tgram: np.ndarray, bpm: np.ndarray) -> tuple[float, float]:
    """Tempo (BPM) and pulse clarity (0..1) of a stretch of music from its mean tempogram.

    The peak lag is refined by parabolic interpolation: the lag grid alone (one STFT hop, 23 ms)
    is ~3 BPM coarse at 120 BPM.
    """
    if tgram.size == 0:
        return np.nan, np.nan
    mean = tgram.mean(axis=1)
    if not np.any(mean > 0):
        return np.nan, np.nan
    k = int(np.argmax(mean * _tempo_prior(bpm)))
    clarity = float(np.clip(mean[k], 0.0, 1.0))
    lag = 1.0 / bpm  # proportional to the lag in frames: tempogram rows are consecutive lags
    if 0 < k < len(mean) - 1:
        a, b, c = mean[k - 1], mean[k], mean[k + 1]
        den = a - 2 * b + c
        delta = 0.5 * (a - c) / den if den < 0 else 0.0
        step = lag[k + 1] - lag[k] if delta > 0 else lag[k] - lag[k - 1]
        return float(1.0 / (lag[k] + np.clip(delta, -0.5, 0.5) * step)), clarity
    return float(bpm[k]), clarity


def key_chroma(chroma: np.ndarray) -> np.ndarray:
    """Chroma frames as key finding weighs them: the square root of the (max-normalised) chroma.

    The profiles count how long pitch classes sound, not how loud: compressing the energy keeps a loud
    bass or melody note from outweighing the quieter chord tones (measured in bench/key_mode.py).
    """
    return np.sqrt(np.maximum(np.asarray(chroma, dtype=float), 0.0))


def key_correlations(chroma: np.ndarray) -> np.ndarray:
    """Correlation of pitch-class distributions with the 24 key profiles.

    Parameters
    ----------
    chroma : ndarray, shape (..., 12)
        Pitch-class weights (C..B), e.g. the mean of :func:`key_chroma` frames.

    Returns
    -------
    ndarray, shape (..., 24)
        Pearson correlation with C..B major (0-11) and C..B minor (12-23); NaN where the weights
        are constant or not finite.
    """
    c = np.asarray(chroma, dtype=float)
    sd = c.std(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cz = (c - c.mean(axis=-1, keepdims=True)) / np.where(sd > 0, sd, np.nan)
    return cz @ _PROFILES_Z.T / 12.0


def key_mode(chroma: np.ndarray) -> dict[str, float]:
    """Key, mode and key clarity from chroma by key-profile correlation.

    Parameters
    ----------
    chroma : ndarray, shape (12,) or (12, n_frames)
        Chroma (C..B); frames are compressed (:func:`key_chroma`) and averaged.

    Returns
    -------
    dict
        ``key`` (pitch class 0-11 of the tonic, C = 0), ``mode`` (1 major, 0 minor),
        ``key_clarity`` (the best profile correlation, -1..1), ``mode_strength`` (best major
        minus best minor correlation: > 0 leans major). NaN for silence.
        Method: Krumhansl-Schmuckler key finding with the Albrecht & Shanahan (2013) profiles.
    """
    c = np.asarray(chroma, dtype=float)
    c = key_chroma(c).mean(axis=1) if c.ndim == 2 else key_chroma(c)
    if c.shape != (12,) or not np.all(np.isfinite(c)) or np.ptp(c) <= 0:
        return {"key": np.nan, "mode": np.nan, "key_clarity": np.nan, "mode_strength": np.nan}
    r = key_correlations(c)
    best = int(np.argmax(r))
    return {"key": float(best % 12), "mode": float(best < 12), "key_clarity": float(r[best]),
            "mode_strength": float(r[:12].max() - r[12:].max())}
