"""Private pitch-salience engine behind :mod:`neuromer.audio.melody`.

Melodia-like harmonic summation (Salamon & Gomez, 2012, IEEE TASLP 20(6)) on a short-time
spectrum, written for speed rather than fidelity: the signal is resampled to 11025 Hz, framed
with a 46 ms Hann window zero-padded twice, and the salience of every candidate pitch on a
10-cent grid is one matrix product of the magnitude spectrogram with a fixed harmonic-weight
matrix. The predominant pitch is the salience maximum, refined to sub-cent accuracy by parabolic
interpolation of the nearest spectral peak of one of its first harmonics.
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
#: frequency ratios (as cents) under which a weaker salience peak is taken as a ghost of a
#: stronger one (harmonic, sub-harmonic or the 3:2 / 4:3 "virtual pitch" of shared partials).
_GHOST_RATIOS = (1, 2, 3, 4, 5, 6, 7, 8, 3 / 2, 4 / 3, 5 / 3, 5 / 2, 7 / 2)
_GHOST_CENTS = np.array(sorted({sign * 1200 * np.log2(r) for r in _GHOST_RATIOS for sign in (1, -1)}))
_GHOST_TOL_CENTS = 50.0
#: a secondary line needs its own fundamental: spectrum at f0 >= this share of the frame's peak.
_MIN_FUNDAMENTAL = 0.1


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
            max_lines: int = 4, line_threshold: float = 0.3) -> dict:
    """Run the whole frame-level analysis once; see :func:`neuromer.audio.melody.f0_contour`.

    Returns a dict of frame arrays (n_frames,): ``times``, ``f0_hz`` (predominant, refined),
    ``clarity`` (1 - mean/max salience), ``rms`` (full-band, original rate), ``lines_hz``
    (max_lines, n_frames) NaN-padded, and the scalar ``hop_s``.
    """
    if not 0 < fmin < fmax or fmax > SR_ANALYSIS / 2 / 1.5:
        raise NeuromerError(f"Invalid values for the 'fmin'/'fmax' parameters: expected "
                            f"0 < fmin < fmax <= {SR_ANALYSIS / 3:.0f} Hz, got {fmin!r} and {fmax!r}.")
    hop_a = max(1, int(round(hop_length * SR_ANALYSIS / sr)))
    ya = _resample(y, sr)
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
    rms = _frame_rms(y, sr, times, WIN / SR_ANALYSIS)
    lines = _salient_lines(sal, smax, cand, f0, mag, max_lines, line_threshold)
    return {"times": times, "f0_hz": f0, "clarity": clarity.astype(np.float64), "rms": rms,
            "lines_hz": lines, "hop_s": hop_a / SR_ANALYSIS}


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


def _frame_rms(y: np.ndarray, sr: float, times: np.ndarray, win_s: float) -> np.ndarray:
    """RMS of ``y`` over ``win_s`` centred on each frame time, from a cumulative sum (O(n))."""
    csum = np.concatenate([[0.0], np.cumsum(np.square(y, dtype=np.float64))])
    half = max(1, int(round(win_s * sr / 2)))
    centre = np.rint(times * sr).astype(int)
    lo = np.clip(centre - half, 0, len(y))
    hi = np.clip(centre + half, 0, len(y))
    return np.sqrt(np.maximum(csum[hi] - csum[lo], 0.0) / (2 * half))


def _salient_lines(sal, smax, cand, f0, mag, max_lines, threshold) -> np.ndarray:
    """Up to ``max_lines`` simultaneous pitches per frame (Hz, NaN-padded), strongest first.

    Local maxima of the salience above ``threshold`` times the frame maximum; a peak is dropped
    when its interval to any stronger peak is (within 50 cents) a ratio in ``_GHOST_RATIOS``,
    or, for all but the strongest, when the spectrum has no partial at its fundamental.
    """
    n_frames, n_cand = sal.shape
    k = min(max_lines + 4, n_cand - 2)  # a few spare peaks, ghosts are removed below
    inner = sal[:, 1:-1]
    peaks = (inner > sal[:, :-2]) & (inner >= sal[:, 2:]) & (inner >= threshold * smax[:, None])
    score = np.where(peaks, inner, 0.0)
    top = np.argpartition(-score, k - 1, axis=1)[:, :k]
    rows = np.arange(n_frames)[:, None]
    top_val = score[rows, top]
    order = np.argsort(-top_val, axis=1)
    top, top_val = top[rows, order], top_val[rows, order]
    cents = 1200 * np.log2(cand[top + 1])
    keep = top_val > 0
    k1 = np.rint(cand[top + 1] / (SR_ANALYSIS / N_FFT)).astype(int)
    fund = np.maximum(mag[rows, k1], mag[rows, np.minimum(k1 + 1, mag.shape[1] - 1)])
    keep[:, 1:] &= fund[:, 1:] >= _MIN_FUNDAMENTAL * mag.max(axis=1, keepdims=True)
    for j in range(1, k):
        diff = cents[:, j, None] - cents[:, :j]  # (n_frames, j) against every stronger peak
        near = np.abs(diff[..., None] - _GHOST_CENTS).min(axis=-1) < _GHOST_TOL_CENTS
        keep[:, j] &= ~(near & (top_val[:, :j] > 0)).any(axis=1)
    hz = np.where(keep, cand[top + 1], np.nan)
    # keep the strongest max_lines, the predominant (refined) f0 first
    out = np.full((max_lines, n_frames), np.nan)
    rank = np.cumsum(keep, axis=1) - 1
    for j in range(k):
        sel = keep[:, j] & (rank[:, j] < max_lines)
        out[rank[sel, j], np.flatnonzero(sel)] = hz[sel, j]
    first = np.isfinite(out[0])
    out[0, first] = f0[first]
    return out


def median_smooth(x: np.ndarray, size: int) -> np.ndarray:
    """Running median with edge replication (``size`` frames, forced odd)."""
    size = max(1, int(size) | 1)
    if size == 1 or len(x) < 2:
        return x.copy()
    return scipy.ndimage.median_filter(x, size=size, mode="nearest")
