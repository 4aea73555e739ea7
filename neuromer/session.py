"""The data model: :class:`Session` (one subject, one clock) and :class:`Trials` (DEAP layout).

Units. A :class:`Session` holds an :class:`mne.io.Raw`, so its signals are in MNE's SI units
(volts for EEG/EOG/EMG/ECG). A :class:`Trials` follows DEAP: EEG, EOG, EMG and ECG in microvolts,
other channels (GSR, respiration, plethysmograph, temperature) in the units they were recorded in.
:meth:`Trials.to_epochs` and :meth:`Trials.from_epochs` convert between the two.
"""

from __future__ import annotations

import copy as _copy
import re
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._checks import check_array, validate_type
from ._logging import logger
from .errors import NeuromerError

if TYPE_CHECKING:  # mne and pandas load where they are used: `neuromer features eeg` needs neither
    import mne
    import pandas as pd

#: Self-report scales of a Trials' ``labels`` columns, in DEAP's order.
LABEL_NAMES = ("valence", "arousal", "dominance", "liking")
#: Columns every trials table has (labels follow).
TRIAL_COLUMNS = ("trial", "stimulus_id", "onset_s", "duration_s")
#: Channel types whose Trials data are in microvolts (volts in MNE).
MICROVOLT_TYPES = ("eeg", "eog", "emg", "ecg")

_KIND_PATTERNS = (  # checked in order against lower-cased channel names
    (r"eog", "eog"), (r"emg", "emg"), (r"ecg|ekg", "ecg"), (r"gsr|eda|skin.?cond", "gsr"),
    (r"resp", "resp"), (r"plet|ppg|bvp|pulse", "bio"), (r"temp", "temperature"),
    (r"status|trigger|^stim$|^sti\d*$", "stim"),
)


def infer_channel_types(ch_names: list[str]) -> list[str]:
    """Guess MNE channel types from names (DEAP/BioSemi/LSL conventions).

    10-20 electrode names become ``eeg``; ``hEOG``/``vEOG`` ``eog``; ``zEMG`` ``emg``; ``GSR``/
    ``EDA`` ``gsr``; ``Respiration`` ``resp``; ``Plethysmograph``/``PPG``/``BVP`` ``bio``;
    ``Temperature`` ``temperature``; ``Status`` ``stim``; anything else ``misc``.

    >>> infer_channel_types(["Fp1", "hEOG", "GSR", "Plethysmograph", "Temperature", "foo"])
    ['eeg', 'eog', 'gsr', 'bio', 'temperature', 'misc']
    """
    eeg_names = {n.lower() for n in _standard_montage().ch_names}
    out = []
    for name in ch_names:
        low = str(name).lower()
        kind = next((k for pat, k in _KIND_PATTERNS if re.search(pat, low)), None)
        if kind is None:
            kind = "eeg" if low in eeg_names else "misc"
        out.append(kind)
    return out


_MONTAGE: mne.channels.DigMontage | None = None


def _standard_montage() -> mne.channels.DigMontage:
    global _MONTAGE
    if _MONTAGE is None:
        import mne

        # MNE 1.13 renamed the 10-20 template; use whichever name this MNE knows
        names = mne.channels.get_builtin_montages()
        _MONTAGE = mne.channels.make_standard_montage(
            "colin27_1020" if "colin27_1020" in names else "standard_1020")
    return _MONTAGE


def set_standard_montage(inst: Any) -> Any:
    """Attach the standard 10-20 montage to the EEG channels of an MNE object (in place)."""
    if "eeg" in inst.get_channel_types():
        montage = _standard_montage()
        known = {n.lower() for n in montage.ch_names}
        eeg = [n for n, t in zip(inst.ch_names, inst.get_channel_types()) if t == "eeg"]
        if any(n.lower() in known for n in eeg):
            inst.set_montage(montage, match_case=False, on_missing="ignore")
    return inst


