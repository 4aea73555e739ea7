"""Private pitch-salience engine behind :mod:`neuromer.audio.melody`.

Melodia-like harmonic summation (Salamon & Gomez, 2012, IEEE TASLP 20(6)) on a short-time
spectrum, written for speed rather than fidelity: the signal is resampled to 11025 Hz, framed
with a 46 ms Hann window zero-padded twice, and the salience of every candidate pitch on a
10-cent grid is one matrix product of the magnitude spectrogram with a fixed harmonic-weight
matrix. The predominant pitch is the salience maximum, refined to sub-cent accuracy by parabolic
interpolation of the nearest spectral peak of one of its first harmonics. Attack evidence for
note segmentation comes from the full-rate signal (level steps over blocks of whole pitch
periods, see :func:`_attack_sharpness`), simultaneous lines from the salience peaks that have
partials of their own (see :func:`_salient_lines`).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.ndimage

from .._checks import check_positive
from ..errors import DataFormatError, NeuromerError

#: analysis rate (Hz): keeps harmonics up to 5.5 kHz, enough for f0 <= 1760 Hz, at half the cost.
SR_ANALYSIS = 11025
#: analysis window (samples at SR_ANALYSIS, 46 ms): short enough that a 6 Hz vibrato keeps
#: ~97% of its extent, long enough to resolve partials 22 Hz apart after zero-padding.
WIN = 512
N_FFT = 1024
#: harmonic weighting alpha**(h - 1) with alpha = 0.8, as in Salamon & Gomez (2012).
N_HARMONICS = 8
ALPHA = 0.8
CENTS_PER_BIN = 10.0
#: frequency ratios (as cents) under which a weaker salience peak may be a ghost of a stronger
#: one (harmonic, sub-harmonic or the 3:2 / 4:3 "virtual pitch" of shared partials); the integer
#: ones always are, the others unless the peak has a fundamental of its own (see _salient_lines).
_GHOST_RATIOS = (1, 2, 3, 4, 5, 6, 7, 8, 3 / 2, 4 / 3, 5 / 3, 5 / 2, 7 / 2)
_GHOST_TOL_CENTS = 50.0
_INTEGER_CENTS = np.array(sorted({sign * 1200 * np.log2(r) for r in _GHOST_RATIOS
                                  if float(r).is_integer() for sign in (1, -1)}))
_RATIO_CENTS = np.array(sorted({sign * 1200 * np.log2(r) for r in _GHOST_RATIOS
                                if not float(r).is_integer() for sign in (1, -1)}))
#: a partial this close (Hz) to a partial of a stronger line lies within that partial's main lobe
#: (the 46 ms Hann window's main lobe is +-2 bins of 21.5 Hz), so it cannot count as evidence of
#: a second tone: a fifth over a tone below 86 Hz (fundamentals f/2 apart) or a fourth below
#: 129 Hz (f/3 apart) stays one line.
_RESOLVE_HZ = 2 * SR_ANALYSIS / WIN
#: a secondary line needs partials of its own: spectral peaks >= this share of the frame's peak.
_MIN_FUNDAMENTAL = 0.1
#: attack measure (see :func:`_attack_sharpness`): level blocks of whole pitch periods, about
#: 10 ms long -- as short as a sharp attack, a sixth of the 55 ms rise of a 9 Hz tremolo --
#: evaluated at 8 sub-frame positions (~1.5 ms apart at hop 256) so that a step's best alignment
#: is never more than ~0.7 ms off.
ATTACK_BLOCK_S = 0.010
_ATTACK_SUBSTEPS = 8
#: An attack must also raise the predominant tone's harmonic level (the salience maximum) by this
#: much (dB) from the 46 ms window just before to the one just after: a note struck again shows
#: its whole step there (a 3 dB step ~2.7 dB), while the partials of a held note beating against
#: struck chord tones move it by up to ~1.7 dB -- and give sharp broadband steps of 1-2.5 dB.
_ATTACK_TONE_RISE_DB = 2.0


def as_mono(y, sr) -> tuple[np.ndarray, float]:
    """Validate ``y`` and ``sr``; return a finite float32 mono signal and ``sr`` as float.

    Integer PCM is scaled to [-1, 1) (``int16`` by 2**15, ...); 2-D input is averaged over its
    channel axis (the shorter one, so both (n_channels, n) and (n, n_channels) work).
    """
    sr = check_positive(sr, "sr")
    try:
        arr = np.asarray(y)
    except Exception as exc:  # ragged lists etc.
        raise DataFormatError(f"audio signal 'y' is not an array ({exc}).") from None
    kind = arr.dtype.kind
    if kind == "u":
        half = 2.0 ** (8 * arr.itemsize - 1)
        arr = (arr.astype(np.float64) - half) / half
    elif kind == "i":
        arr = arr.astype(np.float64) / 2.0 ** (8 * arr.itemsize - 1)
    elif kind != "f":
        raise DataFormatError(f"audio signal 'y' must hold real numbers, got dtype {arr.dtype}.")
    if arr.ndim == 2:
        arr = arr.mean(axis=int(np.argmin(arr.shape)))
    elif arr.ndim != 1:
        raise DataFormatError(f"audio signal 'y' must be 1-D (mono) or 2-D (multi-channel), "
                              f"got shape {arr.shape}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataFormatError(
            f"audio signal 'y' contains {int(bad.sum())} NaN or infinite samples (first at "
            f"{int(np.argmax(bad)) / sr:.3f} s); clean or interpolate them before pitch analysis.")
    return np.ascontiguousarray(arr, dtype=np.float32), sr


@functools.lru_cache(maxsize=8)
def _harmonic_matrix(fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic-summation weights, shape (n_bins, n_candidates) float32, and candidates (Hz)."""
    n_cand = int(np.floor(1200 * np.log2(fmax / fmin) / CENTS_PER_BIN)) + 1
    cand = fmin * 2.0 ** (np.arange(n_cand) * CENTS_PER_BIN / 1200)
    df = SR_ANALYSIS / N_FFT
    n_bins = N_FFT // 2 + 1
    w = np.zeros((n_bins, n_cand), dtype=np.float64)
    cols = np.arange(n_cand)
    for h in range(1, N_HARMONICS + 1):
        pos = h * cand / df
        ok = pos < n_bins - 1
        lo = np.floor(pos[ok]).astype(int)
        frac = pos[ok] - lo
        # linear interpolation of the (smooth, zero-padded) magnitude spectrum at h * f0
        np.add.at(w, (lo, cols[ok]), ALPHA ** (h - 1) * (1 - frac))
        np.add.at(w, (lo + 1, cols[ok]), ALPHA ** (h - 1) * frac)
    used = int(np.flatnonzero(w.any(axis=1)).max()) + 1
    return np.ascontiguousarray(w[:used], dtype=np.float32), cand


