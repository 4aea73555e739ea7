"""EEG features on the shared window grid, vectorised over trials x channels x windows.

Spectra are single-segment periodograms of each window: the window's mean is removed, a periodic
Hamming taper is applied and the one-sided power spectral density is scaled exactly as
:func:`mne.time_frequency.psd_array_welch` (``n_fft = n_per_seg`` = window length, no overlap,
``window="hamming"``) computes it for that window. **Band power** is the PSD summed over the bins
``fmin <= f < fmax`` times the bin width (µV²), i.e. the band-limited variance. The windows are a
strided view (see :func:`neuromer.windows.sliding_windows`) transformed in cache-sized chunks of
many windows each; there is no Python loop over windows, and only the bins inside the bands are
tapered, squared and summed (see :func:`_periodograms`). :func:`window_band_power` and
:func:`window_psd` expose the kernel.

Features (column names, ``ch`` an EEG channel, ``band`` a key of ``bands``):

- ``eeg_{band}_{ch}``: band power in µV².
- ``eeg_rel_{band}_{ch}``: band power over the power in ``[min fmin, max fmax)`` of all bands
  (4-45 Hz by default; bands may overlap, so relative powers need not sum to 1).
- ``eeg_de_{band}_{ch}``: differential entropy of the band-limited signal assumed Gaussian,
  ``0.5 * ln(2 * pi * e * P)`` with ``P`` the band power in µV² (Shi et al. 2013, EMBC).
- ``eeg_dasm_{band}_{L}-{R}`` / ``eeg_rasm_{band}_{L}-{R}``: differential / rational asymmetry of
  the DE of symmetric pairs, ``DE(L) - DE(R)`` and ``DE(L) / DE(R)`` (Duan et al. 2013), for the 14
  pairs of :data:`DEAP_PAIRS` present.
- ``eeg_faa``: frontal alpha asymmetry ``ln P_alpha(F4) - ln P_alpha(F3)`` (the F4/F3 pair only;
  positive means more right alpha, i.e. relatively more left-frontal activity).
- ``eeg_hjorth_mobility_{ch}``, ``eeg_hjorth_complexity_{ch}``: Hjorth parameters of the window
  (mobility in units of the sample-difference operator, i.e. independent of ``sfreq``).
- ``eeg_spectral_entropy_{ch}``: Shannon entropy of the normalised PSD in ``[min fmin, max fmax)``,
  divided by ``ln(n_bins)`` so it lies in [0, 1].

A family that cannot be computed is left out with one warning saying why (e.g. "no frontal alpha
asymmetry (eeg_faa): channel F4 not found (EEG channels: ...)"); file readers normalise electrode
names to the 10-05 spelling (:mod:`neuromer.io.channel_names`) so that ``F3..`` or ``EEG F3-Ref``
count as ``F3``.

Windows containing NaN give NaN features; a flat window (all samples equal, e.g. a disconnected
channel or a clipped amplifier) gives exactly zero power and NaN for everything derived from a log
or a ratio (DE, asymmetry, relative power, Hjorth, entropy). No error is raised for either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._checks import check_option, validate_type
from .._logging import logger
from ..errors import NeuromerError
from ..session import Trials
from ..windows import KEY_COLUMNS, WindowGrid, sliding_windows

if TYPE_CHECKING:  # pandas loads only to build the DataFrames: `neuromer features eeg` writes columns
    import pandas as pd

#: Frequency bands in Hz (DEAP, Koelstra et al. 2012, IEEE TAC 3(1)), half-open ``[fmin, fmax)``.
DEFAULT_BANDS: dict[str, tuple[float, float]] = {
    "theta": (4.0, 8.0), "slow_alpha": (8.0, 10.0), "alpha": (8.0, 12.0),
    "beta": (12.0, 30.0), "gamma": (30.0, 45.0),
}
#: The 14 symmetric electrode pairs (left, right) of the DEAP paper's asymmetry features.
DEAP_PAIRS: tuple[tuple[str, str], ...] = (
    ("Fp1", "Fp2"), ("AF3", "AF4"), ("F3", "F4"), ("F7", "F8"), ("FC5", "FC6"), ("FC1", "FC2"),
    ("C3", "C4"), ("T7", "T8"), ("CP5", "CP6"), ("CP1", "CP2"), ("P3", "P4"), ("P7", "P8"),
    ("PO3", "PO4"), ("O1", "O2"),
)
#: Bands of the DEAP paper's per-trial asymmetry features (slow alpha left out, as in the paper).
DEAP_ASYMMETRY_BANDS = ("theta", "alpha", "beta", "gamma")
#: Frontal alpha asymmetry pair (left, right).
FAA_PAIR = ("F3", "F4")
_CHUNK_VALUES = 1_000_000  # samples per chunk: temporaries of a few MB, whatever the data size
_HAMMING = (0.54, 0.46)  # periodic Hamming taper a0 - a1 cos(2 pi t / n), scipy's "hamming"
_FFT_CHUNK_VALUES = 1 << 17  # window samples per FFT chunk (1 MB): stays in cache
_HJORTH_ROW_VALUES = 1 << 16  # samples of the signals the Hjorth parameters take at a time (0.5 MB)


def check_bands(bands) -> dict[str, tuple[float, float]]:
    """Validate a ``{name: (fmin, fmax)}`` mapping of frequency bands in Hz."""
    validate_type(bands, dict, "bands")
    if not bands:
        raise NeuromerError("Invalid value for the 'bands' parameter: expected at least one band.")
    out = {}
    for name, lim in bands.items():
        try:
            lo, hi = (float(v) for v in lim)
        except (TypeError, ValueError):
            raise NeuromerError(f"Invalid band {name!r}: expected (fmin, fmax) in Hz, got {lim!r}.") from None
        if not 0 <= lo < hi:
            raise NeuromerError(f"Invalid band {name!r}: expected 0 <= fmin < fmax, got ({lo}, {hi}).")
        out[str(name)] = (lo, hi)
    return out


def _hamming(n: int) -> np.ndarray:
    """The periodic Hamming taper of ``n`` samples, equal to ``scipy.signal.get_window("hamming", n)``.

    Computed here with scipy's formula and operation order (so bit for bit the same) because
    importing :mod:`scipy.signal` costs a command about 0.3-0.5 s, most of it scipy.stats. For the
    same reason the FFTs are numpy's (the same pocketfft as :mod:`scipy.fft`, equal results for
    float64) and ``0 log 0`` is handled here: importing :mod:`scipy.fft` or :mod:`scipy.special`
    costs about 0.2 s of CPU.
    """
    if n <= 1:
        return np.ones(max(n, 0))
    return _HAMMING[0] + (1 - _HAMMING[0]) * np.cos(np.linspace(-np.pi, np.pi, n + 1)[:-1])


def _psd_scale(n: int, sfreq: float, taper: np.ndarray) -> np.ndarray:
    """Per-bin factor turning ``|rfft(taper * x)|**2`` into the one-sided PSD of ``psd_array_welch``."""
    scale = np.full(n // 2 + 1, 1.0 / (sfreq * np.sum(taper ** 2)))
    scale[1:(n + 1) // 2] *= 2.0  # every bin but DC (and Nyquist when n is even) doubled
    return scale


def _bin_scale(n: int, sfreq: float, k0: int, k1: int) -> tuple[np.ndarray, bool]:
    """PSD factor of the bins ``k0:k1`` of :func:`_periodograms`'s ``sq``, and whether it tapers in frequency."""
    scale = _psd_scale(n, sfreq, _hamming(n))[k0:k1]
    in_frequency = 1 <= k0 and k1 <= n // 2 and n > 2
    if in_frequency:  # the spectral filter there omits the factor 0.54 (see _periodograms)
        scale = scale * _HAMMING[0] ** 2
    return scale, in_frequency