def empty_trials_table() -> pd.DataFrame:
    """An empty trials table with the standard columns and dtypes."""
    import pandas as pd

    return pd.DataFrame({
        "trial": pd.Series(dtype="int64"), "stimulus_id": pd.Series(dtype="object"),
        "onset_s": pd.Series(dtype="float64"), "duration_s": pd.Series(dtype="float64"),
        **{name: pd.Series(dtype="float64") for name in LABEL_NAMES},
    })


class Session:
    """One subject's recording on one clock.

    Parameters
    ----------
    raw : mne.io.Raw
        EEG and physiological channels with MNE channel types; markers in ``raw.annotations``
        (onsets in seconds from the first sample).
    trials : DataFrame | None
        One row per trial: ``trial, stimulus_id, onset_s`` (stimulus onset, seconds from the first
        sample), ``duration_s`` and the rating columns. Filled by readers that know the protocol.
    protocol : Protocol | None
        The experiment protocol, if known.
    subject, session : str
        Identifiers.
    provenance : dict | None
        Where the data came from and what was done to it: ``source_files``, ``clock_offsets``,
        ``steps`` (a list of ``{"step": name, ...parameters}``).
    """

    def __init__(self, raw: mne.io.BaseRaw, *, trials: pd.DataFrame | None = None, protocol=None,
                 subject: str = "", session: str = "", provenance: dict | None = None) -> None:
        import mne

        validate_type(raw, mne.io.BaseRaw, "raw")
        self.raw = raw
        self.trials = empty_trials_table() if trials is None else trials.reset_index(drop=True)
        self.protocol = protocol
        self.subject = str(subject)
        self.session = str(session)
        self.provenance = {"source_files": [], "clock_offsets": {}, "steps": []}
        self.provenance.update(provenance or {})

    @property
    def sfreq(self) -> float:
        return float(self.raw.info["sfreq"])

    @property
    def duration_s(self) -> float:
        return self.raw.n_times / self.sfreq

    @property
    def markers(self) -> pd.DataFrame:
        """Markers as a table: ``onset_s`` (from the first sample) and ``description``."""
        import pandas as pd

        ann = self.raw.annotations
        # MNE keeps annotation onsets on the recording's clock, which starts at first_time
        onsets = ann.onset - self.raw.first_time
        return pd.DataFrame({"onset_s": onsets, "description": list(ann.description)})

    def add_step(self, step: str, **params: Any) -> None:
        """Record a processing step in the provenance."""
        self.provenance["steps"].append({"step": step, **params})

    def copy(self) -> Session:
        return Session(self.raw.copy(), trials=self.trials.copy(), protocol=self.protocol,
                       subject=self.subject, session=self.session,
                       provenance=_copy.deepcopy(self.provenance))

    def __repr__(self) -> str:
        import pandas as pd

        types = pd.Series(self.raw.get_channel_types()).value_counts()
        kinds = ", ".join(f"{n} {t}" for t, n in types.items())
        who = f"sub-{self.subject}" if self.subject else "no subject"
        return (f"<Session | {who} | {len(self.raw.ch_names)} ch ({kinds}) at {self.sfreq:g} Hz, "
                f"{self.duration_s:.1f} s, {len(self.raw.annotations)} markers, {len(self.trials)} trials>")