def _resample(y: np.ndarray, sr: float) -> np.ndarray:
    if sr == SR_ANALYSIS:
        return y
    try:  # soxr ships with librosa and is what librosa.resample uses by default
        import soxr
    except ImportError:  # pragma: no cover
        from fractions import Fraction

        import scipy.signal

        ratio = Fraction(SR_ANALYSIS / sr).limit_denominator(1000)
        return scipy.signal.resample_poly(y, ratio.numerator, ratio.denominator).astype(np.float32)
    return soxr.resample(y, sr, SR_ANALYSIS, quality="HQ").astype(np.float32, copy=False)


def analyse(y: np.ndarray, sr: float, hop_length: int, fmin: float, fmax: float, *,
            max_lines: int = 4, line_threshold: float = 0.3, resampled: np.ndarray | None = None,
            csum: np.ndarray | None = None) -> dict:
    """Run the whole frame-level analysis once; see :func:`neuromer.audio.melody.f0_contour`.

    Returns a dict of frame arrays (n_frames,): ``times``, ``f0_hz`` (predominant, refined),
    ``clarity`` (1 - mean/max salience), ``rms`` (full-band, original rate), ``attack_db``
    (:func:`_attack_sharpness`, zeroed where the predominant tone's harmonic level does not rise
    by ``_ATTACK_TONE_RISE_DB``), ``lines_hz`` (max_lines, n_frames) NaN-padded, and the scalar
    ``hop_s``. ``resampled`` is ``y`` at ``SR_ANALYSIS`` if already computed (the block-wise
    path streams it, which equals resampling the whole clip at once); ``csum`` the running sum of
    ``y ** 2`` (float64, with the value before ``y[0]`` first: length ``len(y) + 1``), which the
    block-wise path carries on from the blocks before so that the level sums round as for the whole
    clip.
    """
    if not 0 < fmin < fmax or fmax > SR_ANALYSIS / 2 / 1.5:
        raise NeuromerError(f"Invalid values for the 'fmin'/'fmax' parameters: expected "
                            f"0 < fmin < fmax <= {SR_ANALYSIS / 3:.0f} Hz, got {fmin!r} and {fmax!r}.")
    hop_a = max(1, int(round(hop_length * SR_ANALYSIS / sr)))
    ya = _resample(y, sr) if resampled is None else resampled
    n_frames = 1 + len(ya) // hop_a
    half = WIN // 2
    pad_end = max(0, (n_frames - 1) * hop_a + WIN - (len(ya) + 2 * half))
    ypad = np.pad(ya, (half, half + pad_end))
    frames = np.lib.stride_tricks.sliding_window_view(ypad, WIN)[::hop_a][:n_frames]
    window = np.hanning(WIN + 1)[:-1].astype(np.float32)
    weights, cand = _harmonic_matrix(float(fmin), float(fmax))
    mag = np.abs(np.fft.rfft(frames * window, n=N_FFT, axis=1)).astype(np.float32, copy=False)
    sal = mag[:, : weights.shape[0]] @ weights  # (n_frames, n_candidates)

    rows = np.arange(n_frames)
    best = np.argmax(sal, axis=1)
    smax = sal[rows, best]
    with np.errstate(invalid="ignore", divide="ignore"):
        clarity = np.where(smax > 0, 1.0 - sal.mean(axis=1) / smax, 0.0)
    f0 = _refine(mag, cand[best])

    times = rows * hop_a / SR_ANALYSIS
    if csum is None:  # the running sum written in place after its leading 0 (no concatenated copy)
        csum = np.empty(len(y) + 1)
        csum[0] = 0.0
        np.cumsum(np.square(y, dtype=np.float64), out=csum[1:])
    rms = _frame_rms(csum, sr, times, WIN / SR_ANALYSIS)
    # blocks follow the pitch of the note around the frame (the transient of a re-attack can
    # derail the frame's own f0 estimate for a frame or two)
    attack = _attack_sharpness(csum, sr, times, median_smooth(f0, 7), hop_a / SR_ANALYSIS)
    # ... and count only where the predominant tone's harmonic level rises too: two frames after
    # the frame over two frames before (adjacent 46 ms windows)
    tone_db = np.pad(20 * np.log10(smax.astype(np.float64) + 1e-9), 2, mode="edge")
    attack[tone_db[4:] - tone_db[:-4] < _ATTACK_TONE_RISE_DB] = 0.0
    lines = _salient_lines(sal, smax, cand, f0, mag, max_lines, line_threshold)
    return {"times": times, "f0_hz": f0, "clarity": clarity.astype(np.float64), "rms": rms,
            "attack_db": attack, "lines_hz": lines, "hop_s": hop_a / SR_ANALYSIS}


