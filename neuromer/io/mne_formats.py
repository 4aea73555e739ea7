"""Any recording MNE can read (EDF, BDF, BrainVision, FIF, EEGLAB, ...) as a Session.

Markers come from the file's own annotations (EDF+ annotations, BrainVision markers such as
``Stimulus/S  5``, FIF annotations), from its trigger channel (BioSemi ``Status``, ``STI 014``...,
see :mod:`neuromer.io.triggers`: each event becomes a marker whose text is its code, ``"5"``) and,
optionally, from an events CSV/TSV with an onset column (``onset_s``, ``onset`` or ``time``;
seconds from the first sample), a marker column (``description``, ``marker``, ``value``,
``trial_type`` or ``code``) and an optional ``duration`` column.

Electrode names are normalised to the 10-05 spelling (``Fc5.`` -> ``FC5``, ``EEG Fz-Ref`` -> ``Fz``;
:mod:`neuromer.io.channel_names`) so that the standard montage and the asymmetry features apply.
"""

from __future__ import annotations

import codecs
import os
import warnings
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from .._checks import check_file, check_option, validate_type
from .._logging import logger
from ..errors import DataFormatError
from ..session import Session, infer_channel_types, set_standard_montage

#: Accepted names (lower case) of the events file's columns, in order of preference.
ONSET_COLUMNS = ("onset_s", "onset", "time", "time_s")
DESCRIPTION_COLUMNS = ("description", "marker", "value", "trial_type", "code")
_RETYPE_FROM = ("eeg", "misc")  # types readers give by default; replaced when the name says more


def read_raw_any(path: str | os.PathLike, *, events: str | os.PathLike | None = None, protocol=None,
                 subject: str = "", session: str = "", encoding: str | None = None,
                 trigger_bits: int | None = None, rest_code: int | None = None) -> Session:
    """Read any MNE-readable continuous recording as a :class:`~neuromer.session.Session`.

    Parameters
    ----------
    path : path-like
        EDF/BDF/GDF, BrainVision ``.vhdr``, FIF, EEGLAB ``.set``... (whatever
        :func:`mne.io.read_raw` reads).
    events : path-like | None
        A CSV (or ``.tsv``) of extra markers: onset in seconds from the first sample
        (``onset_s``/``onset``/``time``), marker text (``description``/``marker``/``value``/
        ``trial_type``/``code``) and optionally ``duration`` (s). Added to the file's annotations;
        onsets must lie inside the recording.
    protocol : Protocol | None
        With a protocol, ``session.trials`` is filled from the markers with
        :func:`neuromer.epochs.trials_from_markers` (problems are warnings).
    subject, session : str
        Identifiers stored on the Session.
    encoding : str | None
        Text encoding of EDF/BDF annotations and header (``"utf8"`` by default). If the text
        does not decode, ``"latin1"`` is tried with a warning.
    trigger_bits : int | None
        Low bits of the trigger channel read as event codes (8, 16 or 24); default the
        protocol's ``markers.trigger_bits``, else 16 (BioSemi's upper 8 Status bits are flags).
    rest_code : int | None
        The code the trigger channel rests at between events; default the protocol's
        ``markers.rest_code``, else the channel's most frequent code (with a warning if that code
        is one the protocol maps, or if the channel also rests at 0 for a while).

    Returns
    -------
    Session
        Signals in MNE's SI units; channels MNE typed ``eeg``/``misc`` whose names say otherwise
        (``GSR``, ``Resp``, ``EOG``, ``Status``...) are re-typed with
        :func:`~neuromer.session.infer_channel_types`; electrode names in 10-05 spelling, standard
        10-20 montage on the EEG. ``provenance["triggers"]`` summarises the trigger channel
        (name, number of events, count per code) and ``provenance["renamed_channels"]`` lists
        renamed electrodes.

    Raises
    ------
    DataFormatError
        Missing or unreadable recording; missing events file or one without usable columns.

    Examples
    --------
    >>> s = read_raw_any("sub-01.vhdr", events="sub-01_markers.csv", protocol=proto)  # doctest: +SKIP
    """
    from .channel_names import standard_channel_names
    from .triggers import TRIGGER_BITS, trigger_markers

    path = check_file(path)
    validate_type(subject, str, "subject")
    validate_type(session, str, "session")
    if trigger_bits is None:
        trigger_bits = getattr(getattr(protocol, "markers", None), "trigger_bits", 16)
    check_option(trigger_bits, TRIGGER_BITS, "trigger_bits")
    markers = getattr(protocol, "markers", None)
    if rest_code is None:
        rest_code = getattr(markers, "rest_code", None)
    elif isinstance(rest_code, bool) or not isinstance(rest_code, int) or not 0 <= rest_code < 1 << trigger_bits:
        raise ValueError(f"rest_code must be a whole number from 0 to {(1 << trigger_bits) - 1}, got {rest_code!r}")
    event_codes = [c for c, _ in getattr(markers, "codes", ()) if isinstance(c, int)]
    if encoding is not None:
        validate_type(encoding, str, "encoding")
    raw = _read_raw(path, encoding)
    renamed = standard_channel_names(raw.ch_names)
    if renamed:
        raw.rename_channels(renamed, verbose="error")
        logger.info("%s: electrode names in 10-05 spelling: %s", path, renamed)
    _retype_channels(raw)
    sources = [str(path)]
    onset_s, codes, triggers = trigger_markers(raw, trigger_bits=trigger_bits, rest_code=rest_code,
                                               event_codes=event_codes, source=str(path))
    append_markers(raw, onset_s, codes)
    set_standard_montage(raw)
    provenance = {"source_files": sources}
    if triggers is not None:
        provenance["triggers"] = triggers
    if renamed:
        provenance["renamed_channels"] = renamed
    sess = Session(raw, protocol=protocol, subject=subject, session=session, provenance=provenance)
    if events is not None:
        add_events(sess, events)
    if protocol is not None:
        _fill_trials(sess, protocol, path)
    logger.info("read %s: %r", path, sess)
    return sess


