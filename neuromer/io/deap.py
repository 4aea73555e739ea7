"""DEAP files: preprocessed ``.dat``/``.mat`` trials and the original BioSemi ``.bdf`` recordings.

DEAP (Koelstra et al. 2012, IEEE Trans. Affective Computing 3(1):18-31) ships, per participant:

- ``data_preprocessed_python/sXX.dat``: a Python-2 pickle of ``{'data': (40, 40, 8064),
  'labels': (40, 4)}`` -- 40 trials in video (Experiment_id) order, 40 channels in the Geneva order
  (:data:`DEAP_CHANNELS_GENEVA`), 128 Hz, a 3 s pre-trial baseline then 60 s of music video;
  labels are valence, arousal, dominance, liking. ``data_preprocessed_matlab/sXX.mat`` holds the
  same arrays.
- ``data_original/sXX.bdf``: the BioSemi recording at 512 Hz: 32 EEG channels (Twente order for
  participants 1-22, Geneva order for 23-32), EXG1-8 (EOG and EMG), GSR1/2, Erg1/2, Resp, Plet,
  Temp and the Status channel with the experiment's event codes (:data:`DEAP_STATUS_CODES`).

``.dat`` files are pickles, which can run code when loaded; :func:`read_deap` therefore uses a
restricted unpickler that builds numpy arrays and plain containers and refuses everything else
with :class:`~neuromer.errors.UnsafePickleError`, before anything is executed.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import check_file, check_option, validate_type
from .._logging import logger
from ..errors import DataFormatError, NeuromerError, UnsafePickleError
from ..session import Session, Trials, empty_trials_table, infer_channel_types, set_standard_montage
from ._atomic import atomic_path

if TYPE_CHECKING:  # mne loads only to read BDF recordings, pandas only where a table is built
    import mne
    import pandas as pd

#: The 32 EEG channels in the Geneva order (DEAP's preprocessed data and participants 23-32).
DEAP_EEG_GENEVA = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz",
    "Pz", "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8",
    "PO4", "O2",
)
#: The 32 EEG channels in the Twente order (the BioSemi 32 layout; original BDFs of participants 1-22).
DEAP_EEG_TWENTE = (
    "Fp1", "AF3", "F7", "F3", "FC1", "FC5", "T7", "C3", "CP1", "CP5", "P7", "P3", "Pz", "PO3", "O1",
    "Oz", "O2", "PO4", "P4", "P8", "CP6", "CP2", "C4", "T8", "FC6", "FC2", "F4", "F8", "AF4", "Fp2",
    "Fz", "Cz",
)
#: The 8 peripheral channels of the preprocessed data (bipolar EOG/EMG, then physiology).
DEAP_PERIPHERAL = ("hEOG", "vEOG", "zEMG", "tEMG", "GSR", "Respiration belt", "Plethysmograph",
                   "Temperature")
#: All 40 channels of DEAP's preprocessed data, in file order.
DEAP_CHANNELS_GENEVA = DEAP_EEG_GENEVA + DEAP_PERIPHERAL
#: MNE channel types of :data:`DEAP_CHANNELS_GENEVA` (plethysmograph is ``bio``).
DEAP_CHANNEL_TYPES = ("eeg",) * 32 + ("eog", "eog", "emg", "emg", "gsr", "resp", "bio", "temperature")
#: Sampling rate (Hz) and pre-trial baseline (s) of the preprocessed data.
DEAP_SFREQ = 128.0
DEAP_BASELINE_S = 3.0

#: Status codes of the original recordings (DEAP readme, "Data_original"): code -> event.
#: Code 1 marks the start of the experiment (1st), of the 2-min resting baseline (2nd) and then
#: each rating screen. Geneva files set BioSemi system bits above bit 16 (e.g. 0x190001), so
#: codes are read as ``status & 0xFF``.
DEAP_STATUS_CODES = {
    1: "experiment start / resting baseline start / rating screen",
    2: "video synchronisation screen",
    3: "fixation screen before the trial (5 s)",
    4: "start of music video playback (60 s)",
    5: "fixation screen after the music video (3 s)",
    7: "end of experiment",
}
_STATUS_MASK = 0xFF

# Original BDF channel -> (name in neuromer, MNE type), matched case-insensitively. EXG names
# follow the DEAP readme: hEOG1/2 left/right of the eyes, vEOG1/2 above/below the right eye,
# zEMG1/2 zygomaticus major, tEMG1/2 trapezius.
_BDF_CHANNELS = {
    "exg1": ("hEOG1", "eog"), "exg2": ("hEOG2", "eog"), "exg3": ("vEOG1", "eog"),
    "exg4": ("vEOG2", "eog"), "exg5": ("zEMG1", "emg"), "exg6": ("zEMG2", "emg"),
    "exg7": ("tEMG1", "emg"), "exg8": ("tEMG2", "emg"), "gsr1": ("GSR", "gsr"),
    "gsr2": ("GSR2", "misc"), "erg1": ("Erg1", "misc"), "erg2": ("Erg2", "misc"),
    "resp": ("Respiration belt", "resp"), "plet": ("Plethysmograph", "bio"),
    "temp": ("Temperature", "temperature"), "status": ("Status", "stim"),
}
_RATING_COLUMNS = {"valence": "Valence", "arousal": "Arousal", "dominance": "Dominance", "liking": "Liking"}


# ------------------------------------------------------------------ safe unpickling
def _numpy_multiarray():
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    return multiarray, numeric


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds numpy arrays, dtypes, scalars and plain containers; refuses every other global."""

    def __init__(self, file, path: Path) -> None:
        # latin1: DEAP's pickles were written by Python 2, whose str holds numpy's raw bytes
        super().__init__(file, encoding="latin1")
        self.path = path
        ma, nu = _numpy_multiarray()
        allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                               ("_codecs", "encode"): self._latin1_encode}
        for core in ("numpy.core", "numpy._core"):
            allowed[(f"{core}.multiarray", "_reconstruct")] = ma._reconstruct
            allowed[(f"{core}.multiarray", "scalar")] = ma.scalar
            allowed[(f"{core}.numeric", "_frombuffer")] = nu._frombuffer
        for name, obj in (("set", set), ("frozenset", frozenset), ("complex", complex)):
            allowed[("builtins", name)] = obj
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        module, name = _python3_name(module, name)
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.path}: refusing to unpickle '{module}.{name}' "
                "(only numpy arrays and plain containers are allowed).") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.path}: refusing a pickle persistent id (only numpy arrays and "
                                "plain containers are allowed).")

    def _latin1_encode(self, text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(text, 'latin1'); allow only that
        if str(encoding).lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
            raise UnsafePickleError(f"{self.path}: refusing to unpickle '_codecs.encode' with encoding "
                                    f"{encoding!r} (only latin1 byte strings are allowed).")
        return str(text).encode("latin1")


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Python 2 names in protocol <= 2 pickles ('__builtin__', 'commands') as Python 3 names."""
    try:
        from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
    except ImportError:  # pragma: no cover - CPython always has it
        return module, name
    if (module, name) in NAME_MAPPING:
        return NAME_MAPPING[(module, name)]
    return IMPORT_MAPPING.get(module, module), name


def _load_dat(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return _RestrictedUnpickler(fh, path).load()
    except NeuromerError:
        raise
    except Exception as exc:  # pickle raises many exception types for bad or truncated input
        raise DataFormatError(f"{path}: not a readable DEAP .dat pickle (truncated or corrupt: "
                              f"{type(exc).__name__}: {exc}).") from None


def _load_mat(path: Path) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(path)
    except NotImplementedError:
        raise DataFormatError(f"{path}: MATLAB v7.3 (HDF5) .mat files are not supported; "
                              "save it with -v7 or use DEAP's .dat file.") from None
    except Exception as exc:  # scipy raises ValueError, MatReadError, TypeError, OSError...
        raise DataFormatError(f"{path}: not a readable .mat file ({type(exc).__name__}: {exc}).") from None


# ---------------------------------------------------------------------- reading
def read_deap(path: str | os.PathLike, *, subject: str | None = None) -> Trials:
    """Read DEAP's preprocessed trials (``sXX.dat`` pickle or ``sXX.mat``).

    Parameters
    ----------
    path : path-like
        A ``.dat`` (loaded with a restricted unpickler: numpy arrays and plain containers only) or
        a ``.mat`` file holding ``data`` (n_trials, n_channels, n_samples) and ``labels``
        (n_trials, 4).
    subject : str | None
        Subject id; by default from the file (``s01.dat`` -> ``"01"``).

    Returns
    -------
    Trials
        ``data`` in the file's dtype (EEG/EOG/EMG in microvolts as DEAP stores them), 128 Hz with a
        3 s baseline; 40 channels get DEAP's Geneva names and types, 32 channels the EEG names,
        any other count generic names ``ch1, ch2, ...`` (warning). Trial ``i`` has stimulus id
        ``str(i)`` (DEAP orders trials by Experiment_id). Files written by :func:`write_deap`
        restore their own channels, rate, baseline, subject and trials table.

    Raises
    ------
    UnsafePickleError
        The pickle asks for anything but numpy arrays and plain containers (nothing is executed).
    DataFormatError
        Missing, truncated or corrupt file, missing ``data``/``labels`` or wrong shapes.

    Examples
    --------
    >>> trials = read_deap("data_preprocessed_python/s01.dat")  # doctest: +SKIP
    >>> trials.data.shape  # doctest: +SKIP
    (40, 40, 8064)
    """
    path = check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".dat":
        content = _load_dat(path)
        info = content.get("neuromer") if isinstance(content, dict) else None
    elif suffix == ".mat":
        content = _load_mat(path)
        info = _mat_json(path, content.get("neuromer"))
    else:
        raise DataFormatError(f"{path}: unknown DEAP file type {suffix!r} (expected .dat or .mat).")
    if not isinstance(content, dict):
        raise DataFormatError(f"{path}: expected a dict with 'data' and 'labels', got {type(content).__name__}.")
    missing = [k for k in ("data", "labels") if k not in content]
    if missing:
        raise DataFormatError(f"{path}: missing {' and '.join(repr(k) for k in missing)} "
                              f"(found keys: {', '.join(map(repr, _public_keys(content))) or 'none'}).")
    data, labels = content["data"], content["labels"]
    if not isinstance(data, np.ndarray) or data.ndim != 3 or data.dtype.kind not in "fiu":
        raise DataFormatError(f"{path}: 'data' must be a numeric array (trials, channels, samples), got "
                              f"{_describe(data)}.")
    if data.shape[0] == 0:
        raise DataFormatError(f"{path}: 'data' holds no trials (shape {data.shape}).")
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "fiu" or labels.shape != (data.shape[0], 4):
        raise DataFormatError(f"{path}: 'labels' must be a numeric ({data.shape[0]}, 4) array, got "
                              f"{_describe(labels)}.")
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    labels = labels.astype(np.float64)

    if info is not None:
        kwargs = _from_info(path, info, data.shape)
    else:
        kwargs = {"sfreq": DEAP_SFREQ, "baseline_s": DEAP_BASELINE_S, "metadata": None, "dropped": None,
                  "subject": _subject_from_name(path)}
        kwargs["ch_names"], kwargs["ch_types"] = _default_channels(path, data.shape[1])
        if data.shape[2] < DEAP_BASELINE_S * DEAP_SFREQ:
            raise DataFormatError(f"{path}: {data.shape[2]} samples per trial is shorter than DEAP's "
                                  f"{DEAP_BASELINE_S:g} s baseline at {DEAP_SFREQ:g} Hz.")
    if subject is not None:
        kwargs["subject"] = str(subject)
    try:
        trials = Trials(data, kwargs.pop("sfreq"), kwargs.pop("ch_names"), kwargs.pop("ch_types"),
                        labels=labels, **kwargs)
    except DataFormatError:
        raise
    except NeuromerError as exc:
        raise DataFormatError(f"{path}: {exc}") from None
    if info is None:  # DEAP's own files: SAM ratings on the 1-9 scale
        trials.check_ratings(1.0, 9.0, source=str(path))
    elif "rating_scale" in info:  # the scale the writer's trials were checked against
        trials.check_ratings(*_rating_scale(path, info["rating_scale"]), source=str(path))
    else:  # written without a known scale: only an infinite rating is certainly wrong
        trials.check_ratings(-np.inf, np.inf, source=str(path))
    logger.info("read %s: %r", path, trials)
    return trials


def _public_keys(content: dict) -> list:
    return [k for k in content if not (isinstance(k, str) and k.startswith("__"))]


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__


def _subject_from_name(path: Path) -> str:
    m = re.match(r"^s(?:ub-?)?(\d+)", path.stem, flags=re.IGNORECASE)
    return m.group(1) if m else ""


def _default_channels(path: Path, n_channels: int) -> tuple[list[str], list[str]]:
    if n_channels == len(DEAP_CHANNELS_GENEVA):
        return list(DEAP_CHANNELS_GENEVA), list(DEAP_CHANNEL_TYPES)
    if n_channels == len(DEAP_EEG_GENEVA):
        return list(DEAP_EEG_GENEVA), ["eeg"] * n_channels
    logger.warning("%s: %d channels is not DEAP's 40 (or 32 EEG); using generic names ch1..ch%d.",
                   path, n_channels, n_channels)
    return [f"ch{i}" for i in range(1, n_channels + 1)], ["misc"] * n_channels


def _mat_json(path: Path, value: Any) -> dict | None:
    if value is None:
        return None
    try:
        text = str(np.asarray(value).ravel()[0])
        info = json.loads(text)
    except (IndexError, ValueError) as exc:
        raise DataFormatError(f"{path}: the 'neuromer' entry is not valid JSON ({exc}).") from None
    return info


def _rating_scale(path: Path, value: Any) -> tuple[float, float]:
    """The (min, max) rating scale recorded in a 'neuromer' entry, validated."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise DataFormatError(f"{path}: the 'neuromer' entry is invalid ('rating_scale' must be two "
                              f"finite numbers, min < max, got {value!r}).")
    return lo, hi


def _from_info(path: Path, info: Any, shape: tuple[int, int, int]) -> dict:
    """Trials keyword arguments from the plain 'neuromer' entry written by :func:`write_deap`."""
    def bad(what: str) -> DataFormatError:
        return DataFormatError(f"{path}: the 'neuromer' entry is invalid ({what}).")

    if not isinstance(info, dict):
        raise bad(f"expected a dict, got {type(info).__name__}")
    n_trials, n_channels, _ = shape
    ch_names, ch_types = info.get("ch_names"), info.get("ch_types")
    for name, value in (("ch_names", ch_names), ("ch_types", ch_types)):
        if not isinstance(value, list) or len(value) != n_channels or not all(isinstance(v, str) for v in value):
            raise bad(f"'{name}' must list {n_channels} strings")
    try:
        sfreq, baseline_s = float(info["sfreq"]), float(info.get("baseline_s", DEAP_BASELINE_S))
    except (KeyError, TypeError, ValueError):
        raise bad("'sfreq' and 'baseline_s' must be numbers") from None
    if not (math.isfinite(sfreq) and sfreq > 0 and math.isfinite(baseline_s) and baseline_s >= 0):
        raise bad(f"sfreq={sfreq!r}, baseline_s={baseline_s!r}")
    metadata = _table_from_plain(path, info.get("trials"), info.get("trials_dtypes"), n_trials, "trials")
    if metadata is not None:
        metadata = _plain_columns(metadata, info.get("trials_dtypes")) or _pandas_table(path, metadata,
                                                                                        info.get("trials_dtypes"))
    dropped = _table_from_plain(path, info.get("dropped"), info.get("dropped_dtypes"), None, "dropped")
    if dropped is not None:  # a DataFrame built on first use (Trials.dropped): reading needs no pandas
        dropped = functools.partial(_pandas_table, path, dropped, info.get("dropped_dtypes"))
    return {"sfreq": sfreq, "baseline_s": baseline_s, "ch_names": ch_names, "ch_types": ch_types,
            "subject": str(info.get("subject") or _subject_from_name(path)), "metadata": metadata,
            "dropped": dropped}


def _table_from_plain(path: Path, table: Any, dtypes: Any, n_rows: int | None, name: str) -> dict | None:
    """A checked plain table (column -> list of values) from a 'neuromer' entry; None if absent."""
    if table is None:
        return None
    if not isinstance(table, dict) or not all(isinstance(v, list) for v in table.values()):
        raise DataFormatError(f"{path}: the 'neuromer' entry is invalid ('{name}' must map columns to lists).")
    lengths = {len(v) for v in table.values()}
    if len(lengths) > 1 or (n_rows is not None and lengths and lengths != {n_rows}):
        raise DataFormatError(f"{path}: the 'neuromer' entry is invalid ('{name}' columns have "
                              f"{sorted(lengths)} rows{f' for {n_rows} trials' if n_rows is not None else ''}).")
    return {str(k): v for k, v in table.items()}


def _pandas_table(path: Path, table: dict, dtypes: Any) -> pd.DataFrame:
    """The plain table as a DataFrame, with the dtypes the writer recorded restored where possible."""
    import pandas as pd

    df = pd.DataFrame(table)
    for col, dtype in (dtypes or {}).items() if isinstance(dtypes, dict) else ():
        if col in df and isinstance(dtype, str) and dtype != "object":
            try:
                df[col] = df[col].astype(dtype)
            except (TypeError, ValueError):
                logger.debug("%s: could not restore dtype %s of column %r", path, dtype, col)
    return df


def _plain_columns(table: dict, dtypes: Any) -> dict[str, np.ndarray] | None:
    """The plain table as numpy columns equal to :func:`_pandas_table`'s, or None where that needs pandas.

    Covers what :func:`write_deap` writes for trials tables: numeric and boolean columns with
    their numpy dtype recorded, and text columns (``object``, every value a str). Anything else
    (pandas dtypes such as ``category``, mixed objects, unrecorded dtypes) goes through pandas.
    """
    if not isinstance(dtypes, dict) or set(dtypes) != set(table):
        return None
    cols = {}
    for name, values in table.items():
        dtype = dtypes[name]
        if dtype == "object":
            if not all(isinstance(v, str) for v in values):
                return None
            col = np.empty(len(values), dtype=object)
            col[:] = values
        else:
            try:
                kind = np.dtype(dtype).kind if isinstance(dtype, str) else ""
            except TypeError:
                return None
            # None (a missing value) only where numpy and pandas both read it as NaN
            ok = {"f": (float, int), "i": (int,), "u": (int,), "b": (bool,)}.get(kind)
            if ok is None or not all(isinstance(v, ok) and not (kind in "iu" and isinstance(v, bool))
                                     or (v is None and kind == "f") for v in values):
                return None
            try:
                col = np.array(values, dtype=dtype)
            except (TypeError, ValueError, OverflowError):
                return None
        cols[name] = col
    return cols


# ---------------------------------------------------------------------- writing
def write_deap(trials: Trials, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write trials as a DEAP ``.dat`` (a pickle, protocol 5) or ``.mat`` file, atomically.

    The file holds ``data`` (n_trials, n_channels, n_samples; dtype kept, so reading it back is
    bit-exact) and ``labels`` (n_trials, 4, float64) as DEAP's files do, plus a ``neuromer`` entry
    that DEAP readers ignore: channel names and types, ``sfreq`` (Hz), ``baseline_s``, subject and
    the trials table, as plain Python types in ``.dat`` and as a JSON string in ``.mat`` (where
    non-finite table values become null).

    ``.dat`` files are standard pickles of that dict, read by any Python >= 3.8 the way DEAP's
    own files are (``pickle.load(f, encoding="latin1")``, or :func:`read_deap`). Protocol 5 stores
    the arrays' bytes as they are: a DEAP-sized subject (40 x 40 x 8064 float64) takes 103 MB and
    loads about 3-5x faster than with protocol 2, in which Python 3 writes bytes as latin-1 text
    (150 MB, decoded on load). Python 2, which cannot read protocol 5, is not supported.

    Parameters
    ----------
    trials : Trials
    path : path-like
        Ends in ``.dat`` or ``.mat``.
    overwrite : bool
        Replace an existing file (refused by default).

    Returns
    -------
    Path
        ``path``.
    """
    validate_type(trials, Trials, "trials")
    validate_type(path, (str, os.PathLike), "path")
    path = Path(path).expanduser()
    suffix = check_option(path.suffix.lower(), [".dat", ".mat"], "path extension")
    info = _to_info(trials)
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        if suffix == ".dat":
            pickle.dump({"data": trials.data, "labels": trials.labels, "neuromer": info}, fh, protocol=5)
        else:
            from scipy.io import savemat

            text = json.dumps(_nan_to_none(info), ensure_ascii=True, allow_nan=False)
            savemat(fh, {"data": trials.data, "labels": trials.labels, "neuromer": text}, oned_as="row")
    logger.info("wrote %s", path)
    return path


def _to_info(trials: Trials) -> dict:
    return {
        "format": "neuromer-deap", "version": 1, "ch_names": list(trials.ch_names),
        "ch_types": list(trials.ch_types), "sfreq": float(trials.sfreq), "baseline_s": float(trials.baseline_s),
        "subject": trials.subject,
        "trials": _plain_table(trials.metadata), "trials_dtypes": _dtypes(trials.metadata),
        "dropped": _plain_table(trials.dropped), "dropped_dtypes": _dtypes(trials.dropped),
        **({"rating_scale": [float(v) for v in trials.rating_scale]} if trials.rating_scale else {}),
    }


def _dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {str(c): str(t) for c, t in df.dtypes.items()}


def _plain_table(df: pd.DataFrame) -> dict[str, list]:
    return {str(col): [_plain(v) for v in df[col].tolist()] for col in df.columns}


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        v = v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
    import pandas as pd  # a DataFrame's values are being written: pandas is loaded

    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


# ----------------------------------------------------------------- original BDF
def read_deap_bdf(path: str | os.PathLike, *, protocol=None, subject: str | None = None,
                  ratings: str | os.PathLike | None = None, eeg_order: str = "auto") -> Session:
    """Read one of DEAP's original BioSemi recordings (``data_original/sXX.bdf``) as a Session.

    Channels are renamed and typed: the 32 EEG channels get their 10-20 names in the Geneva order
    (:data:`DEAP_EEG_GENEVA`); EXG1-8 become ``hEOG1, hEOG2, vEOG1, vEOG2`` (eog) and ``zEMG1,
    zEMG2, tEMG1, tEMG2`` (emg); GSR1 ``GSR`` (gsr); Resp ``Respiration belt`` (resp); Plet
    ``Plethysmograph`` (bio); Temp ``Temperature`` (temperature); GSR2/Erg1/Erg2 stay misc. Signals
    are as recorded (no bipolar derivation, no GSR unit conversion).

    The Status channel (``& 0xFF``, see :data:`DEAP_STATUS_CODES`) becomes markers in the
    protocol's vocabulary: code 3 -> ``baseline_start`` (the 5 s fixation), code 4 ->
    ``stimulus_on``, code 5 -> ``stimulus_off``; codes 1, 2 and 7 become ``deap/experiment_start``,
    ``deap/rest_start``, ``deap/rating_screen``, ``deap/sync`` and ``deap/experiment_end``.

    Parameters
    ----------
    path : path-like
        The ``.bdf`` file.
    protocol : Protocol | None
        Marker vocabulary and stimulus length; default the shipped ``deap`` protocol.
    subject : str | None
        Subject id; default from the file name (``s05.bdf`` -> ``"05"``).
    ratings : path-like | None
        DEAP's ``participant_ratings.csv``. With it, trials get their video id (Experiment_id) as
        ``stimulus_id`` and the participant's ratings; without it, ``stimulus_id`` is the
        presentation position (``"1"``...) and ratings are NaN.
    eeg_order : ``"auto"`` | ``"labels"`` | ``"twente"`` | ``"geneva"``
        How to identify the first 32 channels: by their labels when these are the 32 electrode
        names, else by site (participants 1-22 Twente, 23-32 Geneva) (``"auto"``); or forced.

    Returns
    -------
    Session
        512 Hz raw with markers, standard montage and a ``trials`` table (``trial,
        stimulus_id, onset_s, duration_s`` + ratings; onsets in s from the first sample).
    """
    path = check_file(path)
    check_option(eeg_order, ["auto", "labels", "twente", "geneva"], "eeg_order")
    subject = _subject_from_name(path) if subject is None else str(subject)
    protocol = _default_protocol() if protocol is None else protocol
    raw = _read_bdf(path)

    stim = [i for i, t in enumerate(raw.get_channel_types()) if t == "stim"]
    status = raw.get_data(picks=stim[:1])[0] if stim else None
    order, source = _identify_eeg(path, raw, subject, eeg_order)
    _rename_bdf_channels(raw, order)

    onsets, codes = _status_events(status) if status is not None else (np.empty(0, int), np.empty(0, int))
    if status is None:
        logger.warning("%s: no Status channel; the session has no markers or trials.", path)
    sfreq = raw.info["sfreq"]
    trials = _bdf_trials(onsets, codes, sfreq, protocol)
    if ratings is not None:
        _add_ratings(trials, ratings, subject)
    from .mne_formats import append_markers

    times, texts = _bdf_markers(onsets, codes, sfreq, trials, protocol)
    append_markers(raw, times, texts)
    set_standard_montage(raw)
    session = Session(raw, trials=trials, protocol=protocol, subject=subject,
                      provenance={"source_files": [str(path)] + ([str(ratings)] if ratings else [])})
    session.add_step("read_deap_bdf", eeg_order=order, eeg_order_from=source, status_mask=_STATUS_MASK)
    logger.info("read %s: %r", path, session)
    return session


def _default_protocol():
    from ..protocol import Protocol, read_protocol

    try:
        return read_protocol("deap", check_files=False)
    except NeuromerError:
        logger.debug("no shipped 'deap' protocol; using the default marker vocabulary")
        return Protocol(name="deap")


def _read_bdf(path: Path) -> mne.io.BaseRaw:
    import mne

    try:
        head = mne.io.read_raw_bdf(path, preload=False, verbose="error")
        names = head.ch_names
        stim: Any = "auto"
        if "status" not in (n.lower() for n in names) and names and (
                len(names) == 48 or names[-1].strip() in ("", "-1")):
            stim = [len(names) - 1]  # some Geneva files name their Status channel '' or '-1'
            logger.info("%s: using the last channel %r as the Status channel", path, names[-1])
        return mne.io.read_raw_bdf(path, preload=True, stim_channel=stim, verbose="error")
    except Exception as exc:  # mne raises ValueError, RuntimeError, OSError... on a bad file
        raise DataFormatError(f"{path}: not a readable BDF file ({type(exc).__name__}: {exc}).") from None


def _identify_eeg(path: Path, raw: mne.io.BaseRaw, subject: str, eeg_order: str) -> tuple[str, str]:
    labels = [n.strip().lower() for n in raw.ch_names[:32]]
    named = len(raw.ch_names) >= 32 and sorted(labels) == sorted(n.lower() for n in DEAP_EEG_GENEVA)
    if eeg_order in ("twente", "geneva"):
        return eeg_order, "argument"
    if named:
        order = "geneva" if labels == [n.lower() for n in DEAP_EEG_GENEVA] else (
            "twente" if labels == [n.lower() for n in DEAP_EEG_TWENTE] else "labels")
        return order, "labels"
    if eeg_order == "labels":
        raise DataFormatError(f"{path}: the first 32 channel labels are not DEAP's 32 electrode names, "
                              "so eeg_order='labels' cannot be used.")
    if len(raw.ch_names) < 32:
        raise DataFormatError(f"{path}: {len(raw.ch_names)} channels, expected DEAP's 32 EEG channels first.")
    if not subject.isdigit():
        raise DataFormatError(f"{path}: EEG labels are not electrode names and the subject number is "
                              "unknown; pass subject= or eeg_order='twente'/'geneva'.")
    return ("twente" if int(subject) <= 22 else "geneva"), "subject"


def _rename_bdf_channels(raw: mne.io.BaseRaw, order: str) -> None:
    """Rename/type channels in place and move the EEG into the Geneva order."""
    canon = {n.lower(): n for n in DEAP_EEG_GENEVA}
    if order == "twente":
        eeg_names = list(DEAP_EEG_TWENTE)
    elif order == "geneva":
        eeg_names = list(DEAP_EEG_GENEVA)
    else:
        eeg_names = [canon[n.strip().lower()] for n in raw.ch_names[:32]]
    mapping, types = {}, {}
    for i, old in enumerate(raw.ch_names):
        if i < 32:
            new, kind = eeg_names[i], "eeg"
        else:
            new, kind = _BDF_CHANNELS.get(old.strip().lower(), (old, None))
            if kind is None and raw.get_channel_types()[i] == "stim":
                new, kind = "Status", "stim"
            elif kind is None:  # an extra channel: the BDF reader called it eeg
                kind = infer_channel_types([old])[0]
                kind = "misc" if kind == "eeg" else kind
        if new != old:
            mapping[old] = new
        if kind is not None:
            types[new] = kind
    taken = set(raw.ch_names) - set(mapping)
    clash = taken & set(mapping.values())
    if clash:
        raise DataFormatError(f"{raw.filenames[0]}: cannot rename channels, {sorted(clash)} already exist.")
    raw.rename_channels(mapping, verbose="error")
    raw.set_channel_types(types, on_unit_change="ignore", verbose="error")
    rest = [n for n in raw.ch_names if n not in DEAP_EEG_GENEVA]
    raw.reorder_channels(list(DEAP_EEG_GENEVA) + rest)


def _status_events(status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples where the masked status code changes to a non-zero value, and the codes."""
    codes = np.rint(status).astype(np.int64) & _STATUS_MASK
    prev = np.concatenate([[0], codes[:-1]])
    idx = np.flatnonzero((codes != prev) & (codes != 0))
    return idx, codes[idx]


def _bdf_trials(onsets: np.ndarray, codes: np.ndarray, sfreq: float, protocol) -> pd.DataFrame:
    import pandas as pd

    rows = []
    starts = onsets[codes == 4]
    ends = onsets[codes == 5]
    for k, start in enumerate(starts):
        nxt = starts[k + 1] if k + 1 < len(starts) else np.inf
        after = ends[(ends > start) & (ends < nxt)]
        duration = (after[0] - start) / sfreq if len(after) else protocol.timing.stimulus_s
        if not len(after):
            logger.warning("trial %d has no end-of-video code 5; using stimulus_s = %g s", k + 1, duration)
        rows.append({"trial": k + 1, "stimulus_id": str(k + 1), "onset_s": start / sfreq,
                     "duration_s": float(duration)})
    table = empty_trials_table()
    if rows:
        table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
        table["trial"] = table["trial"].astype("int64")
    return table


def _bdf_markers(onsets: np.ndarray, codes: np.ndarray, sfreq: float, trials: pd.DataFrame,
                 protocol) -> tuple[list[float], list[str]]:
    def fmt(kind: str, **fields: Any) -> str | None:
        return None if getattr(protocol.markers, kind) is None else protocol.markers.format(kind, **fields)

    times, texts = [], []
    n_ones, trial = 0, -1
    ids = trials["stimulus_id"].tolist()
    for sample, code in zip(onsets.tolist(), codes.tolist()):
        text = None
        if code == 1:
            n_ones += 1
            text = {1: "deap/experiment_start", 2: "deap/rest_start"}.get(n_ones, "deap/rating_screen")
        elif code == 2:
            text = "deap/sync"
        elif code == 3:
            text = fmt("baseline_start")
        elif code == 4:
            trial += 1
            text = fmt("stimulus_on", stimulus_id=ids[trial])
        elif code == 5:
            if 0 <= trial < len(ids):
                text = fmt("stimulus_off", stimulus_id=ids[trial])
        elif code == 7:
            text = "deap/experiment_end"
        else:
            text = f"deap/status/{code}"
        if text is not None:
            times.append(sample / sfreq)
            texts.append(text)
    return times, texts


def _add_ratings(trials: pd.DataFrame, ratings: str | os.PathLike, subject: str) -> None:
    """Fill stimulus ids (Experiment_id) and ratings from DEAP's participant_ratings.csv, in place."""
    import pandas as pd

    path = check_file(ratings, "ratings")
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # pandas raises ParserError, UnicodeDecodeError, EmptyDataError...
        raise DataFormatError(f"{path}: not a readable CSV file ({type(exc).__name__}: {exc}).") from None
    table.columns = [str(c).strip() for c in table.columns]
    need = ["Participant_id", "Trial", "Experiment_id", *_RATING_COLUMNS.values()]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {', '.join(missing)} (found: "
                              f"{', '.join(table.columns)}); expected DEAP's participant_ratings.csv.")
    if not subject.isdigit():
        raise DataFormatError(f"{path}: cannot pick a participant's ratings without a numeric subject id "
                              f"(got {subject!r}).")
    rows = table[pd.to_numeric(table["Participant_id"], errors="coerce") == int(subject)]
    by_trial = {int(t): r for t, r in zip(pd.to_numeric(rows["Trial"], errors="coerce"), rows.itertuples())
                if pd.notna(t)}
    for i, trial in enumerate(trials["trial"].tolist()):
        row = by_trial.get(int(trial))
        if row is None:
            logger.warning("%s: no rating row for participant %s, trial %d.", path, subject, trial)
            continue
        trials.loc[i, "stimulus_id"] = str(int(row.Experiment_id))
        for name, col in _RATING_COLUMNS.items():
            trials.loc[i, name] = float(getattr(row, col))