def _refine(mag: np.ndarray, coarse_hz: np.ndarray) -> np.ndarray:
    """Sub-bin f0: parabolic peak of log-magnitude near the strongest of harmonics 1-3."""
    df = SR_ANALYSIS / N_FFT
    n_frames, n_bins = mag.shape
    rows = np.arange(n_frames)[:, None]
    offsets = np.arange(-2, 3)
    best_k = np.zeros(n_frames, dtype=int)
    best_h = np.ones(n_frames)
    best_m = np.full(n_frames, -1.0)
    for h in (1, 2, 3):
        k0 = np.rint(h * coarse_hz / df).astype(int)
        ks = np.clip(k0[:, None] + offsets, 1, n_bins - 2)
        m = mag[rows, ks]
        j = np.argmax(m, axis=1)
        peak = m[rows[:, 0], j] * ALPHA ** (h - 1)
        interior = (j > 0) & (j < len(offsets) - 1)  # a true local maximum inside the search
        take = interior & (peak > best_m)
        best_k[take] = ks[take, j[take]]
        best_h[take] = h
        best_m[take] = peak[take]
    eps = 1e-12
    a = np.log(mag[rows[:, 0], best_k - 1] + eps)
    b = np.log(mag[rows[:, 0], best_k] + eps)
    c = np.log(mag[rows[:, 0], best_k + 1] + eps)
    den = a - 2 * b + c
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(den < 0, 0.5 * (a - c) / den, 0.0)
    fine = (best_k + np.clip(delta, -0.5, 0.5)) * df / best_h
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.abs(1200 * np.log2(fine / coarse_hz))
    return np.where((best_m > 0) & (off < 60), fine, coarse_hz)


