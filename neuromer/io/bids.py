"""Read EEG recordings from a BIDS dataset (via mne-bids).

A file such as ``ds/sub-01/eeg/sub-01_task-music_eeg.bdf`` inside a folder that holds
``dataset_description.json`` is read with :func:`mne_bids.read_raw_bids`, which applies the
dataset's sidecars: channel types and bad channels from ``*_channels.tsv`` and markers from
``*_events.tsv`` (its ``trial_type`` column, else ``value``, becomes the annotation text that the
protocol's marker vocabulary parses). BIDS has no type for plethysmography: such channels arrive as
``misc`` and are re-typed from their names like any other recording.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .._checks import check_file
from .._logging import logger
from ..errors import DataFormatError

_BIDS_NAME = re.compile(r"^sub-[A-Za-z0-9]+(_[a-z]+-[A-Za-z0-9]+)*_(eeg|ieeg|meg)\.[A-Za-z0-9.]+$")


def bids_root(path: str | os.PathLike) -> Path | None:
    """The BIDS dataset folder (holding ``dataset_description.json``) above ``path``, or None."""
    for parent in Path(path).resolve().parents:
        if (parent / "dataset_description.json").is_file():
            return parent
    return None


def is_bids_recording(path: str | os.PathLike) -> bool:
    """True for a BIDS-named recording (``sub-<label>[_<key>-<value>...]_eeg.<ext>``) in a dataset."""
    return bool(_BIDS_NAME.match(Path(path).name)) and bids_root(path) is not None


def read_bids(path: str | os.PathLike, *, protocol=None, subject: str = ""):
    """Read one recording of a BIDS dataset as a :class:`~neuromer.session.Session`.

    Parameters
    ----------
    path : path-like
        The recording file (``.bdf``, ``.edf``, ``.vhdr``, ``.set``, ``.fif``) inside the dataset.
    protocol : Protocol | None
        With a protocol, ``session.trials`` is filled from the events' markers.
    subject : str
        Subject id to store (default: the file's ``sub-`` label).

    Returns
    -------
    Session
        Signals in SI units, channel types from ``channels.tsv`` (then re-typed by name where BIDS
        has no type), markers from ``events.tsv``, a standard montage on the EEG.

    Raises
    ------
    DataFormatError
        The file is missing, not inside a BIDS dataset, or mne-bids cannot read it.

    Examples
    --------
    >>> s = read_bids("ds/sub-01/eeg/sub-01_task-music_eeg.bdf", protocol=proto)  # doctest: +SKIP
    """
    from mne_bids import get_bids_path_from_fname, read_raw_bids

    from ..session import Session, set_standard_montage
    from .mne_formats import _fill_trials, _retype_channels

    path = check_file(path, "BIDS recording")
    root = bids_root(path)
    if root is None:
        raise DataFormatError(f"{path}: not inside a BIDS dataset (no dataset_description.json above it).")
    try:
        bids_path = get_bids_path_from_fname(path, verbose="error")
        bids_path.update(root=root)
        raw = read_raw_bids(bids_path, verbose="error")
        raw.load_data(verbose="error")
    except Exception as exc:  # mne-bids raises many types for inconsistent sidecars
        raise DataFormatError(f"{path}: not a readable BIDS recording ({type(exc).__name__}: {exc}).") from None
    _retype_channels(raw)
    set_standard_montage(raw)
    events = bids_path.copy().update(suffix="events", extension=".tsv")
    sources = [str(path)] + ([str(events.fpath)] if Path(events.fpath).is_file() else [])
    sess = Session(raw, protocol=protocol, subject=subject or bids_path.subject or "",
                   session=bids_path.session or "", provenance={"source_files": sources, "bids_root": str(root)})
    if protocol is not None:
        _fill_trials(sess, protocol, path)
    logger.info("read %s (BIDS): %r", path, sess)
    return sess
