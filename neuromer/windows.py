"""The shared window grid.

Every feature family (EEG, physio, audio, audio emotion, decoded emotion) is computed on the same
windows: per trial, windows of ``window_s`` seconds every ``hop_s`` seconds over the stimulus
period, with times relative to stimulus onset. Aligning families is then a join on
``(subject, trial, window)``, never a resampling guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._checks import check_positive
from .errors import NeuromerError

if TYPE_CHECKING:  # pandas loads in table() only: `neuromer features eeg` builds its keys with key_columns()
    import pandas as pd

#: Seconds a measured stimulus may fall short of the grid's last window and still get it.
DURATION_TOLERANCE_S = 0.01
#: Key columns of every windowed feature table, in order.
KEY_COLUMNS = ("subject", "trial", "stimulus_id", "window", "t_start", "t_end")


@dataclass(frozen=True)
class WindowGrid:
    """Windows of ``window_s`` seconds every ``hop_s`` seconds from stimulus onset.

    Parameters
    ----------
    window_s : float
        Window length in seconds (default 1.0).
    hop_s : float
        Step between window starts in seconds (default 0.5).

    Examples
    --------
    >>> WindowGrid(1.0, 0.5).starts(3.0)
    array([0. , 0.5, 1. , 1.5, 2. ])
    """

    window_s: float = 1.0
    hop_s: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_s", check_positive(self.window_s, "window_s"))
        object.__setattr__(self, "hop_s", check_positive(self.hop_s, "hop_s"))

    def n_windows(self, duration_s: float) -> int:
        """Number of whole windows that fit in ``duration_s`` seconds (0 if none fits)."""
        # stimulus durations measured from LSL marker time stamps jitter by a few ms: a 2 s
        # stimulus may read 1.998 s. A last window overrunning by <= DURATION_TOLERANCE_S is kept,
        # so the grid does not lose a window to jitter (the signal continues past the marker).
        n = int(np.floor((float(duration_s) - self.window_s + DURATION_TOLERANCE_S) / self.hop_s + 1e-9)) + 1
        return max(n, 0)

    def starts(self, duration_s: float) -> np.ndarray:
        """Window start times in seconds from stimulus onset, shape (n_windows,)."""
        return np.arange(self.n_windows(duration_s)) * self.hop_s

    def samples(self, sfreq: float) -> tuple[int, int]:
        """Window length and hop in samples at ``sfreq`` Hz (rounded to the nearest sample)."""
        n_win = int(round(self.window_s * sfreq))
        n_hop = int(round(self.hop_s * sfreq))
        if n_win < 1 or n_hop < 1:
            raise NeuromerError(
                f"Window grid {self.window_s} s / {self.hop_s} s is shorter than one sample at {sfreq} Hz."
            )
        return n_win, n_hop

    def table(self, trials: pd.DataFrame, subject: str | int = "") -> pd.DataFrame:
        """Key columns for every window of every trial.

        Parameters
        ----------
        trials : DataFrame
            Needs columns ``trial``, ``stimulus_id`` and ``duration_s`` (stimulus duration).
        subject : str
            Subject id written in the ``subject`` column.

        Returns
        -------
        DataFrame
            Columns :data:`KEY_COLUMNS`, one row per (trial, window), ``t_start``/``t_end`` in
            seconds from stimulus onset.
        """
        import pandas as pd

        if len(trials) == 0:
            return pd.DataFrame({c: [] for c in KEY_COLUMNS})
        return pd.DataFrame(self.key_columns(trials["trial"].to_numpy(), trials["stimulus_id"].to_numpy(),
                                             trials["duration_s"].to_numpy(), subject))

    def key_columns(self, trial, stimulus_id, duration_s, subject: str | int = "") -> dict[str, np.ndarray]:
        """The columns of :meth:`table` as numpy arrays, without pandas.

        Parameters
        ----------
        trial, stimulus_id, duration_s : array-like, shape (n_trials,)
            Trial numbers, stimulus ids and stimulus durations in seconds.
        subject : str
            Subject id written in the ``subject`` column.

        Returns
        -------
        dict of str to ndarray
            :data:`KEY_COLUMNS` in order, each of shape (n_rows,): ``subject`` and ``stimulus_id``
            as object arrays of str, ``trial`` and ``window`` int64, ``t_start`` and ``t_end``
            float64 seconds from stimulus onset.
        """
        counts = np.array([self.n_windows(d) for d in duration_s], dtype=np.int64)
        n_rows = int(counts.sum())
        window = np.arange(n_rows, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        t_start = window * self.hop_s  # as starts(): arange(n) * hop_s
        subject_col = np.empty(n_rows, dtype=object)
        subject_col[:] = str(subject)
        return {
            "subject": subject_col,
            "trial": np.repeat(np.array([int(t) for t in trial], dtype=np.int64), counts),
            "stimulus_id": np.repeat(np.array([str(s) for s in stimulus_id], dtype=object), counts),
            "window": window, "t_start": t_start, "t_end": t_start + self.window_s,
        }


def sliding_windows(data: np.ndarray, sfreq: float, grid: WindowGrid, *, start_s: float = 0.0,
                    duration_s: float | None = None) -> np.ndarray:
    """View the last axis of ``data`` as windows of the grid, without copying.

    Parameters
    ----------
    data : ndarray, shape (..., n_samples)
        Signals sampled at ``sfreq`` Hz (e.g. trials x channels x samples).
    sfreq : float
        Sampling rate in Hz.
    grid : WindowGrid
        The window grid.
    start_s : float
        Time of stimulus onset within ``data`` in seconds (e.g. the baseline length of a Trials).
    duration_s : float | None
        Stimulus duration in seconds; by default everything after ``start_s``.

    Returns
    -------
    windows : ndarray, shape (..., n_windows, n_window_samples)
        A read-only strided view; window ``k`` starts at sample
        ``round(start_s * sfreq) + k * round(hop_s * sfreq)``.
    """
    data = np.asarray(data)
    n_win, n_hop = grid.samples(sfreq)
    first = int(round(start_s * sfreq))
    avail_s = (data.shape[-1] - first) / sfreq
    duration_s = avail_s if duration_s is None else min(duration_s, avail_s)
    n = grid.n_windows(duration_s)
    # the sample grid may be a sample shorter than the time grid after rounding
    while n > 0 and first + (n - 1) * n_hop + n_win > data.shape[-1]:
        n -= 1
    if n == 0:
        return np.empty(data.shape[:-1] + (0, n_win), dtype=data.dtype)
    seg = data[..., first:first + (n - 1) * n_hop + n_win]
    view = np.lib.stride_tricks.sliding_window_view(seg, n_win, axis=-1)
    return view[..., ::n_hop, :][..., :n, :]