def _periodograms(windows: np.ndarray, sfreq: float, k0: int, k1: int, weights: np.ndarray):
    """Yield ``(sq, powers, index)`` for cache-sized chunks of (n_items, n_ch, n_win, n) windows.

    The one-sided PSD bins ``k0:k1`` of each window equal those of
    :func:`mne.time_frequency.psd_array_welch` with one Hamming segment per window; ``weights``
    (shape (k1 - k0, m)) combines them: ``powers = psd @ weights`` (shape (c, w, m)) for the windows
    ``windows[index]``, ``index = (item, channel slice, window slice)``. ``sq`` (shape
    (c, w, 2 * (k1 - k0))) holds squared real and imaginary parts, interleaved, for callers that
    need single bins: ``psd = (sq[..., 0::2] + sq[..., 1::2]) * _bin_scale(n, sfreq, k0, k1)[0]``.

    Four things make this fast without changing the result:

    - The windows are processed in chunks of about 1 MB, which stay in cache.
    - The periodic Hamming taper ``0.54 - 0.46 cos(2 pi t / n)`` has Fourier coefficients at bins
      0 and +-1 only, so tapering is a 3-tap filter on the spectrum,
      ``0.54 X[k] - 0.23 (X[k - 1] + X[k + 1])``, applied to the bins ``k0:k1`` only rather than to
      every sample (when ``k0 >= 1`` and ``k1 <= n // 2``, so that every neighbour is in the
      one-sided spectrum; otherwise the taper multiplies the samples).
    - For the same reason removing a window's mean changes the tapered bins 0 and 1 only: it is
      done (zeroing the untapered DC bin, or subtracting ``mean * rfft(taper)`` from bins 0 and 1)
      only if ``k0 < 2``.
    - A window whose samples are all equal has exactly zero power. An FFT leaves rounding residue
      (about 1e-30 of the window's DC power) for most constants, so windows with that little power
      in ``k0:k1`` are checked sample by sample and zeroed if they are flat. Windows with NaN give
      NaN.
    """
    n_items, n_ch, n_win, n = windows.shape
    taper = _hamming(n)  # periodic, as scipy.signal.spectrogram uses
    scale, in_frequency = _bin_scale(n, sfreq, k0, k1)
    neighbour = -_HAMMING[1] / 2 / _HAMMING[0]  # X[k] + neighbour (X[k-1] + X[k+1]), times 0.54
    # squared real and imaginary parts side by side: one product sums them and applies the weights;
    # the last column is the unscaled in-range power for the flatness check
    w2 = np.repeat(np.column_stack([weights * scale[:, None], np.ones(k1 - k0)]), 2, axis=0)
    n_dc = min(2, n // 2 + 1)  # the tapered bins the mean reaches
    taper_dc = np.fft.rfft(taper)[:n_dc]
    wc = min(n_win, max(1, _FFT_CHUNK_VALUES // n))
    cc = min(n_ch, max(1, _FFT_CHUNK_VALUES // (wc * n)))
    buf = np.empty(cc * wc * n)
    for i in range(n_items):
        for c0 in range(0, n_ch, cc):
            for w0 in range(0, n_win, wc):
                w = windows[i, c0:c0 + cc, w0:w0 + wc].astype(np.float64, copy=False)  # no float32 FFT
                if in_frequency:
                    spec = np.fft.rfft(w, axis=-1)
                    dc_power = spec[..., 0].real ** 2  # (n c)**2 for a window of constant c
                    if k0 < n_dc:
                        spec[..., 0] = 0.0
                    v = spec[..., k0 - 1:k1 + 1].view(np.float64)  # re, im interleaved
                    sq = np.add(v[..., :-4], v[..., 4:])
                    sq *= neighbour
                    sq += v[..., 2:-2]
                else:
                    x = buf[:w.size].reshape(w.shape)
                    np.multiply(w, taper, out=x)
                    spec = np.fft.rfft(x, axis=-1)
                    dc_power = spec[..., 0].real ** 2  # (c * sum(taper))**2 for a constant c
                    if k0 < n_dc:
                        spec[..., :n_dc] -= w.mean(axis=-1)[..., None] * taper_dc
                    sq = spec[..., k0:k1].view(np.float64)
                np.square(sq, out=sq)
                powers = sq @ w2
                maybe_flat = np.nonzero(powers[..., -1] <= 1e-20 * dc_power)
                if maybe_flat[0].size:
                    cand = w[maybe_flat]
                    flat = tuple(ix[cand.max(axis=-1) == cand.min(axis=-1)] for ix in maybe_flat)
                    powers[flat] = 0.0
                    sq[flat] = 0.0
                yield sq, powers[..., :-1], (i, slice(c0, c0 + cc), slice(w0, w0 + wc))


def _as_4d(windows: np.ndarray) -> np.ndarray:
    """(..., n) windows as (items, channels, windows, n) without copying a 4-D strided view."""
    windows = np.asarray(windows)
    if windows.ndim == 0:
        raise NeuromerError("Invalid 'windows': expected an array of windows (..., n_samples), got a scalar.")
    if windows.ndim > 4:
        windows = windows.reshape((-1,) + windows.shape[-3:])
    return windows[(None,) * (4 - windows.ndim)]


def window_psd(windows: np.ndarray, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided PSD of each window, as ``psd_array_welch`` computes it for one segment.

    The window's mean is removed, a periodic Hamming taper applied, and the PSD scaled as
    :func:`mne.time_frequency.psd_array_welch` with ``n_fft = n_per_seg`` = window length,
    ``window="hamming"``. A window whose samples are all equal has exactly zero power.

    Parameters
    ----------
    windows : ndarray, shape (..., n_window_samples)
        Signals (e.g. µV), any leading shape (a strided view is fine).
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
        Frequencies in Hz (``n_window_samples // 2 + 1`` bins).
    psd : ndarray, shape (..., n_freqs)
        Power spectral density in unit²/Hz.
    """
    w4 = _as_4d(windows)
    n = w4.shape[-1]
    psd = np.empty(w4.shape[:-1] + (n // 2 + 1,))
    scale, _ = _bin_scale(n, sfreq, 0, n // 2 + 1)
    for sq, _, index in _periodograms(w4, sfreq, 0, n // 2 + 1, np.zeros((n // 2 + 1, 0))):
        psd[index] = (sq[..., 0::2] + sq[..., 1::2]) * scale
    return np.fft.rfftfreq(n, 1.0 / sfreq), psd.reshape(np.shape(windows)[:-1] + (n // 2 + 1,))


def window_band_power(windows: np.ndarray, sfreq: float, bands: dict = DEFAULT_BANDS) -> np.ndarray:
    """Band power of each window: its :func:`window_psd` summed over ``fmin <= f < fmax`` times the bin width.

    Parameters
    ----------
    windows : ndarray, shape (..., n_window_samples)
        Signals (e.g. µV), any leading shape (a strided view is fine).
    sfreq : float
        Sampling rate in Hz.
    bands : dict
        ``{name: (fmin, fmax)}`` in Hz.

    Returns
    -------
    power : ndarray, shape (..., n_bands)
        Band powers in unit² (the band-limited variance), bands in the order of ``bands``.
    """
    bands = check_bands(bands)
    w4 = _as_4d(windows)
    power, _, _ = _spectral_features(w4, sfreq, bands, entropy=False)
    return np.moveaxis(power, 0, -1).reshape(np.shape(windows)[:-1] + (len(bands),))


def band_masks(freqs: np.ndarray, bands: dict) -> np.ndarray:
    """Boolean matrix (n_bands, n_freqs) of the bins ``fmin <= f < fmax`` of each band."""
    return np.array([(freqs >= lo) & (freqs < hi) for lo, hi in bands.values()])


def _log(x: np.ndarray) -> np.ndarray:
    """Natural log with NaN (not -inf) for zero power: a flat channel has no defined log power."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(x > 0, x, np.nan))


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    return np.where(b == 0, np.nan, out)


def _band_bins(freqs: np.ndarray, bands: dict) -> tuple[int, int]:
    """The contiguous bin range ``k0:k1`` of ``[min fmin, max fmax)`` (empty if no bin falls in it)."""
    lo = min(b[0] for b in bands.values())
    hi = max(b[1] for b in bands.values())
    inside = np.nonzero((freqs >= lo) & (freqs < hi))[0]
    return (int(inside[0]), int(inside[-1]) + 1) if inside.size else (0, 0)


def _spectral_features(windows: np.ndarray, sfreq: float, bands: dict, *, entropy: bool = True):
    """Band powers, total power and spectral entropy of (n, n_ch, n_win, n_samples) windows.

    Returns arrays shaped (n_bands, n, n_ch, n_win) for band powers and (n, n_ch, n_win) for the
    power in ``[min fmin, max fmax)`` and the entropy (``None`` unless ``entropy``).
    """
    n_items, n_ch, n_win, n_samp = windows.shape
    freqs = np.fft.rfftfreq(n_samp, 1.0 / sfreq)
    k0, k1 = _band_bins(freqs, bands)
    # one matrix product gives every band power and the total: columns are bands, then all bins
    weights = np.vstack([band_masks(freqs, bands), np.ones_like(freqs, dtype=bool)])[:, k0:k1].T
    weights = weights * (sfreq / n_samp)
    out = np.zeros((n_items, n_ch, n_win, len(bands) + 1))
    ent = np.full((n_items, n_ch, n_win), np.nan) if entropy else None
    log_bins = np.log(max(k1 - k0, 2))
    scale, _ = _bin_scale(n_samp, sfreq, k0, k1)
    scale_varies = bool(np.ptp(scale) > 0) if scale.size else False  # DC or Nyquist in range
    if k1 > k0 and out.size:
        for sq, powers, index in _periodograms(windows, sfreq, k0, k1, weights):
            out[index] = powers
            if entropy:  # the entropy of the normalised PSD needs no constant factor
                psd = sq[..., 0::2] + sq[..., 1::2]
                if scale_varies:
                    psd *= scale
                tot = psd.sum(axis=-1, keepdims=True)
                with np.errstate(divide="ignore", invalid="ignore"):
                    p = psd / tot
                    plogp = p * np.log(p)
                    plogp[p == 0] = 0.0  # the limit 0 log 0 = 0, as scipy.special.xlogy
                    e = -plogp.sum(axis=-1) / log_bins
                ent[index] = np.where(tot[..., 0] > 0, e, np.nan)
    if k1 == k0:  # no bin inside the bands: powers are zero, entropy undefined
        out[np.isnan(windows).any(axis=-1)] = np.nan
    power = np.moveaxis(out[..., :-1], -1, 0)
    return power, out[..., -1], ent


def _hjorth(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hjorth mobility and complexity of each window, shapes (...) of ``windows[..., 0]``."""
    d1 = np.diff(windows, axis=-1)
    d2 = np.diff(d1, axis=-1)
    return _hjorth_from_vars(np.var(windows, axis=-1), np.var(d1, axis=-1), np.var(d2, axis=-1))


def _hjorth_from_vars(v0, v1, v2):
    mobility = np.sqrt(_div(v1, v0))
    complexity = _div(np.sqrt(_div(v2, v1)), mobility)
    return mobility, complexity


def _window_var(y: np.ndarray, first: int, hop: int, n: int, length: int) -> np.ndarray:
    """Variance of ``y[..., s:s + length]`` for ``s = first + k * hop``, ``k < n``.

    Sums of ``y`` and ``y**2`` over a strided window view: no per-window temporaries, and a
    non-finite sample only spoils the windows that hold it.
    """
    def wsum(z):
        view = np.lib.stride_tricks.sliding_window_view(z[..., first:first + (n - 1) * hop + length],
                                                        length, axis=-1)
        return view[..., ::hop, :].sum(axis=-1)

    m1 = wsum(y) / length
    m2 = wsum(np.square(y)) / length
    var = np.maximum(m2 - m1 * m1, 0.0)
    # E[y^2] - E[y]^2 leaves ~1e-16 relative residue where a window is exactly flat: call it zero
    var[var <= 1e-12 * m2] = 0.0
    return var


def _hjorth_continuous(data: np.ndarray, first: int, hop: int, n: int, n_win: int):
    """Hjorth parameters of the ``n`` windows ``data[..., s:s + n_win]``, ``s = first + k * hop``.

    Equivalent to :func:`_hjorth` on the windows (to rounding) but computes each difference
    signal once rather than once per overlapping window. Works through a few signals at a time
    (about 0.5 MB each temporary): the half dozen temporaries stay in cache and reuse the same
    memory, where whole chunks of trials needed ~6 MB each in fresh pages (for a DEAP subject
    ~20000 page faults, half of this function's first-call time).
    """
    data = np.asarray(data, dtype=np.float64)
    if n_win < 3 or n == 0:  # needs a second difference
        nan = np.full(data.shape[:-1] + (n,), np.nan)
        return nan, nan
    mobility = np.empty(data.shape[:-1] + (n,))
    complexity = np.empty(data.shape[:-1] + (n,))
    block = data.reshape((1,) * (3 - data.ndim) + data.shape) if data.ndim < 3 else data
    mob = mobility.reshape(block.shape[:-1] + (n,))
    com = complexity.reshape(block.shape[:-1] + (n,))
    step = max(1, _HJORTH_ROW_VALUES // max(1, data.shape[-1]))
    for lead in np.ndindex(block.shape[:-2]):  # rows of one trial are a view even of channel-sliced data
        rows = block[lead]
        for r0 in range(0, rows.shape[0], step):
            y = rows[r0:r0 + step]
            with np.errstate(invalid="ignore"):
                centred = y - np.nanmean(y, axis=-1, keepdims=True)  # E[y^2] - E[y]^2 stays accurate
            d1 = np.diff(y, axis=-1)  # differences have ~zero mean: no centring needed
            v0 = _window_var(centred, first, hop, n, n_win)
            v1 = _window_var(d1, first, hop, n, n_win - 1)
            v2 = _window_var(np.diff(d1, axis=-1), first, hop, n, n_win - 2)
            mob[lead][r0:r0 + step], com[lead][r0:r0 + step] = _hjorth_from_vars(v0, v1, v2)
    return mobility, complexity


def _pairs_present(ch_names: list[str], pairs=DEAP_PAIRS) -> list[tuple[int, int, str]]:
    low = {c.lower(): i for i, c in enumerate(ch_names)}
    out = []
    for left, right in pairs:
        if left.lower() in low and right.lower() in low:
            out.append((low[left.lower()], low[right.lower()], f"{left}-{right}"))
    return out


def warn_missing_families(ch_names: list[str], bands: dict, *, per_trial: bool = False,
                          sfreq: float | None = None, n_window_samples: int | None = None) -> list[str]:
    """Warn once for each feature family the channels, bands or rate cannot give; return the messages.

    Parameters
    ----------
    ch_names : list of str
        EEG channel names.
    bands : dict
        ``{name: (fmin, fmax)}`` in Hz.
    per_trial : bool
        For :func:`eeg_trial_features` (``eeg_asym_*``, no FAA) rather than the window features.
    sfreq : float | None
        Sampling rate in Hz: bands at or above the Nyquist frequency give no power.
    n_window_samples : int | None
        Window length in samples: a band between two frequency bins of the window gives no power.
    """
    shown = ", ".join(ch_names[:16]) + (f", ... ({len(ch_names)} in all)" if len(ch_names) > 16 else "")
    messages = []
    if not _pairs_present(ch_names):
        family = "eeg_asym_*" if per_trial else "eeg_dasm_*, eeg_rasm_*"
        messages.append(f"no asymmetry features ({family}): none of the {len(DEAP_PAIRS)} symmetric pairs "
                        f"({', '.join('/'.join(p) for p in DEAP_PAIRS[:4])}, ...) is among the EEG channels "
                        f"({shown}).")
    if not per_trial:
        low = {c.lower() for c in ch_names}
        missing = [c for c in FAA_PAIR if c.lower() not in low]
        if "alpha" not in bands:
            messages.append(f"no frontal alpha asymmetry (eeg_faa): the bands ({', '.join(bands)}) have no 'alpha'.")
        elif missing:
            which = "channels " + "/".join(missing) if len(missing) > 1 else f"channel {missing[0]}"
            messages.append(f"no frontal alpha asymmetry (eeg_faa): {which} not found (EEG channels: {shown}).")
    if sfreq is not None:
        nyquist = sfreq / 2
        freqs = np.fft.rfftfreq(n_window_samples, 1.0 / sfreq) if n_window_samples else None
        for band, (lo, hi) in bands.items():
            if lo >= nyquist:
                messages.append(f"no {band} power (eeg_*{band}*): the band ({lo:g}-{hi:g} Hz) lies above the Nyquist "
                                f"frequency ({nyquist:g} Hz at {sfreq:g} Hz); its columns are 0/NaN.")
            elif freqs is not None and not np.any((freqs >= lo) & (freqs < hi)):
                messages.append(f"no {band} power (eeg_*{band}*): no frequency bin of a {n_window_samples}-sample "
                                f"window ({sfreq / n_window_samples:g} Hz apart) lies in {lo:g}-{hi:g} Hz; "
                                "its columns are 0/NaN (use longer windows).")
    for message in messages:
        logger.warning(message)
    return messages


def window_feature_arrays(windows: np.ndarray, sfreq: float, ch_names: list[str],
                          bands: dict = DEFAULT_BANDS, *, _hjorth_params=None,
                          _feature_major: bool = False) -> tuple[np.ndarray, list[str]]:
    """All window features of EEG windows, the kernel shared by offline and online code.

    Parameters
    ----------
    windows : ndarray, shape (n_items, n_channels, n_windows, n_window_samples)
        EEG in µV (e.g. trials x channels x windows x samples, a strided view is fine).
    sfreq : float
        Sampling rate in Hz.
    ch_names : list of str
        EEG channel names (used for asymmetry pairs and column names).
    bands : dict
        ``{name: (fmin, fmax)}`` in Hz.

    Returns
    -------
    features : ndarray, shape (n_items, n_windows, n_features)
    names : list of str
        Column names (``eeg_...``), see the module docstring.
    """
    bands = check_bands(bands)
    windows = np.asarray(windows)
    if windows.ndim != 4:
        raise NeuromerError(f"Invalid shape for the 'windows' parameter: expected 4 dimensions, got {windows.shape}.")
    n_items, n_ch, n_win, _ = windows.shape
    if len(ch_names) != n_ch:
        raise NeuromerError(f"Got {len(ch_names)} channel names for windows with {n_ch} channels.")
    power, total, entropy = _spectral_features(windows, sfreq, bands)
    de = 0.5 * _log(2 * np.pi * np.e * power)
    blocks: list[np.ndarray] = []  # each (n_items, n_ch_or_pairs, n_win)
    names: list[str] = []
    for b, band in enumerate(bands):
        blocks.append(power[b]); names += [f"eeg_{band}_{c}" for c in ch_names]
    for b, band in enumerate(bands):
        blocks.append(_div(power[b], total)); names += [f"eeg_rel_{band}_{c}" for c in ch_names]
    for b, band in enumerate(bands):
        blocks.append(de[b]); names += [f"eeg_de_{band}_{c}" for c in ch_names]
    pairs = _pairs_present(ch_names)
    if pairs:
        left = [p[0] for p in pairs]
        right = [p[1] for p in pairs]
        for b, band in enumerate(bands):
            blocks.append(de[b][:, left] - de[b][:, right]); names += [f"eeg_dasm_{band}_{p[2]}" for p in pairs]
        for b, band in enumerate(bands):
            blocks.append(_div(de[b][:, left], de[b][:, right])); names += [f"eeg_rasm_{band}_{p[2]}" for p in pairs]
    faa = _pairs_present(ch_names, (FAA_PAIR,))
    if faa and "alpha" in bands:
        a = list(bands).index("alpha")
        i3, i4, _ = faa[0]
        with np.errstate(invalid="ignore"):
            blocks.append((_log(power[a][:, i4]) - _log(power[a][:, i3]))[:, None])
        names.append("eeg_faa")
    mobility, complexity = _hjorth(windows) if _hjorth_params is None else _hjorth_params
    blocks.append(mobility); names += [f"eeg_hjorth_mobility_{c}" for c in ch_names]
    blocks.append(complexity); names += [f"eeg_hjorth_complexity_{c}" for c in ch_names]
    blocks.append(entropy); names += [f"eeg_spectral_entropy_{c}" for c in ch_names]
    feats = np.concatenate(blocks, axis=1)  # (n_items, n_features, n_win)
    if _feature_major:  # for _grid_features, which lays the features out as columns
        return feats, names
    return np.ascontiguousarray(feats.transpose(0, 2, 1)), names


def _eeg_part(trials: Trials) -> tuple[np.ndarray, list[str]]:
    validate_type(trials, Trials, "trials")
    picks = trials.picks("eeg")
    if len(picks) == 0:
        raise NeuromerError("The trials have no EEG channels (ch_types 'eeg'); cannot compute EEG features.")
    names = [trials.ch_names[i] for i in picks]
    if trials.data.flags.c_contiguous and np.array_equal(picks, np.arange(picks[0], picks[0] + len(picks))):
        # adjacent channels (DEAP's 32 EEG before the peripherals): a view, not an 82 MB copy. Only
        # of C-ordered data (.dat files): the kernels need each signal's samples adjacent, and an
        # index copy of Fortran-ordered data (MATLAB files) makes them so
        return trials.data[:, picks[0]:picks[0] + len(picks)], names
    return trials.data[:, picks], names


def _gather(feats: np.ndarray, keys: dict[str, np.ndarray], trials: Trials) -> np.ndarray:
    """Feature columns (n_feat, n_keys) for every (trial, window) key of ``feats`` (n_feat, n_trials, n_win).

    Keys whose window lies beyond the data held for the trial get NaN.
    """
    pos = {t: i for i, t in enumerate(trials.column("trial").astype(int).tolist())}
    ti = np.array([pos[t] for t in keys["trial"].tolist()], dtype=int)
    wi = keys["window"].astype(int, copy=False)
    n_feat, n_trials, n_win = feats.shape
    if (len(ti) == n_trials * n_win and np.array_equal(ti, np.repeat(np.arange(n_trials), n_win))
            and np.array_equal(wi, np.tile(np.arange(n_win), n_trials))):
        # every trial holds every window, in order (the usual case): a view, not a 27 MB copy
        # into fresh memory for a DEAP subject (its page faults cost ~0.07 s)
        return feats.reshape(n_feat, n_trials * n_win)
    out = np.full((n_feat, len(ti)), np.nan)
    ok = wi < n_win
    out[:, ok] = feats[:, ti[ok], wi[ok]]
    return out


def _grid_features(data, sfreq, grid, start_s, names, bands):
    """Window features of (n_trials, n_ch, n_samples) data on the grid from ``start_s``.

    Returns the features as (n_features, n_trials, n_windows), i.e. one contiguous row per
    feature column, and the column names. Works through a few trials at a time: small
    temporaries stay in cache and are reused rather than freshly mapped, which is most of the
    run time on DEAP-sized data.
    """
    win = sliding_windows(data, sfreq, grid, start_s=start_s)
    n_win, n_hop = grid.samples(sfreq)
    first, n = int(round(start_s * sfreq)), win.shape[-2]
    step = max(1, _CHUNK_VALUES // max(1, data.shape[1] * data.shape[2]))
    out, cols = None, None
    for i in range(0, max(data.shape[0], 1), step):
        chunk = data[i:i + step]
        hjorth = _hjorth_continuous(chunk, first, n_hop, n, n_win)
        feats, cols = window_feature_arrays(win[i:i + step], sfreq, names, bands, _hjorth_params=hjorth,
                                            _feature_major=True)
        if out is None:
            out = np.empty((feats.shape[1], data.shape[0], feats.shape[2]))
        out[:, i:i + step] = feats.transpose(1, 0, 2)
    return out, cols


def _window_parts(trials: Trials, grid: WindowGrid, bands: dict, baseline: str | None):
    """Key columns (dict), feature columns (n_features, n_rows) and their names, for the window table."""
    validate_type(grid, WindowGrid, "grid")
    check_option(baseline, ["subtract", "ratio", None], "baseline")
    data, names = _eeg_part(trials)
    warn_missing_families(names, check_bands(bands), sfreq=trials.sfreq,
                          n_window_samples=grid.samples(trials.sfreq)[0])
    feats, cols = _grid_features(data, trials.sfreq, grid, trials.baseline_s, names, bands)
    if baseline is not None:
        base_data = data[..., :int(round(trials.baseline_s * trials.sfreq))]
        base, _ = _grid_features(base_data, trials.sfreq, grid, 0.0, names, bands)
        if base.shape[2] == 0:
            logger.warning("The %.3g s baseline is shorter than one %.3g s window; baseline-corrected "
                           "EEG features are NaN.", trials.baseline_s, grid.window_s)
            ref = np.full((feats.shape[0], feats.shape[1], 1), np.nan)
        else:
            with np.errstate(invalid="ignore"):
                ref = np.nanmean(np.where(np.isfinite(base), base, np.nan), axis=2, keepdims=True)
        feats = feats - ref if baseline == "subtract" else _div(feats, ref)
    keys = grid.key_columns(trials.column("trial"), trials.column("stimulus_id"), trials.column("duration_s"),
                            trials.subject)
    return keys, _gather(feats, keys, trials), cols


def _frame(keys: dict[str, np.ndarray], values: np.ndarray, cols: list[str]) -> pd.DataFrame:
    """Keys and feature columns (n_features, n_rows) as a DataFrame (features in one float block)."""
    import pandas as pd

    key_frame = pd.DataFrame(keys) if len(next(iter(keys.values()))) else pd.DataFrame({c: [] for c in keys})
    # values.T is (n_rows, n_features) in Fortran order: pandas keeps it as one block without a copy
    return pd.concat([key_frame, pd.DataFrame(values.T, columns=cols)], axis=1)


def eeg_window_columns(trials: Trials, *, grid: WindowGrid = WindowGrid(), bands: dict = DEFAULT_BANDS,
                       baseline: str | None = None) -> dict[str, np.ndarray]:
    """The columns of :func:`eeg_window_features`, as numpy arrays (no pandas).

    Same parameters and values as :func:`eeg_window_features`. Each feature column is a
    contiguous float64 row of one (n_features, n_rows) array, so writers such as pyarrow take
    them without copying; ``neuromer features eeg`` writes its Parquet file from them.

    Returns
    -------
    dict of str to ndarray
        Column name -> values, shape (n_rows,), in the table's column order.
    """
    keys, values, cols = _window_parts(trials, grid, bands, baseline)
    return {**keys, **dict(zip(cols, values))}


def eeg_window_features(trials: Trials, *, grid: WindowGrid = WindowGrid(), bands: dict = DEFAULT_BANDS,
                        baseline: str | None = None) -> pd.DataFrame:
    """EEG features of every window of every trial's stimulus period.

    Parameters
    ----------
    trials : Trials
        EEG channels (``ch_types == "eeg"``) in µV are used; others are ignored.
    grid : WindowGrid
        The shared window grid (1 s windows, 0.5 s hop by default).
    bands : dict
        ``{name: (fmin, fmax)}`` in Hz; :data:`DEFAULT_BANDS` by default.
    baseline : {"subtract", "ratio", None}
        Correct every feature against its mean over the windows of the same grid laid over the
        trial's pre-stimulus baseline: ``feature - mean`` or ``feature / mean``. If the baseline
        is shorter than one window the corrected features are NaN (with a warning).

    Returns
    -------
    DataFrame
        :data:`~neuromer.windows.KEY_COLUMNS` then ``eeg_*`` columns (see the module docstring),
        one row per (trial, window); windows beyond the data held for a trial are NaN rows.

    Examples
    --------
    >>> table = eeg_window_features(trials)  # doctest: +SKIP
    >>> table[["t_start", "eeg_alpha_Fz", "eeg_faa"]].head()  # doctest: +SKIP
    """
    return _frame(*_window_parts(trials, grid, bands, baseline))


def trial_feature_arrays(windows: np.ndarray, sfreq: float, ch_names: list[str],
                         bands: dict = DEFAULT_BANDS) -> tuple[np.ndarray, list[str]]:
    """DEAP per-trial features from (n_trials, n_channels, n_windows, n_samples) windows.

    The PSD is averaged over the windows (Welch's method: Hamming segments of the grid's window
    length and hop), then band power per channel and band (µV², ``eeg_{band}_{ch}``) and, for the
    14 symmetric pairs, ``ln P(left) - ln P(right)`` in theta, alpha, beta and gamma
    (``eeg_asym_{band}_{L}-{R}``), as in Koelstra et al. (2012), Table 3.
    """
    bands = check_bands(bands)
    n_trials, n_ch, n_win, n_samp = windows.shape
    names: list[str] = []
    if n_win == 0:
        power = np.full((len(bands), n_trials, n_ch), np.nan)
    else:
        power, _, _ = _spectral_features(windows, sfreq, bands)
        power = power.mean(axis=-1)  # Welch average of the window periodograms
    blocks = []
    for b, band in enumerate(bands):
        blocks.append(power[b]); names += [f"eeg_{band}_{c}" for c in ch_names]
    pairs = _pairs_present(ch_names)
    for band in [b for b in DEAP_ASYMMETRY_BANDS if b in bands]:
        if not pairs:
            break
        lp = _log(power[list(bands).index(band)])
        with np.errstate(invalid="ignore"):
            blocks.append(lp[:, [p[0] for p in pairs]] - lp[:, [p[1] for p in pairs]])
        names += [f"eeg_asym_{band}_{p[2]}" for p in pairs]
    return np.concatenate(blocks, axis=1), names


def eeg_trial_features(trials: Trials, *, grid: WindowGrid = WindowGrid(),
                       bands: dict = DEFAULT_BANDS) -> pd.DataFrame:
    """The DEAP paper's per-trial EEG features over each trial's stimulus period.

    Band powers of every EEG electrode in every band (:data:`DEFAULT_BANDS`: 32 x 5 for DEAP) and
    the ln-power asymmetry of the 14 symmetric pairs in theta, alpha, beta and gamma (14 x 4),
    from a Welch PSD with the grid's window and hop (see :func:`trial_feature_arrays`).

    Returns
    -------
    DataFrame
        ``subject, trial, stimulus_id`` then ``eeg_*`` columns, one row per trial.
    """
    import pandas as pd

    keys, feats, cols = _trial_parts(trials, grid, bands)
    return pd.concat([pd.DataFrame(keys), pd.DataFrame(feats, columns=cols)], axis=1)


def eeg_trial_columns(trials: Trials, *, grid: WindowGrid = WindowGrid(),
                      bands: dict = DEFAULT_BANDS) -> dict[str, np.ndarray]:
    """The columns of :func:`eeg_trial_features`, as numpy arrays of shape (n_trials,) (no pandas)."""
    keys, feats, cols = _trial_parts(trials, grid, bands)
    return {**keys, **dict(zip(cols, feats.T))}


def _trial_parts(trials: Trials, grid: WindowGrid, bands: dict):
    """Key columns (dict), features (n_trials, n_features) and their names, for the per-trial table."""
    validate_type(grid, WindowGrid, "grid")
    data, names = _eeg_part(trials)
    warn_missing_families(names, check_bands(bands), per_trial=True, sfreq=trials.sfreq,
                          n_window_samples=grid.samples(trials.sfreq)[0])
    win = sliding_windows(data, trials.sfreq, grid, start_s=trials.baseline_s)
    # windows past a trial's stated duration do not belong to its stimulus
    n_keep = np.array([grid.n_windows(d) for d in trials.column("duration_s")])
    if win.shape[-2] and np.any(n_keep < win.shape[-2]):
        rows = []
        for i in range(trials.n_trials):  # per trial only when stimulus lengths differ
            f, cols = trial_feature_arrays(win[i:i + 1, :, :n_keep[i]], trials.sfreq, names, bands)
            rows.append(f)
        feats = np.concatenate(rows, axis=0)
    else:
        feats, cols = trial_feature_arrays(win, trials.sfreq, names, bands)
    subject = np.empty(trials.n_trials, dtype=object)
    subject[:] = trials.subject
    keys = {"subject": subject, "trial": trials.column("trial").astype(int),
            "stimulus_id": np.array([str(s) for s in trials.column("stimulus_id")], dtype=object)}
    return keys, feats, cols


__all__ = ["DEFAULT_BANDS", "DEAP_PAIRS", "FAA_PAIR", "KEY_COLUMNS", "eeg_window_features",
           "eeg_window_columns", "eeg_trial_features", "eeg_trial_columns", "window_feature_arrays",
           "trial_feature_arrays", "window_psd", "window_band_power"]
