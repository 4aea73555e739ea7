"""Faster exact paths for two steps of :func:`neuromer.audio.features.frame_features`.

Both give the same numbers bit for bit as the plain librosa calls they replace (tested in
tests/audio/test_fast.py); they only avoid repeated work:

- :func:`memoise_cqt_filters`: librosa's constant-Q transform rebuilds its filter bank (wavelets,
  their FFTs, sparsification) for every octave of every call, although it depends only on the
  sampling rate and the bins. For a 30 s clip that was two thirds of the chroma's time. The bank
  is kept in memory per process, keyed by every argument, and a copy is handed out (librosa scales
  it in place).
- :func:`hpss_sums`: the medians of median-filter HPSS (Fitzgerald 2010) with a 9-cell kernel by a
  sorting network on whole arrays instead of scipy's per-cell rank filter. A median is one of its
  inputs, so any exact selection method returns the same value.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

_FILTER_NAME = "__vqt_filter_fft"
_MEMO_SIZE = 64  # filter banks kept per process (one per octave x analysis setting)
_lock = threading.Lock()


def memoise_cqt_filters() -> bool:
    """Keep librosa's constant-Q filter banks in memory for the rest of the process (idempotent).

    Returns
    -------
    bool
        Whether the memo is in place; ``False`` when this librosa has no such private function (its
        CQT then runs unchanged, only slower).
    """
    from librosa.core import constantq

    current = vars(constantq).get(_FILTER_NAME)
    if current is None or not callable(current):
        return False
    if getattr(current, "_neuromer_memo", False):
        return True
    import inspect

    memo: OrderedDict = OrderedDict()
    signature = inspect.signature(current)

    def filter_fft(*args, **kwargs):
        try:  # keyed by every argument by name, defaults included, whatever this librosa's signature
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return current(*args, **kwargs)
        bound.apply_defaults()
        key = _key(*[x for item in bound.arguments.items() for x in item])
        if key is None:  # an argument we cannot key exactly (a window array or function): no memo
            return current(*args, **kwargs)
        with _lock:
            hit = memo.get(key)
            if hit is not None:
                memo.move_to_end(key)
        if hit is None:
            hit = current(*args, **kwargs)
            if not (isinstance(hit, tuple) and len(hit) == 3 and hasattr(hit[0], "copy")):
                return hit  # not the (basis, n_fft, lengths) this memo knows: leave it alone
            with _lock:
                memo[key] = hit
                while len(memo) > _MEMO_SIZE:
                    memo.popitem(last=False)
        basis, n_fft, lengths = hit
        return basis.copy(), n_fft, np.array(lengths, copy=True)  # the caller rescales the basis in place

    filter_fft._neuromer_memo = True
    filter_fft.__wrapped__ = current
    setattr(constantq, _FILTER_NAME, filter_fft)
    return True


def _key(*args):
    """A hashable key that is equal only for equal arguments (arrays by dtype, shape and bytes)."""
    out = []
    for a in args:
        if a is None or isinstance(a, (bool, int, float, str)):
            out.append((type(a).__name__, a))
        elif isinstance(a, np.ndarray):
            out.append(("ndarray", a.dtype.str, a.shape, a.tobytes()))
        elif isinstance(a, np.generic):
            out.append(("generic", a.dtype.str, a.tobytes()))
        elif isinstance(a, type) or isinstance(a, np.dtype):
            out.append(("dtype", np.dtype(a).str))
        elif isinstance(a, tuple) and all(isinstance(x, (int, float, str)) for x in a):
            out.append(("tuple", a))
        else:
            return None
    return tuple(out)


def median9(x: np.ndarray, axis: int) -> np.ndarray:
    """Running median of 9 along ``axis`` with half-sample symmetric edges.

    The same values as ``scipy.ndimage.median_filter`` with ``size`` 9 along that axis and
    ``mode="reflect"``, for finite input whose ``axis`` has at least 9 cells.

    Parameters
    ----------
    x : ndarray, 2-D, float
        Finite values.
    axis : int
        0 or 1.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    n = x.shape[axis]
    pad = [(0, 0), (0, 0)]
    pad[axis] = (4, 4)
    xp = np.pad(x, pad, mode="symmetric")  # scipy's "reflect": d c b a | a b c d | d c b a
    p = [xp[k:k + n] if axis == 0 else xp[:, k:k + n] for k in range(9)]  # the 9 shifted views

    # the 19 compare-exchanges of the classic median-of-9 network (Paeth 1990, Graphics Gems), p[i]
    # getting the smaller and p[j] the larger; afterwards p[4] holds the median. Where only one of
    # the two results is used later, only that one is computed ("lo"/"hi"): 30 array operations
    for i, j, keep in ((1, 2, "both"), (4, 5, "both"), (7, 8, "both"), (0, 1, "both"), (3, 4, "both"),
                       (6, 7, "both"), (1, 2, "both"), (4, 5, "both"), (7, 8, "both"), (0, 3, "hi"),
                       (5, 8, "lo"), (4, 7, "both"), (3, 6, "hi"), (1, 4, "hi"), (2, 5, "lo"), (4, 7, "lo"),
                       (4, 2, "both"), (6, 4, "hi"), (4, 2, "lo")):
        lo = np.minimum(p[i], p[j]) if keep != "hi" else None
        if keep != "lo":
            p[j] = np.maximum(p[i], p[j])
        if lo is not None:
            p[i] = lo
    return np.ascontiguousarray(p[4])


