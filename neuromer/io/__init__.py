"""Readers and writers: XDF, DEAP (.dat/.mat/BDF), any MNE-readable recording, BIDS.

:func:`read_session`, :func:`read_trials`, :func:`read_any_trials` and :func:`write_trials` pick
the reader or writer from the file name, so commands and pipelines accept any supported input.
The data model (:mod:`neuromer.session`) does not import this package: readers produce Sessions
and Trials, writers take them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

from ..errors import DataFormatError

TRIALS_SUFFIXES = (".dat", ".mat", "-epo.fif", "_epo.fif", "-epo.fif.gz", "_epo.fif.gz")


def is_trials_file(path: str | os.PathLike) -> bool:
    """True for files that already hold trials (DEAP .dat/.mat, MNE -epo.fif)."""
    return str(path).lower().endswith(TRIALS_SUFFIXES)


def read_session(path: str | os.PathLike, *, protocol=None, events=None, subject: str = "",
                 encoding: str | None = None, xdf_streams: dict[str, str] | None = None):
    """Read a continuous recording as a :class:`~neuromer.session.Session`.

    A BIDS recording (``sub-01_task-x_eeg.bdf`` inside a dataset) -> :func:`~neuromer.io.bids.read_bids`;
    ``.xdf`` -> :func:`~neuromer.io.xdf.read_xdf`; a DEAP original ``.bdf`` (BioSemi with the
    DEAP channel layout) -> :func:`~neuromer.io.deap.read_deap_bdf`; anything else MNE reads
    (EDF, BDF, BrainVision ``.vhdr``, FIF, EEGLAB ``.set``) ->
    :func:`~neuromer.io.mne_formats.read_raw_any` (trigger channels and annotations become
    markers; ``encoding`` is the EDF/BDF text encoding). ``xdf_streams`` (``{name: selector}``)
    chooses one of several XDF streams with the same name (``read_xdf(streams=...)``); it is an
    error for any other format.

    ``events`` (a CSV/TSV of onsets in s plus codes or marker texts, see
    :func:`~neuromer.io.mne_formats.read_events_csv`) adds markers to a recording of any format;
    with a protocol, the trials are then found from all markers (for DEAP's BDF, the trials the
    reader cut from its Status codes are kept).
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: file not found.")
    if is_trials_file(path):
        raise DataFormatError(f"{path}: holds trials, not a continuous recording; read it with read_trials.")
    from ..protocol import as_protocol

    protocol = as_protocol(protocol)
    suffix = path.suffix.lower()
    if xdf_streams and suffix != ".xdf":
        raise DataFormatError(f"{path}: a stream choice ({', '.join(f'{k}={v}' for k, v in xdf_streams.items())}) "
                              "applies to XDF recordings only.")
    from .bids import is_bids_recording

    if is_bids_recording(path):
        from .bids import read_bids

        with _no_trials_said(events):
            session = read_bids(path, protocol=protocol, subject=subject)
    elif suffix == ".xdf":
        from .xdf import read_xdf

        with _no_trials_said(events):
            session = read_xdf(path, protocol=protocol, subject=subject, streams=xdf_streams)
    elif suffix == ".bdf" and _looks_like_deap_bdf(path):
        from .deap import read_deap_bdf

        return _with_events(read_deap_bdf(path, protocol=protocol, subject=subject or None), events, None, path)
    else:
        from .mne_formats import read_raw_any

        return read_raw_any(path, events=events, protocol=protocol, subject=subject, encoding=encoding)
    return _with_events(session, events, protocol, path)


def read_trials(path: str | os.PathLike):
    """Read :class:`~neuromer.session.Trials` from a DEAP ``.dat``/``.mat`` or MNE ``-epo.fif`` file.

    Files written by :func:`write_trials` come back with their channels, rate, baseline, subject
    and trials table; DEAP's own files get DEAP's layout (see :func:`~neuromer.io.deap.read_deap`).
    """
    path = Path(path)
    name = path.name.lower()
    if not path.exists():
        raise DataFormatError(f"{path}: file not found.")
    if name.endswith((".dat", ".mat")):
        from .deap import read_deap

        return read_deap(path)
    if name.endswith((".fif", ".fif.gz")):
        import mne

        from ..session import Trials

        try:
            epochs = mne.read_epochs(path, preload=True, verbose="error")
        except Exception as exc:  # mne raises many types for a bad file
            raise DataFormatError(f"{path}: not a readable MNE epochs file ({exc}).") from None
        return Trials.from_epochs(epochs)
    raise DataFormatError(f"{path}: unknown Trials file type (expected .dat, .mat or -epo.fif).")