def _frame_rms(csum: np.ndarray, sr: float, times: np.ndarray, win_s: float) -> np.ndarray:
    """RMS over ``win_s`` centred on each frame time, from ``csum`` (cumulative sum of y**2
    with a leading 0, at rate ``sr``): O(n)."""
    n = len(csum) - 1
    half = max(1, int(round(win_s * sr / 2)))
    centre = np.rint(times * sr).astype(int)
    lo = np.clip(centre - half, 0, n)
    hi = np.clip(centre + half, 0, n)
    return np.sqrt(np.maximum(csum[hi] - csum[lo], 0.0) / (2 * half))


def attack_block_s(f0_hz) -> np.ndarray:
    """Length (s) of the level blocks of :func:`_attack_sharpness` at pitch ``f0_hz``.

    The whole number of periods closest to ``ATTACK_BLOCK_S`` (at least one period): the
    power of a periodic tone over whole periods has no ripple, so the blocks see only the
    envelope. Below 100 Hz one period is longer than 10 ms.
    """
    period = 1.0 / np.clip(np.asarray(f0_hz, dtype=float), 20.0, None)
    return period * np.maximum(1.0, np.round(ATTACK_BLOCK_S / period))


def _attack_sharpness(csum: np.ndarray, sr: float, times: np.ndarray, f0: np.ndarray,
                      hop_s: float) -> np.ndarray:
    """Per frame, the sharpest level step near the frame (dB, >= 0): evidence of an attack.

    Around each of ``_ATTACK_SUBSTEPS`` points spread over the frame's hop, the level (dB of the
    mean power) is taken over six adjacent blocks of :func:`attack_block_s`, b0 b1 b2 | b3 b4 b5.
    The step is the level held after the point, ``min(L3, L4, L5)``, over the level just before
    it, ``L2``, minus the largest rise into the point from one or two blocks before (``L2 - L1``,
    ``L2 - L0``) or away from it over one or two blocks after (``L4 - L3``, ``L5 - L3``), if
    positive. A note struck again rises within one block, stays up, and is flat or decaying on
    both sides; a smooth level change (tremolo, crescendo) that rises across the point keeps
    rising on a flank -- with 10 ms blocks the flanks span the whole 55 ms rise of a 9 Hz
    tremolo -- and fast ripple (partials of two tones beating 30-100 Hz apart) falls back within
    the three blocks after. The frame's value is the maximum over its points.

    Measured on harmonic tones (8 partials 1/h, 82-1400 Hz): a steady tone scores 0 (0.2 dB in
    white noise at 20 dB SNR); a +-6 dB sinusoidal tremolo at 3-9 Hz at most 0.3 dB (it grows
    quickly with the block length: 0.9 dB at 73 Hz, 1.7 at 65 Hz, 3.1 at 55 Hz, where one
    period is 18 ms); a +-150-cent vibrato at 4-8 Hz at most 0.5 dB; a level step about its size
    (a 6 dB step 3-5.4 dB), a 3 dB rise over 10 ms 1.6-2.7 dB.
    """
    n = len(csum) - 1
    block = np.maximum(1, np.rint(attack_block_s(f0) * sr)).astype(np.int64)
    m = _ATTACK_SUBSTEPS
    offsets = (np.arange(m) - (m - 1) / 2) / m * hop_s * sr
    centre = np.rint(times[:, None] * sr + offsets).astype(np.int64)  # (n_frames, m)
    edges = np.clip(centre[..., None] + block[:, None, None] * np.arange(-3, 4), 0, n)
    power = np.diff(csum[edges], axis=-1) / block[:, None, None]  # (n_frames, m, 6)
    level = 10 * np.log10(np.maximum(power, 0.0) + 1e-10)
    before, after = level[..., 2], level[..., 3]
    flank = np.maximum.reduce([before - level[..., 1], before - level[..., 0],
                               level[..., 4] - after, level[..., 5] - after,
                               np.zeros_like(after)])
    held = np.minimum(np.minimum(after, level[..., 4]), level[..., 5])
    return np.maximum(held - before - flank, 0.0).max(axis=1)