def hpss_sums(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame energy of the harmonic and percussive parts of a magnitude spectrogram.

    Exactly ``((H ** 2).sum(0), (P ** 2).sum(0))`` for ``H, P = librosa.decompose.hpss(spec,
    kernel_size=(9, 9))`` (soft masks, power 2, margin 1), with the medians from :func:`median9`
    (librosa itself for spectrograms under 9 x 9 cells or with non-finite values).

    Parameters
    ----------
    spec : ndarray, shape (n_bins, n_frames), float
        Non-negative magnitudes.

    Returns
    -------
    (ndarray, ndarray), each shape (n_frames,)
    """
    if min(spec.shape) < 9 or not np.all(np.isfinite(spec)):
        import librosa

        harm, perc = librosa.decompose.hpss(spec, kernel_size=(9, 9))
        return (harm ** 2).sum(0), (perc ** 2).sum(0)
    # in the memory layout of ``spec``, as librosa makes them (np.empty_like): the sums below add in
    # the order of that layout, and another order changes the last bits
    harm_med, perc_med = np.empty_like(spec), np.empty_like(spec)
    harm_med[:] = median9(spec, axis=1)  # along time: harmonic partials are horizontal lines
    perc_med[:] = median9(spec, axis=0)  # along frequency: percussive hits are vertical lines
    # the soft masks as librosa.decompose.hpss makes them (librosa.util.softmask, power 2, margin 1)
    mask_harm = _softmask2(harm_med, perc_med)
    mask_perc = _softmask2(perc_med, harm_med)
    return ((spec * mask_harm) ** 2).sum(0), ((spec * mask_perc) ** 2).sum(0)


def _softmask2(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``librosa.util.softmask(x, ref, power=2, split_zeros=True)`` for float arrays, vectorised.

    librosa divides in place through boolean indexing; the same float operations on whole arrays
    give the same values several times faster.
    """
    z = np.maximum(x, ref)
    bad = z < np.finfo(z.dtype).tiny  # both (near) zero: an even split
    z[bad] = 1
    mask = (x / z) ** 2.0
    ref_mask = (ref / z) ** 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        mask = mask / (mask + ref_mask)
    mask[bad] = 0.5
    return mask


def zero_crossing_rate(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Zero crossings per sample of each centred frame, from a running count.

    The same values as ``librosa.feature.zero_crossing_rate(y, frame_length=frame_length,
    hop_length=hop_length)[0]`` (edge padding, samples within 1e-10 of zero count as positive, a
    frame's first sample starts no crossing), without building the frames: O(n_samples) instead
    of O(n_frames x frame_length).

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono signal.
    frame_length, hop_length : int
        Frame and hop in samples.

    Returns
    -------
    ndarray, shape (n_frames,), float64
    """
    half = frame_length // 2
    padded = np.pad(y, (half, half), mode="edge")
    n_frames = 1 + (len(padded) - frame_length) // hop_length
    # the sign librosa compares (in float64, as its threshold is): negative beyond the threshold
    negative = padded < np.float64(-1e-10)
    crossed = np.empty(len(padded), dtype=np.int64)
    crossed[0] = 0
    np.cumsum(negative[1:] != negative[:-1], out=crossed[1:])  # crossed[k]: crossings at samples 1..k
    start = np.arange(n_frames) * hop_length
    count = crossed[start + frame_length - 1] - crossed[start]
    return count / np.float64(frame_length)


def spectral_rolloff(spec: np.ndarray, freqs_hz: np.ndarray, roll_percent: float = 0.85) -> np.ndarray:
    """Roll-off frequency of each frame: the lowest bin whose cumulative energy reaches the share.

    The same values as ``librosa.feature.spectral_rolloff(S=spec, freq=freqs_hz,
    roll_percent=roll_percent)[0]`` for finite non-negative ``spec`` (the same float32 running
    sums), by the first bin over the threshold instead of a NaN-masked minimum over all bins.

    Parameters
    ----------
    spec : ndarray, shape (n_bins, n_frames)
        Magnitude spectrogram.
    freqs_hz : ndarray, shape (n_bins,)
        Increasing bin frequencies in Hz.
    roll_percent : float
        Share of the frame's energy, 0..1.

    Returns
    -------
    ndarray, shape (n_frames,), float64
    """
    total = np.cumsum(spec, axis=0)
    threshold = roll_percent * total[-1]
    first = np.argmax(total >= threshold, axis=0)  # the last bin always qualifies (total >= share)
    return np.asarray(freqs_hz, dtype=np.float64)[first]


_controller: list = [None, -1]  # (threadpoolctl controller, len(sys.modules) when it was made)


def one_thread():
    """A context limiting BLAS/OpenMP to one thread, like ``threadpool_limits(limits=1)``.

    ``threadpool_limits`` scans every loaded shared library on each call (~20 ms, a tenth of a
    30 s clip's features); the scan is kept and redone only when modules were imported since
    (a new import may load another BLAS or OpenMP runtime).
    """
    import sys

    from threadpoolctl import ThreadpoolController

    with _lock:
        if _controller[0] is None or _controller[1] != len(sys.modules):
            _controller[0], _controller[1] = ThreadpoolController(), len(sys.modules)
        controller = _controller[0]
    return controller.limit(limits=1)
