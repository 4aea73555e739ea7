"""EEG features on the shared window grid, vectorised over trials x channels x windows.

Spectra are single-segment periodograms of each window: the window's mean is removed, a periodic
Hamming taper is applied and the one-sided power spectral density is scaled exactly as
:func:`mne.time_frequency.psd_array_welch` (``n_fft = n_per_seg`` = window length, no overlap,
``window="hamming"``) computes it for that window. **Band power** is the PSD summed over the bins
``fmin <= f < fmax`` times the bin width (µV²), i.e. the band-limited variance. One FFT call covers
every trial, channel and window (the windows are a strided view, see
:func:`neuromer.windows.sliding_windows`); there is no Python loop over windows.

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

Windows containing NaN give NaN features; a flat channel gives zero power and NaN for everything
derived from a log or a ratio (DE, asymmetry, relative power, Hjorth, entropy). No error is raised
for either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.signal

from .._checks import check_option, validate_type
from .._logging import logger
from ..errors import NeuromerError
from ..session import Trials
from ..windows import KEY_COLUMNS, WindowGrid, sliding_windows

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


def window_psd(windows: np.ndarray, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided PSD of each window, as ``psd_array_welch`` computes it for one segment.

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
    n = windows.shape[-1]
    taper = scipy.signal.get_window("hamming", n)  # periodic, as scipy.signal.spectrogram uses
    x = windows - windows.mean(axis=-1, keepdims=True)  # a flat window gives exactly zero power
    x *= taper
    spec = np.fft.rfft(x, axis=-1)
    sq = spec.view(np.float64)
    np.square(sq, out=sq)
    psd = sq[..., 0::2] + sq[..., 1::2]
    psd *= 1.0 / (sfreq * np.sum(taper ** 2))
    # one-sided: double every bin but DC (and Nyquist when n is even)
    psd[..., 1:(n + 1) // 2] *= 2.0
    return np.fft.rfftfreq(n, 1.0 / sfreq), psd


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


def _spectral_features(windows: np.ndarray, sfreq: float, bands: dict):
    """Band powers, relative powers and spectral entropy of (n, n_ch, n_win, n_samples) windows.

    Returns arrays shaped (n_bands, n, n_ch, n_win) for powers and (n, n_ch, n_win) for entropy.
    Computed in chunks along the first axis to bound memory.
    """
    n_items, n_ch, n_win, n_samp = windows.shape
    freqs = np.fft.rfftfreq(n_samp, 1.0 / sfreq)
    masks = band_masks(freqs, bands).astype(np.float64)
    lo = min(b[0] for b in bands.values())
    hi = max(b[1] for b in bands.values())
    total_mask = (freqs >= lo) & (freqs < hi)
    df = sfreq / n_samp
    power = np.empty((len(bands), n_items, n_ch, n_win))
    total = np.empty((n_items, n_ch, n_win))
    entropy = np.empty((n_items, n_ch, n_win))
    step = max(1, _CHUNK_VALUES // max(1, n_ch * n_win * n_samp))
    for i in range(0, n_items, step):
        _, psd = window_psd(windows[i:i + step].astype(np.float64, copy=False), sfreq)
        power[:, i:i + step] = np.moveaxis(psd @ masks.T, -1, 0) * df
        in_range = psd[..., total_mask]
        tot = in_range.sum(axis=-1)
        total[i:i + step] = tot * df
        with np.errstate(divide="ignore", invalid="ignore"):
            p = in_range / tot[..., None]
            plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        ent = -plogp.sum(axis=-1) / np.log(max(int(total_mask.sum()), 2))
        entropy[i:i + step] = np.where(tot > 0, ent, np.nan)
    return power, total, entropy


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
    signal once rather than once per overlapping window.
    """
    data = np.asarray(data, dtype=np.float64)
    if n_win < 3 or n == 0:  # needs a second difference
        nan = np.full(data.shape[:-1] + (n,), np.nan)
        return nan, nan
    with np.errstate(invalid="ignore"):
        centred = data - np.nanmean(data, axis=-1, keepdims=True)  # E[y^2] - E[y]^2 stays accurate
    d1 = np.diff(data, axis=-1)  # differences have ~zero mean: no centring needed
    v0 = _window_var(centred, first, hop, n, n_win)
    v1 = _window_var(d1, first, hop, n, n_win - 1)
    v2 = _window_var(np.diff(d1, axis=-1), first, hop, n, n_win - 2)
    return _hjorth_from_vars(v0, v1, v2)


def _pairs_present(ch_names: list[str], pairs=DEAP_PAIRS) -> list[tuple[int, int, str]]:
    low = {c.lower(): i for i, c in enumerate(ch_names)}
    out = []
    for left, right in pairs:
        if left.lower() in low and right.lower() in low:
            out.append((low[left.lower()], low[right.lower()], f"{left}-{right}"))
    return out