def _has_partial(mag: np.ndarray, frames: np.ndarray, hz: np.ndarray,
                 floor: np.ndarray) -> np.ndarray:
    """Whether frame ``frames[i]`` of the spectrum has a partial at each ``hz[i, ...]``.

    A local maximum of the magnitude spectrum whose (parabolic) frequency is within half a bin
    (5.4 Hz) or 50 cents of ``hz`` -- not the skirt of a neighbouring partial -- of at least
    ``floor[i]``.
    """
    n_bins = mag.shape[1]
    df = SR_ANALYSIS / N_FFT
    rows = frames.reshape(frames.shape + (1,) * hz.ndim)
    k0 = np.rint(hz / df).astype(np.intp)
    m = mag[rows, np.clip(k0[..., None] + np.arange(-2, 3), 0, n_bins - 1)]  # (*hz.shape, 5)
    j = np.argmax(m, axis=-1)
    interior = (j > 0) & (j < 4)  # a local maximum within one bin of hz
    jj = np.clip(j, 1, 3)[..., None]
    a, b, c = (np.log(np.take_along_axis(m, jj + d, axis=-1)[..., 0] + 1e-12) for d in (-1, 0, 1))
    den = a - 2 * b + c
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(den < 0, np.clip(0.5 * (a - c) / den, -0.5, 0.5), 0.0)
    peak_hz = (k0 + jj[..., 0] - 2 + delta) * df
    near = np.abs(peak_hz - hz) <= np.maximum(0.5 * df, hz * (2 ** (50 / 1200) - 1))
    floor = np.log(floor + 1e-12).reshape(floor.shape + (1,) * (hz.ndim - 1))
    return interior & near & (b >= floor)