class Trials:
    """Trials in the DEAP layout: ``data`` (n_trials, n_channels, n_samples) with a baseline.

    Sample 0 of every trial lies ``baseline_s`` seconds before stimulus onset; ``times`` gives
    each sample's time from stimulus onset.

    Parameters
    ----------
    data : ndarray, shape (n_trials, n_channels, n_samples)
        EEG/EOG/EMG/ECG in microvolts, other channels in their recorded units. Kept in the dtype
        given (DEAP files are float32/float64), so reading and writing DEAP files is bit-exact.
    sfreq : float
        Sampling rate in Hz (128 for DEAP).
    ch_names : list of str
    ch_types : list of str | None
        MNE channel types; inferred from the names if ``None``.
    baseline_s : float
        Pre-stimulus baseline length in seconds (3 for DEAP).
    labels : ndarray, shape (n_trials, 4) | None
        Valence, arousal, dominance, liking (NaN where missing). Taken from ``metadata`` if None.
    metadata : DataFrame | mapping of str to 1-D ndarray | None
        The trials table (``trial, stimulus_id, onset_s, duration_s, valence...``), as a DataFrame
        or as columns (name -> array of n_trials values).
    subject : str
    dropped : DataFrame | callable | None
        Trials left out when cutting a session: ``trial, stimulus_id, reason``; or a function
        without arguments returning that table, called on first use of :attr:`dropped`.

    Notes
    -----
    The trials table is kept as numpy columns until :attr:`metadata` is first used, which builds
    the DataFrame (and imports pandas, about 0.3 s of CPU). Code that needs only a few columns,
    such as the window grid of ``neuromer features eeg``, reads them with :meth:`column`, so
    reading a trials file and computing its features does not load pandas.
    """

    #: (min, max) of the rating scale the labels were checked against (:meth:`check_ratings`);
    #: None when unknown. Written into neuromer's DEAP files and checked again when they are read.
    rating_scale: tuple[float, float] | None = None

    def __init__(self, data: np.ndarray, sfreq: float, ch_names: list[str],
                 ch_types: list[str] | None = None, *, baseline_s: float = 3.0,
                 labels: np.ndarray | None = None, metadata: pd.DataFrame | Mapping | None = None,
                 subject: str = "", dropped: pd.DataFrame | Callable[[], pd.DataFrame] | None = None) -> None:
        data = check_array(data, "data", ndim=3)
        if data.dtype.kind not in "fiu":
            raise NeuromerError(f"Invalid dtype for the 'data' parameter: expected numbers, got {data.dtype}.")
        if data.dtype.kind != "f":
            data = data.astype(np.float64)
        n_trials, n_channels, n_samples = data.shape
        ch_names = [str(c) for c in ch_names]
        if len(ch_names) != n_channels:
            raise NeuromerError(f"Got {len(ch_names)} channel names for data with {n_channels} channels.")
        if len(set(ch_names)) != len(ch_names):
            raise NeuromerError("Channel names must be unique.")
        ch_types = infer_channel_types(ch_names) if ch_types is None else list(ch_types)
        if len(ch_types) != n_channels:
            raise NeuromerError(f"Got {len(ch_types)} channel types for data with {n_channels} channels.")
        self.data = data
        self.sfreq = float(sfreq)
        self.ch_names = ch_names
        self.ch_types = ch_types
        self.baseline_s = float(baseline_s)
        if not 0 <= self.baseline_s * self.sfreq <= n_samples:
            raise NeuromerError(f"baseline_s={baseline_s} does not fit in {n_samples} samples at {sfreq} Hz.")
        self.subject = str(subject)

        self._metadata: pd.DataFrame | None = None  # the DataFrame, once built or given
        self._columns: dict[str, np.ndarray] | None = None  # the table as numpy columns until then
        if metadata is None or isinstance(metadata, Mapping):
            self._columns = self._table_columns(metadata, n_trials, labels)
        else:
            self._metadata = self._table_frame(metadata, n_trials, labels)
        self._dropped = dropped.reset_index(drop=True) if hasattr(dropped, "reset_index") else dropped

    def _table_columns(self, metadata: Mapping | None, n_trials: int, labels) -> dict[str, np.ndarray]:
        """The trials table as numpy columns, with the values and dtypes :meth:`_table_frame` gives."""
        cols: dict[str, np.ndarray] = {}
        for name, values in (metadata or {}).items():
            col = np.asarray(values)
            if col.ndim != 1:
                raise NeuromerError(f"metadata column {name!r} must be one-dimensional, got shape {col.shape}.")
            cols[str(name)] = col.astype(object) if col.dtype.kind in "US" else col  # as pandas holds text
        lengths = {len(c) for c in cols.values()}
        if len(lengths) > 1:
            raise NeuromerError(f"metadata columns have different lengths ({sorted(lengths)}).")
        n_rows = lengths.pop() if lengths else 0
        if n_rows not in (0, n_trials):
            raise NeuromerError(f"metadata has {n_rows} rows for {n_trials} trials.")
        if n_rows == 0:
            cols = {}  # an empty table is no table (as a DataFrame's index would be replaced)
        if "trial" not in cols:
            cols["trial"] = np.arange(1, n_trials + 1)
        if "stimulus_id" not in cols:
            cols["stimulus_id"] = cols["trial"]
        if "onset_s" not in cols:
            cols["onset_s"] = np.full(n_trials, np.nan)
        if "duration_s" not in cols:
            cols["duration_s"] = np.full(n_trials, self.stimulus_s)
        cols["stimulus_id"] = np.array([str(v) for v in cols["stimulus_id"]], dtype=object).reshape(n_trials)
        if labels is None:
            labels = np.column_stack([np.asarray(cols[n], dtype=float) if n in cols else np.full(n_trials, np.nan)
                                      for n in LABEL_NAMES]) if n_trials else np.empty((0, 4))
        labels = self._check_labels(labels, n_trials)
        for i, name in enumerate(LABEL_NAMES):
            cols[name] = labels[:, i].copy()
        first = list(TRIAL_COLUMNS) + list(LABEL_NAMES)
        return {name: cols[name] for name in first + [c for c in cols if c not in first]}

    def _table_frame(self, metadata: pd.DataFrame, n_trials: int, labels) -> pd.DataFrame:
        """The trials table from a DataFrame: standard columns filled in, labels set, in order."""
        import pandas as pd

        meta = metadata.copy().reset_index(drop=True)
        if len(meta) not in (0, n_trials):
            raise NeuromerError(f"metadata has {len(meta)} rows for {n_trials} trials.")
        if len(meta) == 0:
            meta = pd.DataFrame(index=range(n_trials))
        if "trial" not in meta:
            meta["trial"] = np.arange(1, n_trials + 1)
        if "stimulus_id" not in meta:
            meta["stimulus_id"] = [str(t) for t in meta["trial"]]
        if "onset_s" not in meta:
            meta["onset_s"] = np.nan
        if "duration_s" not in meta:
            meta["duration_s"] = self.stimulus_s
        meta["stimulus_id"] = meta["stimulus_id"].astype(str)
        if labels is None:
            labels = np.column_stack([meta[n].to_numpy(float) if n in meta else np.full(n_trials, np.nan)
                                      for n in LABEL_NAMES]) if n_trials else np.empty((0, 4))
        labels = self._check_labels(labels, n_trials)
        for i, name in enumerate(LABEL_NAMES):
            meta[name] = labels[:, i]
        first = list(TRIAL_COLUMNS) + list(LABEL_NAMES)
        return meta[first + [c for c in meta.columns if c not in first]]

    @staticmethod
    def _check_labels(labels, n_trials: int) -> np.ndarray:
        labels = check_array(labels, "labels", ndim=2).astype(np.float64)
        if labels.shape != (n_trials, len(LABEL_NAMES)):
            raise NeuromerError(f"labels must have shape ({n_trials}, 4), got {labels.shape}.")
        return labels

    @property
    def metadata(self) -> pd.DataFrame:
        """The trials table: ``trial, stimulus_id, onset_s, duration_s``, the ratings, then any other columns."""
        if self._metadata is None:
            import pandas as pd

            self._metadata = pd.DataFrame(self._columns)
            self._columns = None
        return self._metadata

    @metadata.setter
    def metadata(self, table: pd.DataFrame) -> None:
        self._metadata, self._columns = table, None

    @property
    def dropped(self) -> pd.DataFrame:
        """Trials left out when cutting a session: ``trial, stimulus_id, reason``."""
        if not hasattr(self._dropped, "reset_index"):  # None, or a function building it: build it now
            table = self._dropped() if callable(self._dropped) else None
            if table is None:
                import pandas as pd

                table = pd.DataFrame(columns=["trial", "stimulus_id", "reason"])
            self._dropped = table.reset_index(drop=True)
        return self._dropped

    @dropped.setter
    def dropped(self, table: pd.DataFrame) -> None:
        self._dropped = table

    def column(self, name: str) -> np.ndarray:
        """One column of the trials table as a numpy array, without building :attr:`metadata`.

        Raises
        ------
        KeyError
            No such column.
        """
        if self._columns is not None:
            return self._columns[name]
        return self._metadata[name].to_numpy()

    def _set_column(self, name: str, values: np.ndarray) -> None:
        if self._columns is not None:
            self._columns[name] = values
        else:
            self._metadata[name] = values

    def _table_rows(self, idx: np.ndarray):
        """The trials table's rows ``idx``, as columns if the DataFrame was not built."""
        if self._columns is not None:
            return {name: col[idx].copy() for name, col in self._columns.items()}
        return self._metadata.iloc[idx]

    def check_ratings(self, scale_min: float = 1.0, scale_max: float = 9.0, *, source: str = "") -> int:
        """Set ratings outside ``[scale_min, scale_max]`` (or not finite) to NaN, with one warning.

        A rating of 100 on a 1-9 scale would otherwise count as "high" in every model and
        quadrant; NaN marks it missing, so models leave that trial out of that target.

        Parameters
        ----------
        scale_min, scale_max : float
            The rating scale (DEAP's SAM: 1-9).
        source : str
            File the ratings came from, named in the warning.

        Returns
        -------
        int
            The number of ratings set to NaN (the warning names each trial and scale).
        """
        if np.isfinite([scale_min, scale_max]).all():
            # remembered, so that a file written from these trials says which scale they are on
            self.rating_scale = (float(scale_min), float(scale_max))
        labels = self.labels
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(labels) & ~(np.isfinite(labels) & (labels >= scale_min) & (labels <= scale_max))
        if not bad.any():
            return 0
        trial_ids = self.column("trial")
        listed = [f"trial {trial_ids[i]} {LABEL_NAMES[j]}={labels[i, j]:g}" for i, j in zip(*np.nonzero(bad))]
        more = f" and {len(listed) - 8} more" if len(listed) > 8 else ""
        what = (f"outside the {scale_min:g}-{scale_max:g} scale" if np.isfinite([scale_min, scale_max]).all()
                else "not finite")
        msg = (f"{source or 'trials'}: {len(listed)} rating(s) {what} set to NaN (missing): "
               f"{', '.join(listed[:8])}{more}.")
        logger.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        for j, name in enumerate(LABEL_NAMES):
            col = np.array(self.column(name), dtype=np.float64)
            col[bad[:, j]] = np.nan
            self._set_column(name, col)
        return int(bad.sum())

    # ------------------------------------------------------------------ views
    @property
    def labels(self) -> np.ndarray:
        """Ratings, shape (n_trials, 4): valence, arousal, dominance, liking."""
        if self._columns is None:
            return self._metadata[list(LABEL_NAMES)].to_numpy(np.float64)
        return np.column_stack([self._columns[n] for n in LABEL_NAMES]).astype(np.float64, copy=False).reshape(
            self.n_trials, len(LABEL_NAMES))

    @property
    def n_trials(self) -> int:
        return self.data.shape[0]

    @property
    def n_samples(self) -> int:
        return self.data.shape[2]

    @property
    def times(self) -> np.ndarray:
        """Time of each sample from stimulus onset in seconds, shape (n_samples,)."""
        return np.arange(self.n_samples) / self.sfreq - self.baseline_s

    @property
    def stimulus_s(self) -> float:
        """Length of the stimulus period held (samples after the baseline) in seconds."""
        return self.n_samples / self.sfreq - self.baseline_s

    def picks(self, kinds: str | list[str]) -> np.ndarray:
        """Indices of channels whose type is in ``kinds`` (e.g. ``"eeg"``)."""
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        return np.array([i for i, t in enumerate(self.ch_types) if t in kinds], dtype=int)

    def pick(self, kinds: str | list[str]) -> Trials:
        """A new Trials with only the channels of the given types."""
        idx = self.picks(kinds)
        return Trials(self.data[:, idx], self.sfreq, [self.ch_names[i] for i in idx],
                      [self.ch_types[i] for i in idx], baseline_s=self.baseline_s,
                      metadata=self._table_rows(slice(None)), subject=self.subject, dropped=self._dropped)

    def __getitem__(self, item) -> Trials:
        """Select trials by index, slice or boolean mask."""
        idx = np.arange(self.n_trials)[item]
        idx = np.atleast_1d(idx)
        return Trials(self.data[idx], self.sfreq, self.ch_names, self.ch_types, baseline_s=self.baseline_s,
                      metadata=self._table_rows(idx), subject=self.subject, dropped=self._dropped)

    def __len__(self) -> int:
        return self.n_trials

    def __repr__(self) -> str:
        mb = self.data.nbytes / 1e6
        who = f"sub-{self.subject} | " if self.subject else ""
        return (f"<Trials | {who}{self.n_trials} trials x {len(self.ch_names)} ch x {self.n_samples} samples "
                f"({self.baseline_s:g} s baseline + {self.stimulus_s:.1f} s) at {self.sfreq:g} Hz, ~{mb:.1f} MB>")

    # ------------------------------------------------------------ conversions
    def _scales(self) -> np.ndarray:
        return np.array([1e-6 if t in MICROVOLT_TYPES else 1.0 for t in self.ch_types])

    def to_epochs(self) -> mne.EpochsArray:
        """An :class:`mne.EpochsArray` (volts, ``tmin=-baseline_s``, metadata = trials table)."""
        import mne

        info = mne.create_info(self.ch_names, self.sfreq, self.ch_types)
        if self.subject:
            info["subject_info"] = {"his_id": self.subject}
        n = self.n_samples
        events = np.column_stack([np.arange(self.n_trials) * n, np.zeros(self.n_trials, int),
                                  np.ones(self.n_trials, int)]).astype(int)
        epochs = mne.EpochsArray(self.data.astype(np.float64) * self._scales()[None, :, None], info,
                                 events=events, tmin=-self.baseline_s, event_id={"stimulus": 1},
                                 metadata=self.metadata.reset_index(drop=True), baseline=None,
                                 verbose="error")
        return set_standard_montage(epochs)

    @classmethod
    def from_epochs(cls, epochs: mne.BaseEpochs, *, subject: str | None = None) -> Trials:
        """Build Trials from MNE epochs (``tmin`` <= 0 becomes the baseline)."""
        import mne

        validate_type(epochs, mne.BaseEpochs, "epochs")
        if epochs.tmin > 1e-9:
            raise NeuromerError(f"Epochs start {epochs.tmin} s after the stimulus; expected tmin <= 0.")
        ch_types = epochs.get_channel_types()
        scales = np.array([1e6 if t in MICROVOLT_TYPES else 1.0 for t in ch_types])
        data = epochs.get_data(copy=True) * scales[None, :, None]
        if subject is None:
            subject = (epochs.info.get("subject_info") or {}).get("his_id", "")
        meta = epochs.metadata.copy() if epochs.metadata is not None else None
        return cls(data, epochs.info["sfreq"], epochs.ch_names, ch_types, baseline_s=-epochs.tmin,
                   metadata=meta, subject=subject or "")