def window_feature_arrays(windows: np.ndarray, sfreq: float, ch_names: list[str],
                          bands: dict = DEFAULT_BANDS, *, _hjorth_params=None) -> tuple[np.ndarray, list[str]]:
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
    return np.ascontiguousarray(feats.transpose(0, 2, 1)), names


def _eeg_part(trials: Trials) -> tuple[np.ndarray, list[str]]:
    validate_type(trials, Trials, "trials")
    picks = trials.picks("eeg")
    if len(picks) == 0:
        raise NeuromerError("The trials have no EEG channels (ch_types 'eeg'); cannot compute EEG features.")
    return trials.data[:, picks], [trials.ch_names[i] for i in picks]


def _gather(feats: np.ndarray, keys: pd.DataFrame, trials: Trials) -> np.ndarray:
    """Rows of ``feats`` (n_trials, n_win_data, n_feat) for every (trial, window) key; NaN if absent."""
    pos = {t: i for i, t in enumerate(trials.metadata["trial"].astype(int))}
    ti = keys["trial"].map(pos).to_numpy(int)
    wi = keys["window"].to_numpy(int)
    out = np.full((len(keys), feats.shape[2]), np.nan)
    ok = wi < feats.shape[1]
    out[ok] = feats[ti[ok], wi[ok]]
    return out


def _grid_features(data, sfreq, grid, start_s, names, bands):
    """Window features of (n_trials, n_ch, n_samples) data on the grid from ``start_s``.

    Works through a few trials at a time: small temporaries stay in cache and are reused rather
    than freshly mapped, which is most of the run time on DEAP-sized data.
    """
    win = sliding_windows(data, sfreq, grid, start_s=start_s)
    n_win, n_hop = grid.samples(sfreq)
    first, n = int(round(start_s * sfreq)), win.shape[-2]
    step = max(1, _CHUNK_VALUES // max(1, data.shape[1] * data.shape[2]))
    out, cols = None, None
    for i in range(0, max(data.shape[0], 1), step):
        chunk = data[i:i + step]
        hjorth = _hjorth_continuous(chunk, first, n_hop, n, n_win)
        feats, cols = window_feature_arrays(win[i:i + step], sfreq, names, bands, _hjorth_params=hjorth)
        if out is None:
            out = np.empty((data.shape[0],) + feats.shape[1:])
        out[i:i + step] = feats
    return out, cols


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
    validate_type(grid, WindowGrid, "grid")
    check_option(baseline, ["subtract", "ratio", None], "baseline")
    data, names = _eeg_part(trials)
    feats, cols = _grid_features(data, trials.sfreq, grid, trials.baseline_s, names, bands)
    if baseline is not None:
        base_data = data[..., :int(round(trials.baseline_s * trials.sfreq))]
        base, _ = _grid_features(base_data, trials.sfreq, grid, 0.0, names, bands)
        if base.shape[1] == 0:
            logger.warning("The %.3g s baseline is shorter than one %.3g s window; baseline-corrected "
                           "EEG features are NaN.", trials.baseline_s, grid.window_s)
            ref = np.full((feats.shape[0], 1, feats.shape[2]), np.nan)
        else:
            with np.errstate(invalid="ignore"):
                ref = np.nanmean(np.where(np.isfinite(base), base, np.nan), axis=1, keepdims=True)
        feats = feats - ref if baseline == "subtract" else _div(feats, ref)
    keys = grid.table(trials.metadata, trials.subject)
    values = _gather(feats, keys, trials)
    return pd.concat([keys.reset_index(drop=True), pd.DataFrame(values, columns=cols)], axis=1)


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
    validate_type(grid, WindowGrid, "grid")
    data, names = _eeg_part(trials)
    meta = trials.metadata
    win = sliding_windows(data, trials.sfreq, grid, start_s=trials.baseline_s)
    # windows past a trial's stated duration do not belong to its stimulus
    n_keep = np.array([grid.n_windows(d) for d in meta["duration_s"]])
    if win.shape[-2] and np.any(n_keep < win.shape[-2]):
        rows = []
        for i in range(trials.n_trials):  # per trial only when stimulus lengths differ
            f, cols = trial_feature_arrays(win[i:i + 1, :, :n_keep[i]], trials.sfreq, names, bands)
            rows.append(f)
        feats = np.concatenate(rows, axis=0)
    else:
        feats, cols = trial_feature_arrays(win, trials.sfreq, names, bands)
    keys = pd.DataFrame({"subject": trials.subject, "trial": meta["trial"].astype(int).to_numpy(),
                         "stimulus_id": meta["stimulus_id"].astype(str).to_numpy()})
    return pd.concat([keys, pd.DataFrame(feats, columns=cols)], axis=1)


__all__ = ["DEFAULT_BANDS", "DEAP_PAIRS", "FAA_PAIR", "KEY_COLUMNS", "eeg_window_features",
           "eeg_trial_features", "window_feature_arrays", "trial_feature_arrays", "window_psd"]