def _gap_hz(f: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Distance (Hz) from ``f`` to the nearest partial (harmonic >= 1) of pitch ``base``."""
    return np.abs(f - base * np.maximum(1, np.rint(f / base)))


@functools.lru_cache(maxsize=8)
def _interval_tables(n_cand: int) -> tuple[np.ndarray, np.ndarray]:
    """Whether a step of ``d - (n_cand - 1)`` candidate bins is (within ``_GHOST_TOL_CENTS``) an
    integer ghost ratio, and whether it is a non-integer one; indexed by ``d``."""
    steps = (np.arange(2 * n_cand - 1) - (n_cand - 1)) * CENTS_PER_BIN
    near = lambda ref: np.abs(steps[:, None] - ref).min(axis=1) < _GHOST_TOL_CENTS  # noqa: E731
    return near(_INTEGER_CENTS), near(_RATIO_CENTS)


def _ranked_by_selection(sal: np.ndarray, peaks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest peak saliences of each frame by ``np.argpartition`` then ``np.argsort``.

    How the salient lines were always ranked, kept for frames with equal saliences among their
    strongest peaks (see :func:`_strongest_peaks`): which of two equal peaks ranks first is decided
    by the selection algorithm there.
    """
    score = np.where(peaks, sal, 0.0)
    top = np.argpartition(-score, k - 1, axis=1)[:, :k]
    rows = np.arange(len(sal))[:, None]
    top_val = score[rows, top]
    order = np.argsort(-top_val, axis=1)
    return top[rows, order], top_val[rows, order]


def _strongest_peaks(sal: np.ndarray, peaks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate bins and saliences of the ``k`` strongest salience peaks of each frame, strongest
    first; unused slots have salience 0 (and a meaningless bin).

    Parameters
    ----------
    sal : ndarray, shape (n_frames, n_candidates)
        Salience (non-negative).
    peaks : ndarray of bool, same shape
        The peaks to rank.
    k : int
        Peaks kept per frame (at most ``n_candidates``).

    Returns
    -------
    top : ndarray of intp, shape (n_frames, k)
    top_val : ndarray, shape (n_frames, k), dtype of ``sal``

    Notes
    -----
    A frame has about ten peaks among its hundreds of candidates, so they are ranked by one sort of
    all peaks by frame and salience, not by a selection over every candidate of every frame. Where
    a frame's saliences are distinct that is the order :func:`_ranked_by_selection` (the earlier
    code) gives; a frame with two equal saliences among its ``k + 1`` strongest peaks is ranked by
    that code itself, so the lines are the same in every case.
    """
    n_frames, n_cand = sal.shape
    flat = np.flatnonzero(peaks)  # frame-major (much faster than the 2-D np.nonzero)
    r, c = np.divmod(flat, n_cand)
    v = sal.ravel()[flat]
    if v.dtype == np.float32:
        # one sort on an integer key, by frame then strongest first: the bits of a non-negative
        # float32 (-0.0 made +0.0) order as its value, so 2**32 - 1 - bits orders the strongest first
        bits = (v + np.float32(0.0)).view(np.uint32).astype(np.uint64)
        o = np.argsort((r.astype(np.uint64) << np.uint64(32)) | (np.uint64(0xFFFFFFFF) - bits), kind="stable")
    else:
        o = np.lexsort((-v, r))  # by frame, strongest first within a frame (stable)
    r, c, v = r[o], c[o], v[o]
    rank = np.arange(len(r)) - np.searchsorted(r, r)  # position within its frame
    sel = rank < k
    top = np.zeros((n_frames, k), dtype=np.intp)
    top_val = np.zeros((n_frames, k), dtype=sal.dtype)
    top[r[sel], rank[sel]] = c[sel]
    top_val[r[sel], rank[sel]] = v[sel]
    tied = np.unique(r[1:][(r[1:] == r[:-1]) & (v[1:] == v[:-1]) & (rank[:-1] < k)])
    if len(tied):
        top[tied], top_val[tied] = _ranked_by_selection(sal[tied], peaks[tied], k)
    return top, top_val


def _salient_lines(sal, smax, cand, f0, mag, max_lines, threshold) -> np.ndarray:
    """Up to ``max_lines`` simultaneous pitches per frame (Hz, NaN-padded), strongest first.

    Local maxima of the salience above ``threshold`` times the frame maximum, strongest first.
    A weaker peak is a line when it has partials of its own (see :func:`_has_partial`): its
    fundamental, or its 2nd or 3rd partial where that lies ``_RESOLVE_HZ`` or more from every
    partial of the stronger lines. It is dropped as a ghost of a stronger line when their
    interval is (within 50 cents) a ratio in ``_GHOST_RATIOS``:

    * an integer ratio, up or down (octaves, twelfths...), always: every partial of the upper
      pitch is one of the lower, so a second tone there cannot be told from the first;
    * a non-integer ratio p/q (fifth 3/2, fourth 4/3, sixth 5/3, 5/2, 7/2 and their inverses)
      unless it has its own fundamental at least ``_RESOLVE_HZ`` from every partial of the
      stronger line. Those ratios are ghosts because the candidate's harmonics q, 2q... fall on
      partials of the stronger tone; its fundamental (harmonic 1, never shared) is empty for a
      ghost and sounds for a real second tone.

    The strongest peak is always a line, except a peak without a fundamental of its own (the
    common subharmonic of a chord, say 110 Hz under A-C#-E at 220 Hz) when some other peak that
    has one is not at an integer multiple of it: a tone with a missing fundamental explains all
    its partials, a chord does not.
    """
    n_frames, n_cand = sal.shape
    k = min(max_lines + 4, n_cand)  # a few spare peaks, ghosts are removed below
    # local maxima, the ends of the pitch range included (a tone at fmin peaks there)
    peaks = np.empty(sal.shape, dtype=bool)
    peaks[:, 1:-1] = (sal[:, 1:-1] > sal[:, :-2]) & (sal[:, 1:-1] >= sal[:, 2:])
    peaks[:, 0] = sal[:, 0] > sal[:, 1]
    peaks[:, -1] = sal[:, -1] >= sal[:, -2]
    peaks &= sal >= threshold * smax[:, None]
    top, top_val = _strongest_peaks(sal, peaks, k)
    hz = cand[top]
    keep = top_val > 0
    floor = _MIN_FUNDAMENTAL * mag.max(axis=1)
    fi, si = np.nonzero(keep)
    own = np.zeros((n_frames, k), dtype=bool)  # a partial at the peak's own fundamental
    own[fi, si] = _has_partial(mag, fi, hz[fi, si], floor[fi])
    integer, ratio = _interval_tables(n_cand)
    step = top - top[:, :1] + (n_cand - 1)  # bins above the strongest peak
    multiple = integer[step[:, 1:]] & (step[:, 1:] >= n_cand - 1)
    keep[:, 0] &= own[:, 0] | ~(keep[:, 1:] & own[:, 1:] & ~multiple).any(axis=1)
    for j in range(1, k):
        f = np.flatnonzero(keep[:, j])  # frames with a j-th peak (peaks are sorted: none after)
        if not len(f):
            break
        lines, kept, c = hz[f, :j], keep[f, :j], hz[f, j, None]  # stronger peaks (len(f), j)
        d = top[f, j, None] - top[f, :j] + (n_cand - 1)
        fundamental = own[f, j, None] & (_gap_hz(c, lines) >= _RESOLVE_HZ)
        ok = ~(kept & (integer[d] | (ratio[d] & ~fundamental))).any(axis=1) & own[f, j]
        # no fundamental, no ghost interval: its 2nd or 3rd partial, clear of the stronger lines'
        # partials, will do
        w = np.flatnonzero(~own[f, j] & ~(kept & (integer[d] | ratio[d])).any(axis=1))
        if len(w):
            upper = c[w] * np.array([2, 3])
            clear = ((_gap_hz(upper[..., None], lines[w, None, :]) >= _RESOLVE_HZ)
                     | ~kept[w, None, :]).all(axis=-1)
            ok[w] = (_has_partial(mag, f[w], upper, floor[f[w]]) & clear).any(axis=1)
        keep[f, j] = ok
    hz = np.where(keep, hz, np.nan)
    # keep the strongest max_lines, the predominant (refined) f0 first
    out = np.full((max_lines, n_frames), np.nan)
    rank = np.cumsum(keep, axis=1) - 1
    for j in range(k):
        sel = keep[:, j] & (rank[:, j] < max_lines)
        out[rank[sel, j], np.flatnonzero(sel)] = hz[sel, j]
    first = keep[:, 0]
    out[0, first] = f0[first]
    return out


def median_smooth(x: np.ndarray, size: int) -> np.ndarray:
    """Running median with edge replication (``size`` frames, forced odd)."""
    size = max(1, int(size) | 1)
    if size == 1 or len(x) < 2:
        return x.copy()
    return scipy.ndimage.median_filter(x, size=size, mode="nearest")
