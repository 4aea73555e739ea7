"""Harmony, dissonance and timbre-shape features aimed at valence (the "timbre_harmony" family).

Two parts, both exact on any window of the grid because they only read frames or onsets inside it:

- :func:`timbre_frames`: frame series computed from the STFT magnitude, the samples and the chroma
  that :func:`neuromer.audio.features.frame_features` already has. They join the other frame
  series, so every window and clip gets their ``mean``, ``std``, ``p10``, ``p50``, ``p90`` and
  ``slope``:

  ==========================  =====================================================================
  ``roughness``               sensory dissonance of the spectral peaks (Plomp & Levelt 1965 curve
                              as parametrised by Sethares 1993), divided by the squared summed peak
                              amplitude: level-free, 0 for a pure tone, larger for beating partials
  ``inharmonicity``           amplitude-weighted distance of the peaks above the lowest strong peak
                              from its integer multiples (0 harmonic .. 1 maximally off)
  ``crest_db``                peak / RMS of the frame's samples (dB): dynamic compression lowers it
  ``tonnetz_0..5``            tonal centroid (Harte, Sandler & Gasser 2006) of the smoothed chroma
  ``local_key_clarity``       best key-profile correlation of the chroma around the frame (about
                              3 s): how tonal the music is at that moment
  ``local_mode_strength``     best major minus best minor correlation around the frame
  ==========================  =====================================================================

- :func:`timbre_window_stats`: statistics of a window that are not per-frame values: the skewness
  and excess kurtosis of every MFCC (``mfcc_K_skew``, ``mfcc_K_kurt``), the low-energy rate
  (share of frames quieter than the window's mean power; Tzanetakis & Cook 2002), the dynamic
  range (``dynamic_range_db``: 95th minus 5th percentile of the frame level, audible frames) and
  the rhythm regularity ``ioi_cv`` (coefficient of variation of the inter-onset intervals).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

#: Spectral peaks per frame entering roughness and inharmonicity (the strongest ones).
N_PEAKS = 20
#: Peaks quieter than this fraction of the frame's strongest bin are ignored (-40 dB).
_PEAK_FLOOR = 0.01
#: Band of the peaks (Hz): below it is rumble, above it partials barely affect dissonance.
_PEAK_BAND_HZ = (30.0, 5000.0)
# Sethares (1993), "Local consonance and the relationship between timbre and scale", JASA 94(3):
# d = a1 a2 (exp(-b1 s df) - exp(-b2 s df)), s = d* / (s1 fmin + s2).
_B1, _B2, _DSTAR, _S1, _S2 = 3.5, 5.75, 0.24, 0.0207, 18.96
#: A peak counts as the fundamental candidate if it reaches this share of the strongest peak.
_F0_SHARE = 0.1
#: Full width (s) of the chroma smoothing for the local key clarity and mode strength.
LOCAL_KEY_S = 3.0
_CHUNK = 2048  # frames per block of the pairwise peak computation (bounded memory on long audio)
_AUDIBLE_DB = -60.0
#: Column stems of this family (after the ``audio_`` prefix), for the ablation's family map.
FRAME_NAMES = ("roughness", "inharmonicity", "crest_db", *(f"tonnetz_{i}" for i in range(6)),
               "local_key_clarity", "local_mode_strength")
WINDOW_STEMS = ("low_energy_rate", "dynamic_range_db", "ioi_cv")
MOMENT_SUFFIXES = ("_skew", "_kurt")


def is_family_column(stem: str) -> bool:
    """Whether a column stem (name without ``audio_``) belongs to this family."""
    return (stem.startswith(FRAME_NAMES) or stem in WINDOW_STEMS
            or (stem.startswith("mfcc_") and stem.endswith(MOMENT_SUFFIXES)))


def spectral_peaks(mag: np.ndarray, sr: int, n_fft: int, n_peaks: int = N_PEAKS) -> tuple[np.ndarray, np.ndarray]:
    """Strongest spectral peaks of every frame, frequencies refined by parabolic interpolation.

    Parameters
    ----------
    mag : ndarray, shape (n_bins, n_frames)
        STFT magnitude (``n_bins = n_fft // 2 + 1``).
    sr, n_fft : int
        Sampling rate (Hz) and FFT size.
    n_peaks : int
        Peaks kept per frame.

    Returns
    -------
    freqs_hz, amps : ndarray, shape (n_peaks, n_frames)
        Peak frequencies (Hz) and magnitudes; unused slots have amplitude 0.
    """
    n_bins, n = np.shape(mag)
    # frames as rows (a float64 copy, as the peaks are refined in float64): every step below then
    # reads contiguous memory. np.argpartition selects in each frame's own 1-D copy of its values,
    # so it returns the same indices in the same order as along the columns of ``mag``, and the
    # peaks enter roughness and inharmonicity in the same order (their sums round the same).
    mt = np.ascontiguousarray(np.asarray(mag).T, dtype=np.float64)  # (n_frames, n_bins)
    bins_hz = np.arange(1, n_bins - 1) * sr / n_fft
    band = np.flatnonzero((bins_hz >= _PEAK_BAND_HZ[0]) & (bins_hz <= _PEAK_BAND_HZ[1]))
    # candidates (rows of mag[1:-1]): local maxima in the band, above the floor; 0 elsewhere
    cand = np.zeros((n, max(n_bins - 2, 0)))
    if len(band):
        lo, hi = band[0], band[-1] + 1  # only the band is compared
        inner = mt[:, 1 + lo:1 + hi]
        floor = _PEAK_FLOOR * mt.max(axis=1, keepdims=True)
        peak = (inner > mt[:, lo:hi]) & (inner >= mt[:, 2 + lo:2 + hi]) & (inner > floor) & (inner > 0)
        np.copyto(cand[:, lo:hi], inner, where=peak)
    k = min(n_peaks, cand.shape[1])
    np.negative(cand, out=cand)  # the strongest first: select the smallest of the negated values
    idx = np.argpartition(cand, k - 1, axis=1)[:, :k]  # (n, k) rows of `inner`
    rows = np.arange(n)[:, None]
    amps = -cand[rows, idx]
    b = idx + 1  # bin in `mag`
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lo, log_mid, log_hi = (np.log(np.maximum(mt[rows, b + d], 1e-30)) for d in (-1, 0, 1))
        denom = log_lo - 2 * log_mid + log_hi
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (log_lo - log_hi) / denom, 0.0)
    freqs = (b + np.clip(shift, -0.5, 0.5)) * sr / n_fft
    # back to (n_peaks, n_frames), C-ordered as the callers' reductions expect
    return np.ascontiguousarray(np.where(amps > 0, freqs, 0.0).T), np.ascontiguousarray(amps.T)


def roughness(freqs_hz: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """Level-free sensory dissonance of sets of partials (one set per column).

    ``sum_{i<j} a_i a_j (exp(-b1 s df) - exp(-b2 s df)) / (sum_i a_i)^2`` with Sethares' (1993)
    constants; NaN where no partial sounds.

    Parameters
    ----------
    freqs_hz, amps : ndarray, shape (n_partials, n_frames)

    Returns
    -------
    ndarray, shape (n_frames,)

    Examples
    --------
    >>> r = roughness(np.array([[440.0, 440.0], [660.0, 466.2]]), np.ones((2, 2)))
    >>> bool(r[1] > r[0])  # a semitone beats more than a fifth
    True
    """
    f = np.asarray(freqs_hz, dtype=np.float64)
    a = np.asarray(amps, dtype=np.float64)
    out = np.empty(f.shape[1])
    for s0 in range(0, f.shape[1], _CHUNK):
        fs, as_ = f[:, s0:s0 + _CHUNK], a[:, s0:s0 + _CHUNK]
        df = np.abs(fs[:, None] - fs[None])
        s = _DSTAR / (_S1 * np.minimum(fs[:, None], fs[None]) + _S2)
        d = as_[:, None] * as_[None] * (np.exp(-_B1 * s * df) - np.exp(-_B2 * s * df))
        total = as_.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s0:s0 + _CHUNK] = np.where(total > 0, 0.5 * d.sum(axis=(0, 1)) / total ** 2, np.nan)
    return out


def inharmonicity(freqs_hz: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """Distance of the partials from the harmonic series of the lowest strong partial.

    The reference ``f0`` of a frame is its lowest peak reaching ``_F0_SHARE`` of the strongest;
    each peak at ``f >= f0`` scores ``2 |f/f0 - round(f/f0)|`` (0 on a harmonic, 1 half-way), and
    the frame value is the amplitude-weighted mean. NaN where no partial sounds.

    Parameters
    ----------
    freqs_hz, amps : ndarray, shape (n_partials, n_frames)

    Returns
    -------
    ndarray, shape (n_frames,), in [0, 1]
    """
    f = np.asarray(freqs_hz, dtype=np.float64)
    a = np.asarray(amps, dtype=np.float64)
    strong = a >= _F0_SHARE * a.max(axis=0, keepdims=True)
    strong &= a > 0
    f0 = np.where(strong, f, np.inf).min(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = f / f0
        dev = 2 * np.abs(ratio - np.round(ratio))
        w = np.where((a > 0) & (f >= f0 * (1 - 1e-9)), a, 0.0)
        return np.where(np.isfinite(f0), (w * dev).sum(axis=0) / w.sum(axis=0), np.nan)


def crest_db(y: np.ndarray, n_fft: int, hop_length: int, n_frames: int) -> np.ndarray:
    """Peak-to-RMS ratio (dB) of the centred frames of ``y`` (the STFT's framing); NaN when silent."""
    y = np.asarray(y, dtype=np.float64)
    padded = np.pad(y, n_fft // 2)
    need = (n_frames - 1) * hop_length + n_fft
    if len(padded) < need:
        padded = np.pad(padded, (0, need - len(padded)))

    def frames(x):  # the centred frames as a view (n_frames, n_fft) of a per-sample series
        return np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop_length][:n_frames]

    # |y| and y**2 once per sample rather than per frame sample (frames overlap 4x); the same
    # values, and each frame's mean sums its contiguous row in the same order
    peak = frames(np.abs(padded)).max(axis=1)
    rms = np.sqrt(frames(np.square(padded)).mean(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rms > 1e-5, 20 * np.log10(peak / rms), np.nan)


def timbre_frames(*, y: np.ndarray, mag: np.ndarray, sr: int, n_fft: int, hop_length: int,
                  chroma: np.ndarray, key_correlations) -> dict[str, np.ndarray]:
    """Frame series of this family (see the module docstring), aligned with the STFT frames.

    The union of :func:`timbre_local_frames` (frame-local: computed per block on long audio) and
    :func:`timbre_chroma_frames` (smoothed over seconds of chroma: computed on the joined frames).

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono signal.
    mag : ndarray, shape (n_fft // 2 + 1, n_frames)
        Its STFT magnitude.
    sr, n_fft, hop_length : int
        Rate (Hz), FFT size and hop (samples) of ``mag``.
    chroma : ndarray, shape (12, n_frames)
        Chroma on the same frames.
    key_correlations : callable
        :func:`neuromer.audio.features.key_correlations` (passed in: that module calls this one).

    Returns
    -------
    dict of str -> ndarray, shape (n_frames,)
        ``roughness``, ``inharmonicity``, ``crest_db``, ``tonnetz_0..5``, ``local_key_clarity``,
        ``local_mode_strength`` (float64).
    """
    out = timbre_local_frames(y=y, mag=mag, sr=sr, n_fft=n_fft, hop_length=hop_length)
    out.update(timbre_chroma_frames(chroma=chroma, sr=sr, hop_length=hop_length, key_correlations=key_correlations))
    return out


def timbre_local_frames(*, y: np.ndarray, mag: np.ndarray, sr: int, n_fft: int, hop_length: int) -> dict[str, np.ndarray]:
    """``roughness``, ``inharmonicity`` and ``crest_db``: each frame from its own spectrum/samples only.

    Parameters are those of :func:`timbre_frames`; returns float64 arrays of shape (n_frames,).
    """
    n = mag.shape[1]
    freqs, amps = spectral_peaks(mag, sr, n_fft)
    out = {"roughness": roughness(freqs, amps), "inharmonicity": inharmonicity(freqs, amps),
           "crest_db": crest_db(y, n_fft, hop_length, n)}
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def timbre_chroma_frames(*, chroma: np.ndarray, sr: int, hop_length: int, key_correlations) -> dict[str, np.ndarray]:
    """``tonnetz_0..5`` and ``local_key_clarity`` / ``local_mode_strength`` from the clip's chroma.

    They smooth the chroma over 9 frames and over ``LOCAL_KEY_S``, so they run on the whole
    clip's (or the joined blocks') chroma. Parameters are those of :func:`timbre_frames`.
    """
    import librosa
    from scipy.ndimage import uniform_filter1d

    out = {}
    chroma = np.asarray(chroma, dtype=np.float64)
    smooth = uniform_filter1d(chroma, size=9, axis=1, mode="nearest")  # ~0.2 s, as for harmonic change
    tonal = librosa.feature.tonnetz(chroma=smooth, sr=sr)
    for i in range(6):
        out[f"tonnetz_{i}"] = tonal[i]
    size = max(1, int(round(LOCAL_KEY_S * sr / hop_length)))
    # compressed chroma, as key finding weighs it (features.key_chroma)
    local = uniform_filter1d(np.sqrt(np.maximum(chroma, 0.0)), size=size, axis=1, mode="nearest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # silent stretches: all-NaN rows
        r = key_correlations(local.T)
        out["local_key_clarity"] = np.nanmax(r, axis=1)
        out["local_mode_strength"] = np.nanmax(r[:, :12], axis=1) - np.nanmax(r[:, 12:], axis=1)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def timbre_window_stats(ff, wins) -> pd.DataFrame:
    """Per-window statistics of this family that are not means of a frame series.

    Parameters
    ----------
    ff : FrameFeatures
        Frame features of the clip (``mfcc_*``, ``rms_db``, onsets).
    wins : sequence of (t_start_s, t_end_s)

    Returns
    -------
    DataFrame
        One row per window: ``mfcc_K_skew``, ``mfcc_K_kurt`` (K = 0..12; excess kurtosis, NaN with
        fewer than 4 frames), ``low_energy_rate`` (0..1), ``dynamic_range_db`` and ``ioi_cv`` (NaN
        with fewer than 3 onsets in the window).
    """
    wins = np.asarray(wins, dtype=float).reshape(-1, 2)
    bounds = np.searchsorted(ff.times, wins)
    rows = []
    n_mfcc = sum(1 for k in ff.values if k.startswith("mfcc_"))
    mfcc = np.vstack([ff.values[f"mfcc_{i}"] for i in range(n_mfcc)])
    level_db = ff.values["rms_db"]
    for (t0, t1), (i0, i1) in zip(wins, bounds):
        i0 = min(i0, len(ff.times) - 1)
        i1 = min(max(i1, i0 + 1), len(ff.times))
        row = {}
        m = mfcc[:, i0:i1]
        if m.shape[1] >= 4:
            z = m - m.mean(axis=1, keepdims=True)
            var = (z ** 2).mean(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                skew = np.where(var > 0, (z ** 3).mean(axis=1) / var ** 1.5, 0.0)
                kurt = np.where(var > 0, (z ** 4).mean(axis=1) / var ** 2 - 3.0, 0.0)
        else:
            skew = kurt = np.full(n_mfcc, np.nan)
        for i in range(n_mfcc):
            row[f"mfcc_{i}_skew"], row[f"mfcc_{i}_kurt"] = float(skew[i]), float(kurt[i])
        db = level_db[i0:i1]
        power = 10 ** (db / 10)
        audible = db[db > _AUDIBLE_DB]
        row["low_energy_rate"] = float(np.mean(power < power.mean())) if len(audible) else np.nan
        row["dynamic_range_db"] = (float(np.percentile(audible, 95) - np.percentile(audible, 5))
                                   if len(audible) >= 2 else np.nan)
        on = ff.onsets_s[(ff.onsets_s >= t0) & (ff.onsets_s < t1)]
        ioi = np.diff(on)
        row["ioi_cv"] = float(ioi.std() / ioi.mean()) if len(ioi) >= 2 and ioi.mean() > 0 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
