"""Frame features and pitch contour of long audio, block by block, in bounded memory.

:func:`neuromer.audio.audio_features` sends a file longer than ``2 * block_s`` (120 s by default)
here instead of decoding it whole. The samples are decoded and resampled as a stream and analysed
in blocks of ``block_s`` seconds (60 s), each with :data:`CONTEXT_S` (1.4 s, rounded up to 64
frames: 1.49 s) of context on either side. Each block keeps only the frames of its own stretch,
and the joined frames are those of the whole-file computation (the chroma and its derivatives
bit for bit, a few other frame features to float rounding; see tests/audio/test_blockwise.py). Peak memory then grows with the block length, and only slowly
with the file's: 795 MiB for an hour with melody on, 340 MiB of it the imported audio stack
(bench/audio_long.py), against 6.4 GB whole.

How each step stays equal to the whole-file one
------------------------------------------------
- **Decoding and resampling.** ``soundfile`` reads blocks of the file (WAV, FLAC, OGG, Opus,
  AIFF, MP3); they are mixed to mono as :func:`~neuromer.audio.features.load_audio` does and
  resampled to 22.05 kHz with ``soxr.ResampleStream`` (quality HQ), whose output is identical to
  the one-shot ``soxr_hq`` resampling ``librosa.resample`` does for the whole file; the length is
  fixed to ``ceil(n * ratio)`` as librosa does. An MP3 is read with libsndfile's sequential reads
  and no seek between them (a seek restarts the MPEG decoder and changes the samples after it:
  see ``_mp3_blocks``), which gives the whole-file decode bit for bit. A file soundfile cannot
  open is decoded whole, with the whole-file decoder's error messages, and analysed block-wise.
- **Frame-local features** (:func:`~neuromer.audio.features.local_frames`: STFT, spectral shape,
  RMS, zero crossings, mel power, constant-Q chroma, HPSS) and the pitch analysis of
  :mod:`neuromer.audio.melody` depend only on samples near their frame: the STFT on +-1024
  samples, the constant-Q transform on +-0.13 s (its 65 Hz filters) plus its resampling filters, the
  HPSS median filters on +-8 frames, the pitch analysis on +-23 ms and its attack blocks on
  +-0.15 s. 1.49 s of context covers them all. The chroma's constant-Q transform is the
  exception that context alone cannot fix: its 2:1 soxr downsampling rounds differently wherever
  its input starts, so those steps run as streams over the whole file (:class:`_OctaveStreams`),
  each block takes its stretch of them, and the chroma mapping runs on the joined magnitudes:
  the chroma is the whole file's bit for bit. Blocks start on multiples of 64 STFT frames
  (32768 samples), so the CQT's 2048-sample hop, its 2:1 early downsampling steps, the HPSS frame
  pairs and the 256-sample pitch hop fall on the same samples as in the whole file.
- **Whole-clip steps** run after the blocks, on the joined frames (a few hundred values per 23 ms
  frame, about 0.15 GB per hour): the 80 dB floors of ``rms_db``, of the mel spectrogram and of the
  spectral contrast's band peaks and valleys (relative to the loudest frame), the onset envelope and MFCCs (from the floored mel spectrogram), their
  deltas, onset detection (which normalises the envelope by its range), the harmonic change (chroma
  smoothed over 9 frames), the tempogram (8.9 s windows; computed in runs of frames), the melody's
  voicing (relative to the loudest frame), note segmentation and every window and clip statistic.
  Notes crossing a block border are therefore found exactly as in the whole file: the notes, keys
  and tempi are those of the whole-file path, unless a value within float rounding of a threshold
  tips the other way (tested: identical on generated music with known tempo, key and vibrato).

Not block-wise: ``vocal=True`` (the source separation needs the whole clip) and arrays passed
in memory (already whole) take the whole-file path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._checks import check_file, check_positive
from ..errors import DataFormatError
from .features import HOP_LENGTH, N_FFT, SR, FrameFeatures, finish_frames, load_audio, local_frames

#: Default block length (s of audio analysed at once).
BLOCK_S = 60.0
#: Context (s) analysed on either side of a block, discarded afterwards: covers every frame-local
#: step (see the module docstring), rounded up to whole alignment units.
CONTEXT_S = 1.4
#: Blocks and contexts are whole multiples of this many STFT frames (64 x 512 = 32768 samples).
_ALIGN_FRAMES = 64
#: Samples decoded per read.
_READ_FRAMES = 1 << 16
#: Pitch-analysis frames per STFT frame (hop 256 vs 512 samples).
_MELODY_PER_FRAME = 2


def use_blocks(source, block_s: float | None = None) -> bool:
    """Whether :func:`neuromer.audio.audio_features` analyses ``source`` block-wise.

    True for an audio file soundfile can open that is longer than ``2 * block_s`` seconds;
    ``block_s=math.inf`` turns block-wise analysis off.
    """
    if block_s is not None and isinstance(block_s, (int, float)) and block_s == math.inf:
        return False
    block_s = BLOCK_S if block_s is None else check_positive(block_s, "block_s")
    if not isinstance(source, (str, os.PathLike)):
        return False
    info = _info(Path(source))
    # None: not streamable; the whole-file path reads it (or reports why it cannot)
    return info is not None and info.frames > 2 * block_s * info.samplerate


def _info(path: Path):
    """``soundfile.info`` of the file, or None if soundfile cannot open it. libmpg123 prints its
    complaints about a file that is no MPEG stream straight to the terminal: hushed, as
    :func:`~neuromer.audio.features.load_audio` does."""
    import contextlib

    import soundfile as sf

    from .features import _has_mpeg_frames, _quiet_stderr

    suspect = path.suffix.lower() == ".mp3" and not _has_mpeg_frames(path)
    with _quiet_stderr() if suspect else contextlib.nullcontext():
        try:
            return sf.info(str(path))
        except Exception:
            return None


def stream_samples(path: str | os.PathLike, sr: int = SR, read_frames: int = _READ_FRAMES) -> Iterator[np.ndarray]:
    """Mono float32 samples of an audio file at ``sr`` Hz, in consecutive pieces.

    The concatenated pieces equal ``load_audio(path, sr)[0]``. A WAV whose header promises more
    than it holds is analysed with the same warning; a file soundfile cannot decode to its end is
    read again by the whole-file decoder (which raises its one-line error when that fails too).

    Parameters
    ----------
    path : path-like
        Audio file.
    sr : int
        Output rate (Hz).
    read_frames : int
        Samples (at the file's rate) decoded per read.

    Yields
    ------
    ndarray, shape (n,), float32
    """
    import soundfile as sf

    from .features import _check_wav_length, _read_file

    path = check_file(path, "audio file")
    info = _info(path)  # None: soundfile cannot open it; the whole-file reader tries its fallback
    mp3 = info is not None and info.format.upper() in ("MP3", "MPEG")
    if info is None or (mp3 and _raw_reader() is None):
        yield from _array_pieces(path, read_frames, sr)
        return
    with sf.SoundFile(str(path)) as fh:
        file_sr = int(fh.samplerate)
        resampler = _Resampler(file_sr, sr)
        n_in = 0
        blocks = (_mp3_blocks(fh, read_frames) if mp3 else
                  fh.blocks(blocksize=read_frames, dtype="float32", always_2d=True))
        try:
            for block in blocks:
                mono = _mono(block, path)
                n_in += len(mono)
                out = resampler.push(mono)
                if len(out):
                    yield out
        except (RuntimeError, sf.LibsndfileError):
            # e.g. "flac decoder lost sync" on a truncated FLAC: the whole-file reader tries its
            # fallback decoder and raises the usual one-line error if that fails too
            y, _ = _read_file(path)
            y = y if y.ndim == 1 else y.mean(axis=int(np.argmin(y.shape)))
            rest = np.asarray(y[n_in:], dtype=np.float32)
            del y
            for a in range(0, len(rest), read_frames):
                mono = _mono(rest[a: a + read_frames, None], path)
                n_in += len(mono)
                out = resampler.push(mono)
                if len(out):
                    yield out
    if n_in == 0:
        raise DataFormatError(f"{path}: the audio is empty.")
    _check_wav_length(path, n_in, file_sr)
    tail = resampler.finish(n_in)
    if len(tail):
        yield tail


def _raw_reader():
    """``(sf_readf_float, ffi)`` of soundfile's libsndfile binding, or None if this soundfile
    does not expose them (then an MP3 is decoded whole)."""
    import soundfile as sf

    snd, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    if snd is None or ffi is None or not hasattr(snd, "sf_readf_float"):  # pragma: no cover
        return None
    return snd.sf_readf_float, ffi


def _mp3_blocks(fh, read_frames: int) -> Iterator[np.ndarray]:
    """Consecutive (n, n_channels) float32 blocks of an open MP3, equal bit for bit to
    ``soundfile.read`` of the whole file.

    Why not ``SoundFile.blocks``: soundfile asks libsndfile for the position before every read and
    seeks to ``position + frames read`` after it. For MP3, libsndfile 1.2.2 implements that seek
    with ``mpg123_seek``, which restarts decoding at an MPEG frame without the state the earlier
    frames left (bit reservoir, overlap-add and synthesis-filter history), even when the position
    does not change. Measured (soundfile 0.14, 8 s of synthetic music, 50000-frame reads):
    at 44.1 kHz (MPEG-1) some reads then start with up to 3100 wrong samples, errors up to half the
    peak; at 22.05 kHz (MPEG-2) samples differ by 1 ulp (6e-8) throughout. Also, at 22.05 kHz a
    freshly opened file decodes 1 ulp differently from one after ``seek(0)``, which
    ``soundfile.read`` does before reading the whole file. So: one ``seek(0)``, then libsndfile's
    own sequential reads, never a seek in between, and no more than ``fh.frames`` frames in all
    (as ``soundfile.read``).
    """
    import soundfile as sf

    readf, ffi = _raw_reader()
    fh.seek(0)
    left = fh.frames
    while left > 0:
        buf = np.empty((min(read_frames, left), fh.channels), dtype=np.float32)
        n = int(readf(fh._file, ffi.cast("float *", ffi.from_buffer(buf)), len(buf)))
        err = sf._snd.sf_error(fh._file)
        if err:
            raise sf.LibsndfileError(err, "Error reading the MP3: ")
        if n <= 0:
            break
        left -= n
        yield buf[:n]


def _mono(block: np.ndarray, path: Path) -> np.ndarray:
    """(n, n_channels) float32 -> (n,) as :func:`load_audio` mixes it, finite or an error."""
    mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    bad = int(np.sum(~np.isfinite(mono)))
    if bad:
        raise DataFormatError(f"{path}: {bad} samples are NaN or infinite.")
    return mono


class _Resampler:
    """Streaming resampling equal to ``librosa.resample(..., res_type="soxr_hq")`` of the whole
    signal: soxr's stream gives the one-shot output, and the end is cut or zero-padded to
    ``ceil(n * ratio)`` samples as librosa's ``fix_length`` does. The last piece is held back so
    that the length can be fixed."""

    def __init__(self, in_sr: int, out_sr: int) -> None:
        self.in_sr, self.out_sr = in_sr, out_sr
        self.n_out = 0
        self.held = np.empty(0, dtype=np.float32)
        self.stream = None
        if in_sr != out_sr:
            import soxr

            self.stream = soxr.ResampleStream(in_sr, out_sr, 1, dtype="float32", quality="HQ")

    def push(self, x: np.ndarray) -> np.ndarray:
        y = x if self.stream is None else self.stream.resample_chunk(x, last=False)
        out, self.held = self.held, np.asarray(y, dtype=np.float32)
        self.n_out += len(out)
        return out

    def finish(self, n_in: int) -> np.ndarray:
        """The rest of the output, the total cut or padded to ``ceil(n_in * ratio)``."""
        tail = self.held
        if self.stream is not None:
            tail = np.concatenate([tail, self.stream.resample_chunk(np.empty(0, np.float32), last=True)])
        want = int(np.ceil(n_in * self.out_sr / self.in_sr)) - self.n_out
        if want < 0:  # pragma: no cover - soxr gives ceil(n * ratio) or fewer samples
            raise DataFormatError("internal error: the resampled stream is longer than expected.")
        return np.pad(tail[:want], (0, max(0, want - len(tail)))).astype(np.float32, copy=False)


def _array_pieces(source, read_frames: int = _READ_FRAMES, sr: int = SR) -> Iterator[np.ndarray]:
    """:func:`load_audio` of ``source`` (a file or an array) at ``sr`` Hz, in pieces."""
    y, _ = load_audio(source, sr)
    for a in range(0, len(y), read_frames):
        yield y[a: a + read_frames]


def block_frames(source, *, block_s: float | None = None, melody: bool = True,
                 context_s: float = CONTEXT_S) -> tuple[FrameFeatures, object | None]:
    """Frame features (and pitch contour) of a clip, computed block by block.

    Parameters
    ----------
    source : path-like | (ndarray, int)
        Audio file (decoded as a stream) or ``(samples, sample_rate)``.
    block_s : float | None
        Seconds of audio per block (rounded to whole 1.49 s alignment units; default
        :data:`BLOCK_S`). Memory grows with it, time barely.
    melody : bool
        Also compute the pitch contour of :func:`neuromer.audio.melody.f0_contour`.
    context_s : float
        Context (s) on either side of a block (default :data:`CONTEXT_S`; less gives results that
        differ near block borders: only for tests).

    Returns
    -------
    ff : FrameFeatures
        As ``frame_features(load_audio(source)[0])``.
    contour : Contour | None
        As ``f0_contour(load_audio(source)[0], 22050)``; None without ``melody``.
    """
    block_s = BLOCK_S if block_s is None else check_positive(block_s, "block_s")
    hop = HOP_LENGTH
    unit = _ALIGN_FRAMES
    block_n = max(1, int(round(block_s * SR / hop / unit))) * unit  # core frames per block
    ctx = int(math.ceil(max(0.0, context_s) * SR / hop / unit)) * unit  # context frames either side
    pieces = stream_samples(source) if isinstance(source, (str, os.PathLike)) else _array_pieces(source)
    frame_parts: list[dict] = []
    melody_parts: list[dict] = []
    buf, buf0, total, eof = np.empty(0, dtype=np.float32), 0, 0, False
    abuf, abuf0, ratio, half = np.empty(0, dtype=np.float32), 0, 1, None
    csum0 = 0.0  # sum of squares of the samples before the segment
    # the pitch analysis runs at 11025 Hz: that stream is resampled alongside, as one piece
    # (resampling each segment on its own would differ in the last bits, and tip near-silent frames)
    if melody:
        from . import melody as _melody
        from ._pitch import SR_ANALYSIS

        import soxr

        # as _pitch._resample (one-shot soxr HQ, no length fix), of which it is the streamed twin
        half = soxr.ResampleStream(SR, SR_ANALYSIS, 1, dtype="float32", quality="HQ")
        ratio = SR // SR_ANALYSIS
    # the chroma's constant-Q downsampling runs over the whole stream too (see _OctaveStreams)
    octaves = _OctaveStreams()
    cqt_parts: list[np.ndarray] = []  # constant-Q magnitudes of each block's own frames
    core0 = 0
    while True:
        seg0 = max(0, core0 - ctx) * hop  # first sample of the segment
        need = (core0 + block_n + ctx) * hop  # one past its last sample
        fresh, afresh = [], []
        have, ahave = buf0 + len(buf), abuf0 + len(abuf)
        # read on until the segment is complete, at 22050 Hz and (its resampler lags a little) at
        # 11025 Hz
        while not eof and (have < need or (melody and ahave < need // ratio) or not octaves.ready(need)):
            try:
                piece = next(pieces)
            except StopIteration:
                eof = True
                break
            fresh.append(piece)
            octaves.push(piece)
            have += len(piece)
            total += len(piece)
            if melody:
                afresh.append(half.resample_chunk(piece, last=False))
                ahave += len(afresh[-1])
        if eof and not octaves.done:
            octaves.push(np.empty(0, np.float32), last=True)
        if melody and eof and half is not None:
            afresh.append(half.resample_chunk(np.empty(0, np.float32), last=True))
            half = None
        if fresh:
            buf = np.concatenate([buf, *fresh])
        if afresh:
            abuf = np.concatenate([abuf, *afresh]).astype(np.float32, copy=False)
        del fresh, afresh
        n_total_frames = 1 + (buf0 + len(buf)) // hop if eof else None
        if eof and core0 >= n_total_frames:
            break
        last = eof and buf0 + len(buf) < need
        seg = buf[seg0 - buf0: need - buf0]
        skip = core0 - seg0 // hop  # context frames at the segment's start
        # a clip shorter than one frame is padded as frame_features pads it
        if len(seg) < N_FFT:  # the whole clip is shorter than one frame: padded as frame_features pads it
            local = local_frames(np.pad(seg, (0, N_FFT - len(seg))), SR, hop_length=hop, n_fft=N_FFT)
        else:
            local = local_frames(seg, SR, hop_length=hop, n_fft=N_FFT, chroma=False)
            cqt = _segment_cqt(octaves.segment(seg0, None if last else need))
            cqt_parts.append(cqt[:, skip // _CQT_STEP: None if last else (skip + block_n) // _CQT_STEP].copy())
            del cqt
        stop = None if last else skip + block_n
        frame_parts.append({k: np.array(a[..., skip:stop]) for k, a in local.items()})
        del local
        if melody:
            aseg = abuf[seg0 // ratio - abuf0: None if last else need // ratio - abuf0]
            # running sum of squares continued from the blocks before (see _pitch.analyse)
            sq = np.square(seg, dtype=np.float64)
            sq[0] += csum0
            csum = np.concatenate([[csum0], np.cumsum(sq)])
            del sq
            res = _melody._analyse(seg, SR, _melody.DEFAULT_HOP, 55.0, 1760.0, resampled=aseg, csum=csum)
            del aseg
            m_skip = _MELODY_PER_FRAME * core0 - seg0 // _melody.DEFAULT_HOP
            m_stop = None if last else m_skip + _MELODY_PER_FRAME * block_n
            melody_parts.append({k: np.array(a[..., m_skip:m_stop]) for k, a in res.items()
                                 if k not in ("times", "hop_s")} | {"hop_s": res["hop_s"]})
            del res
        if last:
            break
        core0 += block_n
        keep_from = max(0, core0 - ctx) * hop
        if melody:
            csum0 = float(csum[keep_from - seg0])
            del csum
        buf, buf0 = buf[keep_from - buf0:].copy(), keep_from
        octaves.drop_before(keep_from)
        if melody:
            abuf, abuf0 = abuf[keep_from // ratio - abuf0:].copy(), keep_from // ratio
    del buf
    n_samples = max(total, N_FFT)
    local = {k: np.concatenate([p.pop(k) for p in frame_parts], axis=-1) for k in list(frame_parts[0])}
    if cqt_parts:  # (a clip shorter than one frame had its chroma computed whole)
        local["chroma"] = _joined_chroma(np.concatenate(cqt_parts, axis=1), len(local["rms"]))
        del cqt_parts
    ff = finish_frames(local, SR, n_samples=n_samples, hop_length=hop)
    contour = None
    if melody:
        from .melody import contour_from_analysis

        res = {k: np.concatenate([p.pop(k) for p in melody_parts], axis=-1)
               for k in list(melody_parts[0]) if k != "hop_s"}
        hop_s = melody_parts[0]["hop_s"]
        res["hop_s"] = hop_s
        # frame times as the whole-file analysis computes them (rows x hop / rate)
        from ._pitch import SR_ANALYSIS

        hop_a = int(round(hop_s * SR_ANALYSIS))
        res["times"] = np.arange(len(res["f0_hz"])) * hop_a / SR_ANALYSIS
        contour = contour_from_analysis(res)
    return ff, contour


#: Octaves of the chroma's constant-Q transform (:func:`~neuromer.audio.features._chroma`).
_CQT_OCTAVES = 5
#: Its hop: 4 STFT hops (samples at :data:`~neuromer.audio.features.SR`).
_CQT_STEP = 4


class _OctaveStreams:
    """The 2:1 downsampled signals of the chroma's constant-Q transform, for the whole stream.

    ``librosa.cqt`` (as the chroma calls it) halves the rate once before its top octave and once
    per octave after it, each time with ``librosa.resample(..., 2 -> 1, res_type="soxr_hq",
    scale=True)``. soxr's HQ quality computes in single precision whatever the input type, and its
    one-shot output on a stretch of samples is not that of the whole signal on the same stretch:
    it rounds differently wherever the input starts (about 3e-7 of the signal's peak, at any
    offset, in the middle of a block as much as at its border). A block resampled on its own thus
    gives a constant-Q spectrum that differs from the whole file's by that much, and the chroma's
    per-frame normalisation lifts it to a few 1e-6 in quiet frames (measured on real music).
    Streamed through ``soxr.ResampleStream``, the output equals the one-shot output of the whole
    signal bit for bit (tested); so each stage runs once over the whole stream here, its length
    fixed at the end to ``ceil(n / 2)`` and its samples scaled by ``1 / sqrt(0.5)`` as
    ``librosa.resample`` does, and the blocks take their stretches of the stage outputs.

    ``signals[k]`` holds stage ``k``'s output (rate ``SR / 2 ** (k + 1)``) from sample ``start[k]``.
    """

    def __init__(self, n_stages: int = _CQT_OCTAVES) -> None:
        import soxr

        self.streams = [soxr.ResampleStream(2, 1, 1, dtype="float32", quality="HQ") for _ in range(n_stages)]
        self.n_in = [0] * n_stages
        self.n_out = [0] * n_stages
        self.signals = [np.empty(0, dtype=np.float32) for _ in range(n_stages)]
        self.start = [0] * n_stages
        self.done = False

    def push(self, x: np.ndarray, last: bool = False) -> None:
        """Feed samples at SR (``last``: the end of the stream; then the lengths are fixed)."""
        pending: list[list[np.ndarray]] = [[] for _ in self.streams]
        for k, stream in enumerate(self.streams):
            self.n_in[k] += len(x)
            y = np.asarray(stream.resample_chunk(np.ascontiguousarray(x, dtype=np.float32), last=last),
                           dtype=np.float32)
            if last:  # librosa's fix_length: soxr gives ceil(n / 2) samples or fewer (tested)
                want = -(-self.n_in[k] // 2) - self.n_out[k]
                y = np.pad(y[:max(0, want)], (0, max(0, want - len(y))))
            y = np.array(y, dtype=np.float32)
            y /= np.sqrt(0.5)  # librosa.resample(scale=True): the same float32 /= float64 operation
            self.n_out[k] += len(y)
            pending[k].append(y)
            x = y
        for k, parts in enumerate(pending):
            self.signals[k] = np.concatenate([self.signals[k], *parts])
        self.done = self.done or last

    def have(self, k: int) -> int:
        """One past the last sample of stage ``k`` available."""
        return self.start[k] + len(self.signals[k])

    def ready(self, need: int) -> bool:
        """Whether every stage covers the samples before ``need`` (a sample index at SR)."""
        return self.done or all(self.have(k) >= need >> (k + 1) for k in range(len(self.streams)))

    def segment(self, seg0: int, need: int | None) -> list[np.ndarray]:
        """Each stage's stretch for the samples ``seg0:need`` at SR (``None``: to the end)."""
        return [s[(seg0 >> (k + 1)) - a: None if need is None else (need >> (k + 1)) - a]
                for k, (s, a) in enumerate(zip(self.signals, self.start))]

    def drop_before(self, keep_from: int) -> None:
        """Forget the samples before ``keep_from`` (at SR)."""
        for k in range(len(self.streams)):
            cut = (keep_from >> (k + 1)) - self.start[k]
            if cut > 0:
                self.signals[k] = self.signals[k][cut:].copy()
                self.start[k] += cut


def _segment_cqt(octaves: list[np.ndarray]) -> np.ndarray:
    """The constant-Q magnitudes :func:`~neuromer.audio.features._chroma` maps to chroma, of a
    segment, from its downsampled signals.

    The same steps as ``np.abs(librosa.cqt(...))`` in ``librosa.feature.chroma_cqt(y=...,
    sr=22050, hop_length=2048, tuning=0, fmin=C2, n_octaves=5)`` (librosa 0.11's ``vqt``:
    per-octave filter banks, STFT responses, trimming, length scaling), except that the early
    downsampling and the per-octave resampling are not recomputed: ``octaves`` are the
    :class:`_OctaveStreams` stretches, so a block's constant-Q spectrum is the whole file's on the
    same frames, bit for bit (each frame's STFT and filter products do not depend on the others).

    Parameters
    ----------
    octaves : list of ndarray, float32
        Stage outputs 0..4 (rates 11025 / 2**k Hz) for one segment starting on a multiple of 32
        samples at SR.

    Returns
    -------
    ndarray, shape (180, n_cqt_frames), float32
        Magnitudes, 36 bins per octave from C2, on a 2048-sample hop.
    """
    import warnings

    import librosa
    from librosa import filters, util
    from librosa.core import constantq

    from ._fast import memoise_cqt_filters

    memoise_cqt_filters()  # the same (memoised) filter banks as the whole-file chroma
    filter_fft = getattr(constantq, "__vqt_filter_fft")
    response = getattr(constantq, "__cqt_response")
    trim_stack = getattr(constantq, "__trim_stack")
    bins_per_octave, n_bins = 36, 36 * _CQT_OCTAVES
    fmin = librosa.note_to_hz("C2") * 2.0 ** (0.0 / bins_per_octave)  # tuning 0, as vqt applies it
    window, filter_scale, norm, sparsity, gamma, dtype = "hann", 1, 1, 0.01, 0, np.complex64
    freqs = librosa.interval_frequencies(n_bins=n_bins, fmin=fmin, intervals="equal",
                                         bins_per_octave=bins_per_octave, sort=True)
    alpha = filters._relative_bandwidth(freqs=freqs)
    # librosa downsamples once before the top octave at this rate and hop (2048 = 2**11)
    sr, hop = SR / 2.0, HOP_LENGTH * _CQT_STEP // 2
    resp = []
    with warnings.catch_warnings():  # a short last segment: librosa warns that its filters are long
        warnings.simplefilter("ignore")
        my_sr, my_hop = sr, hop
        for i, my_y in enumerate(octaves):
            sl = slice(-bins_per_octave, None) if i == 0 else slice(-bins_per_octave * (i + 1), -bins_per_octave * i)
            fft_basis, n_fft, _ = filter_fft(my_sr, freqs[sl], filter_scale, norm, sparsity, window=window,
                                             gamma=gamma, dtype=dtype, alpha=alpha[sl])
            fft_basis[:] *= np.sqrt(sr / my_sr)  # compensates the downsampling, as vqt does
            resp.append(response(my_y, n_fft, my_hop, fft_basis, "constant", dtype=dtype))
            my_hop //= 2
            my_sr /= 2.0
        V = trim_stack(resp, n_bins, dtype)
        lengths, _ = filters.wavelet_lengths(freqs=freqs, sr=sr, window=window, filter_scale=filter_scale,
                                             gamma=gamma, alpha=alpha)
        V /= np.sqrt(util.expand_to(lengths, ndim=V.ndim, axes=-2))
    return np.abs(V)


def _joined_chroma(cqt_mag: np.ndarray, n_frames: int) -> np.ndarray:
    """:func:`~neuromer.audio.features._chroma` from the joined constant-Q magnitudes of a clip.

    The pitch-class mapping runs once on the whole clip's magnitudes, not per block: it is a
    matrix product (``einsum`` -> BLAS sgemm), and OpenBLAS rounds the same column differently
    for a narrow matrix (measured: a block of fewer than ~200 constant-Q frames) than for a wide
    one. On the joined (Fortran-ordered, as librosa's) array it is the whole-file product.

    Parameters
    ----------
    cqt_mag : ndarray, shape (180, n_cqt_frames), float32
        :func:`_segment_cqt` of the blocks, joined.
    n_frames : int
        STFT frames of the clip (``1 + n_samples // 512``).

    Returns
    -------
    ndarray, shape (12, n_frames)
    """
    import librosa

    chroma = librosa.feature.chroma_cqt(C=np.asfortranarray(cqt_mag), sr=SR, hop_length=HOP_LENGTH * _CQT_STEP,
                                        tuning=0.0, fmin=librosa.note_to_hz("C2"), n_octaves=_CQT_OCTAVES)
    # onto the STFT frames as features._chroma does
    chroma = np.repeat(chroma, _CQT_STEP, axis=1)[:, :n_frames]
    if chroma.shape[1] < n_frames:
        chroma = np.pad(chroma, ((0, 0), (0, n_frames - chroma.shape[1])), mode="edge")
    return chroma