def write_trials(trials, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write :class:`~neuromer.session.Trials` by extension: DEAP ``.dat``/``.mat`` or MNE ``-epo.fif``.

    ``.dat``/``.mat`` hold ``data`` and ``labels`` as DEAP does (plus a ``neuromer`` entry with
    channel names, rate, baseline and the trials table, which DEAP readers ignore); see
    :func:`~neuromer.io.deap.write_deap`. ``-epo.fif`` holds :meth:`Trials.to_epochs
    <neuromer.session.Trials.to_epochs>` (volts). The write is atomic; an existing file is replaced
    only with ``overwrite=True``.

    Returns
    -------
    Path
        ``path``.
    """
    from .._checks import check_option, validate_type
    from .._logging import logger
    from ..session import Trials
    from ._atomic import atomic_path

    validate_type(trials, Trials, "trials")
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".dat", ".mat")):
        from .deap import write_deap

        return write_deap(trials, path, overwrite=overwrite)
    if name.endswith(("-epo.fif", "_epo.fif", "-epo.fif.gz", "_epo.fif.gz")):
        with atomic_path(path, overwrite=overwrite) as tmp:
            trials.to_epochs().save(tmp, overwrite=True, verbose="error")
        logger.info("wrote %s", path)
        return path
    check_option(Path(name).suffix, [".dat", ".mat", "-epo.fif"], "path extension")
    raise AssertionError  # unreachable


@contextlib.contextmanager
def _no_trials_said(events):
    """With an events file still to add, a reader's "no trial found" would be premature: hush it."""
    if events is None:
        yield
        return
    from .._logging import logger

    def keep(record: logging.LogRecord) -> bool:
        return "no trial found:" not in record.getMessage()

    logger.addFilter(keep)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*no trial found:")
            yield
    finally:
        logger.removeFilter(keep)


def _with_events(session, events, protocol, path: Path):
    """Add an events file's markers to a session read by another reader; refind its trials."""
    if events is None:
        return session
    from .mne_formats import _fill_trials, add_events

    add_events(session, events)
    if protocol is not None:
        _fill_trials(session, protocol, path)
    return session


def read_any_trials(path: str | os.PathLike, *, protocol=None, sfreq: float | None = 128.0, subject: str = "",
                    events=None, encoding: str | None = None, xdf_streams: dict[str, str] | None = None):
    """Trials from any supported input: trial files directly, recordings cut with the protocol.

    ``events``, ``encoding`` and ``xdf_streams`` are passed to :func:`read_session` (not allowed
    for trials files).
    """
    from ..protocol import as_protocol

    protocol = as_protocol(protocol)
    if is_trials_file(path):
        if events is not None:
            raise DataFormatError(f"{path}: holds trials already; an events file applies to recordings only.")
        if xdf_streams:
            raise DataFormatError(f"{path}: holds trials already; a stream choice applies to XDF recordings only.")
        trials = read_trials(path)
        if protocol is not None:
            trials.check_ratings(protocol.ratings.min, protocol.ratings.max, source=str(path))
        return trials
    from ..epochs import make_trials

    session = read_session(path, protocol=protocol, subject=subject, events=events, encoding=encoding,
                           xdf_streams=xdf_streams)
    return make_trials(session, protocol=protocol, sfreq=sfreq)


def _looks_like_deap_bdf(path: Path) -> bool:
    """A BDF whose header lists 48 channels ending with 'Status' (DEAP's original recordings)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
            n_ch = int(head[252:256].decode("ascii").strip())
            labels = fh.read(16 * n_ch).decode("ascii", "replace")
    except (OSError, ValueError):
        return False
    # some Geneva recordings name the status channel '' or '-1'
    first, last = labels[:16].strip().lower(), labels[-16:].strip().lower()
    return n_ch == 48 and (last in ("status", "", "-1") or first == "fp1")
