"""Any recording MNE can read (EDF, BDF, BrainVision, FIF, EEGLAB, ...) as a Session.

Markers come from the file's own annotations plus, optionally, an events CSV/TSV with an onset
column (``onset_s``, ``onset`` or ``time``; seconds from the first sample) and a marker column
(``description``, ``marker``, ``value`` or ``trial_type``), and an optional ``duration`` column.
"""

from __future__ import annotations

import os
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from .._checks import check_file, validate_type
from .._logging import logger
from ..errors import DataFormatError
from ..session import Session, infer_channel_types, set_standard_montage

#: Accepted names (lower case) of the events file's columns, in order of preference.
ONSET_COLUMNS = ("onset_s", "onset", "time", "time_s")
DESCRIPTION_COLUMNS = ("description", "marker", "value", "trial_type")
_RETYPE_FROM = ("eeg", "misc")  # types readers give by default; replaced when the name says more


def read_raw_any(path: str | os.PathLike, *, events: str | os.PathLike | None = None, protocol=None,
                 subject: str = "", session: str = "") -> Session:
    """Read any MNE-readable continuous recording as a :class:`~neuromer.session.Session`.

    Parameters
    ----------
    path : path-like
        EDF/BDF/GDF, BrainVision ``.vhdr``, FIF, EEGLAB ``.set``... (whatever
        :func:`mne.io.read_raw` reads).
    events : path-like | None
        A CSV (or ``.tsv``) of extra markers: onset in seconds from the first sample
        (``onset_s``/``onset``/``time``), marker text (``description``/``marker``/``value``/
        ``trial_type``) and optionally ``duration`` (s). Added to the file's annotations.
    protocol : Protocol | None
        With a protocol, ``session.trials`` is filled from the markers with
        :func:`neuromer.epochs.trials_from_markers` (problems are warnings).
    subject, session : str
        Identifiers stored on the Session.

    Returns
    -------
    Session
        Signals in MNE's SI units; channels MNE typed ``eeg``/``misc`` whose names say otherwise
        (``GSR``, ``Resp``, ``EOG``, ``Status``...) are re-typed with
        :func:`~neuromer.session.infer_channel_types`; standard 10-20 montage on the EEG.

    Raises
    ------
    DataFormatError
        Missing or unreadable recording; missing events file or one without usable columns.

    Examples
    --------
    >>> s = read_raw_any("sub-01.vhdr", events="sub-01_markers.csv", protocol=proto)  # doctest: +SKIP
    """
    path = check_file(path)
    validate_type(subject, str, "subject")
    validate_type(session, str, "session")
    try:
        raw = mne.io.read_raw(path, preload=True, verbose="error")
    except Exception as exc:  # mne raises ValueError, RuntimeError, OSError... for bad files
        raise DataFormatError(f"{path}: not a recording MNE can read ({type(exc).__name__}: {exc}).") from None
    _retype_channels(raw)
    sources = [str(path)]
    if events is not None:
        onset_s, duration_s, description = read_events_csv(events)
        append_markers(raw, onset_s, description, duration_s)
        sources.append(str(Path(events)))
    set_standard_montage(raw)
    sess = Session(raw, protocol=protocol, subject=subject, session=session,
                   provenance={"source_files": sources})
    if protocol is not None:
        _fill_trials(sess, protocol, path)
    logger.info("read %s: %r", path, sess)
    return sess


def _retype_channels(raw: mne.io.BaseRaw) -> None:
    current = raw.get_channel_types()
    inferred = infer_channel_types(raw.ch_names)
    mapping = {name: new for name, old, new in zip(raw.ch_names, current, inferred)
               if old in _RETYPE_FROM and new not in ("misc", old)}
    if mapping:
        logger.debug("re-typing channels from their names: %s", mapping)
        raw.set_channel_types(mapping, on_unit_change="ignore", verbose="error")


def _fill_trials(sess: Session, protocol, path: Path) -> None:
    try:
        from ..epochs import trials_from_markers
    except ImportError:  # epochs.py is optional for reading; trials can be found later
        logger.warning("%s: neuromer.epochs is unavailable; session.trials left empty.", path)
        return
    trials, dropped = trials_from_markers(sess.markers, protocol, on_problem="warn", source=str(path))
    sess.trials = trials.reset_index(drop=True)
    if len(dropped):
        sess.provenance["dropped_trials"] = dropped.to_dict("records")


def read_events_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read an events/markers CSV (TSV for ``.tsv``).

    Returns
    -------
    onset_s : ndarray, shape (n_events,)
        Seconds from the first sample.
    duration_s : ndarray, shape (n_events,)
        Zero unless the file has a ``duration`` column.
    description : list of str
    """
    path = check_file(path, "events")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype={c: str for c in DESCRIPTION_COLUMNS},
                            keep_default_na=False, na_values=[""])
    except Exception as exc:  # pandas raises ParserError, EmptyDataError, UnicodeDecodeError...
        raise DataFormatError(f"{path}: not a readable events table ({type(exc).__name__}: {exc}).") from None
    lower = {str(c).strip().lower(): c for c in table.columns}
    onset_col = next((lower[c] for c in ONSET_COLUMNS if c in lower), None)
    desc_col = next((lower[c] for c in DESCRIPTION_COLUMNS if c in lower), None)
    if onset_col is None or desc_col is None:
        found = ", ".join(map(str, table.columns)) or "none"
        raise DataFormatError(f"{path}: needs an onset column ({'/'.join(ONSET_COLUMNS)}) and a marker column "
                              f"({'/'.join(DESCRIPTION_COLUMNS)}), found columns: {found}.")
    onset = pd.to_numeric(table[onset_col], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(onset))
    if len(bad):
        raise DataFormatError(f"{path}: column {onset_col!r} has a missing or non-numeric onset on data row "
                              f"{bad[0] + 1} ({table[onset_col].iloc[bad[0]]!r}).")
    duration = np.zeros(len(table))
    if "duration" in lower:
        duration = pd.to_numeric(table[lower["duration"]], errors="coerce").fillna(0.0).to_numpy(float)
    description = [str(d).strip() for d in table[desc_col].fillna("")]
    return onset, duration, description


def append_markers(raw: mne.io.BaseRaw, onset_s, description, duration_s=None) -> None:
    """Add markers to ``raw.annotations`` (in place).

    Parameters
    ----------
    raw : mne.io.Raw
    onset_s : array-like, shape (n,)
        Seconds from the first sample (as in :attr:`Session.markers`).
    description : list of str, length n
    duration_s : array-like, shape (n,) | None
        Seconds; zero by default.
    """
    onset_s = np.asarray(onset_s, dtype=float).reshape(-1)
    if duration_s is None:
        duration_s = np.zeros(len(onset_s))
    if len(onset_s) == 0:
        return
    # raw.annotations count from sample 0 (meas_date), not from the first sample: MNE shifts
    # annotations by first_time when they are set, whether or not they have an orig_time
    raw.annotations.append(onset_s + raw.first_time, np.asarray(duration_s, float), [str(d) for d in description])
