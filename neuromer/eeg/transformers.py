"""scikit-learn transformers over the EEG feature kernels of :mod:`neuromer.eeg.features`.

They learn nothing: ``fit`` returns ``self``, ``transform`` is pure and the hyper-parameters are
stored unchanged, so they drop into :class:`~sklearn.pipeline.Pipeline`, ``GridSearchCV`` and
``cross_val_predict``. Inputs are plain arrays in µV so that sklearn can index them by trial.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._checks import check_array
from ..errors import NeuromerError
from ..windows import WindowGrid, sliding_windows
from .features import DEFAULT_BANDS, trial_feature_arrays, window_feature_arrays


def _names(ch_names, n_channels):
    if ch_names is None:
        return [f"ch{i}" for i in range(n_channels)]
    if len(ch_names) != n_channels:
        raise NeuromerError(f"Got {len(ch_names)} channel names for X with {n_channels} channels.")
    return [str(c) for c in ch_names]


class EEGWindowFeatures(TransformerMixin, BaseEstimator):
    """Window features of EEG windows: (n_windows, n_channels, n_window_samples) -> (n_windows, n_features).

    The kernel used offline by :func:`~neuromer.eeg.eeg_window_features` and online on a ring
    buffer; columns as described in :mod:`neuromer.eeg.features`.

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    ch_names : list of str | None
        EEG channel names (needed for asymmetry pairs and frontal alpha asymmetry).
    bands : dict | None
        ``{name: (fmin, fmax)}`` in Hz; ``None`` means :data:`~neuromer.eeg.DEFAULT_BANDS`.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((10, 2, 128))
    >>> EEGWindowFeatures(sfreq=128.0, ch_names=["F3", "F4"]).fit_transform(X).shape
    (10, 47)
    """

    def __init__(self, sfreq: float = 128.0, ch_names=None, bands=None):
        self.sfreq = sfreq
        self.ch_names = ch_names
        self.bands = bands

    def fit(self, X, y=None):
        X = check_array(X, "X", ndim=3)
        self.n_features_in_ = X.shape[1]
        self.feature_names_out_ = np.asarray(self._transform(X[:0])[1], dtype=object)
        return self

    def _transform(self, X):
        X = check_array(X, "X", ndim=3).astype(np.float64, copy=False)
        names = _names(self.ch_names, X.shape[1])
        # windows as items: (1, n_channels, n_windows, n_samples)
        feats, cols = window_feature_arrays(X.transpose(1, 0, 2)[None], float(self.sfreq), names,
                                            DEFAULT_BANDS if self.bands is None else self.bands)
        return feats[0], cols

    def transform(self, X):
        return self._transform(X)[0]

    def get_feature_names_out(self, input_features=None):
        return self.feature_names_out_


class EEGTrialFeatures(TransformerMixin, BaseEstimator):
    """The DEAP per-trial EEG features: (n_trials, n_channels, n_samples) -> (n_trials, n_features).

    Band powers of every channel in every band and ln-power asymmetry of the symmetric pairs, from
    a Welch PSD (Hamming windows of ``window_s`` every ``hop_s``) over the samples after
    ``baseline_s`` (see :func:`~neuromer.eeg.features.trial_feature_arrays`).

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    ch_names : list of str | None
        Channel names (for the asymmetry pairs).
    bands : dict | None
        ``None`` means :data:`~neuromer.eeg.DEFAULT_BANDS`.
    window_s, hop_s : float
        Welch segment length and step in seconds.
    baseline_s : float
        Seconds at the start of each trial to skip (the pre-stimulus baseline).
    """

    def __init__(self, sfreq: float = 128.0, ch_names=None, bands=None, window_s: float = 1.0,
                 hop_s: float = 0.5, baseline_s: float = 0.0):
        self.sfreq = sfreq
        self.ch_names = ch_names
        self.bands = bands
        self.window_s = window_s
        self.hop_s = hop_s
        self.baseline_s = baseline_s

    def fit(self, X, y=None):
        X = check_array(X, "X", ndim=3)
        self.n_features_in_ = X.shape[1]
        self.feature_names_out_ = np.asarray(self._transform(X[:1])[1], dtype=object)
        return self

    def _transform(self, X):
        X = check_array(X, "X", ndim=3).astype(np.float64, copy=False)
        names = _names(self.ch_names, X.shape[1])
        win = sliding_windows(X, float(self.sfreq), WindowGrid(self.window_s, self.hop_s),
                              start_s=float(self.baseline_s))
        return trial_feature_arrays(win, float(self.sfreq), names,
                                    DEFAULT_BANDS if self.bands is None else self.bands)

    def transform(self, X):
        return self._transform(X)[0]

    def get_feature_names_out(self, input_features=None):
        return self.feature_names_out_