def _read_raw(path: Path, encoding: str | None) -> mne.io.BaseRaw:
    """``mne.io.read_raw``; for EDF/BDF/GDF text that is not in ``encoding``, latin-1 with a warning."""
    is_edf = path.suffix.lower() in (".edf", ".bdf", ".gdf")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DataFormatError(f"{path}: unknown text encoding {encoding!r} (e.g. utf8, latin1, cp1252).") from None
    kwargs = {"encoding": encoding} if is_edf and encoding else {}
    if path.suffix.lower() in (".edf", ".bdf"):
        _check_edf_size(path)
    try:
        return mne.io.read_raw(path, preload=True, verbose="error", **kwargs)
    except Exception as exc:  # mne raises ValueError, RuntimeError, OSError... for bad files
        # MNE reports undecodable EDF annotations with a plain Exception that suggests an encoding
        undecodable = isinstance(exc, UnicodeDecodeError) or "encoding" in str(exc)
        tried = codecs.lookup(encoding or "utf8").name
        if is_edf and undecodable and tried != "iso8859-1":
            logger.warning("%s: annotations are not %s text; reading them as latin-1. Give the encoding "
                           "(encoding=..., --encoding) if characters look wrong.", path, encoding or "utf8")
            warnings.warn(f"{path}: EDF annotations are not {encoding or 'utf8'}; read as latin-1.", RuntimeWarning,
                          stacklevel=3)
            return _read_raw(path, "latin1")
        if is_edf and undecodable:
            raise DataFormatError(f"{path}: annotations are not {encoding} text ({exc}); give their encoding "
                                  "(encoding=..., --encoding).") from None
        raise DataFormatError(f"{path}: not a recording MNE can read ({type(exc).__name__}: {exc}).") from None


def _check_edf_size(path: Path) -> None:
    """Compare an EDF/BDF file's size with what its header declares.

    A copy that went through a text-mode transfer (git with ``autocrlf``, FTP in ASCII mode) has
    every LF byte turned into CR LF: MNE would read shifted samples and garbled annotations.
    That case is refused; any other size mismatch is a warning.
    """
    width = 3 if path.suffix.lower() == ".bdf" else 2
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
            header_bytes, n_records = int(head[184:192]), int(head[236:244])
            n_signals = int(head[252:256])
            fh.seek(256 + n_signals * 216)
            per_record = sum(int(fh.read(8)) for _ in range(n_signals))
    except (OSError, ValueError):
        return  # not a header we can parse: MNE's reader gives the error
    if n_records < 0:  # -1: the recorder did not finish writing the header
        return
    expected = header_bytes + n_records * per_record * width
    actual = path.stat().st_size
    if actual == expected:
        return
    if actual > expected:
        crlf = path.read_bytes().count(b"\r\n")
        if crlf == actual - expected:
            raise DataFormatError(
                f"{path}: {actual - expected} bytes longer than its header declares, exactly its number of CR-LF "
                "pairs: the file was copied as text (git autocrlf, FTP ASCII mode), which corrupts samples and "
                "annotations; use a binary copy.")
    logger.warning("%s: %d bytes but its header declares %d (%d records of %d samples); %s.", path, actual,
                   expected, n_records, per_record,
                   "the data after the last whole record are ignored" if actual > expected
                   else "the file is truncated")


def add_events(session: Session, path: str | os.PathLike) -> None:
    """Add the markers of an events CSV/TSV (:func:`read_events_csv`) to a session, in place.

    Raises
    ------
    DataFormatError
        The file is missing or malformed, or an onset lies outside the recording
        (``[0, session.duration_s]``).
    """
    onset_s, duration_s, description = read_events_csv(path)
    outside = np.flatnonzero((onset_s < 0) | (onset_s > session.duration_s))
    if len(outside):
        i = outside[0]
        raise DataFormatError(f"{path}: onset {onset_s[i]:g} s on data row {i + 1} lies outside the recording "
                              f"(0-{session.duration_s:.3f} s); onsets are seconds from the first sample.")
    append_markers(session.raw, onset_s, description, duration_s)
    session.provenance.setdefault("source_files", []).append(str(Path(path)))
    session.add_step("add_events", path=str(Path(path)), n_events=int(len(onset_s)))


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
    trials, dropped = trials_from_markers(sess.markers, protocol, on_problem="warn", source=str(path),
                                          triggers=sess.provenance.get("triggers"), explain_none=False)
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
        if np.any(~np.isfinite(duration) | (duration < 0)):
            raise DataFormatError(f"{path}: column 'duration' must hold non-negative seconds.")
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
