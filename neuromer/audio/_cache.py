"""Cache entries of the audio feature tables: a small ``.npz`` of numeric blocks plus a JSON header.

A clip's table is one row of ~500 columns. As Parquet it cost ~35 ms of CPU to write and ~21 ms to
read (Arrow's per-column schema and pandas metadata; the file was 330 kB for 500 numbers), a tenth
of the clip's own computation and most of what a Dask worker spent beside it. This layout writes
in ~4 ms and reads in ~3 ms of CPU (measured on 30 s MP3 clips of 4QAED, bench/audio_catalog.py):

- one 2-D array per numeric dtype (``float64``, ``int64``, ``bool``, ...), rows x its columns, in
  column order;
- ``header``: UTF-8 JSON as ``uint8`` -- the format name and version, every column's name and
  dtype in table order, and the values of the object (string) columns as JSON lists.

The same packed form (:func:`pack`, :func:`unpack`) is what a clip's Dask task returns
(:func:`neuromer.audio.catalog.clip_table`). The values come back bit for bit (numbers are stored as raw binary, NaN payloads and ``-0.0``
included). Nothing is unpickled: the file is read with ``allow_pickle=False`` and the header is
plain JSON, so an entry in a shared folder cannot run code. Entries are written atomically (a
temporary file renamed over the entry), so two processes writing the same entry both leave a
whole file. They are not fsynced: an entry cut short by a system crash fails to read, and
:func:`read_entry` then reports it as unreadable so the caller recomputes it.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pandas as pd

from ..io._atomic import atomic_path

#: Name and layout version written into every entry's header.
FORMAT = "neuromer-table"
FORMAT_VERSION = 1
_NUMERIC = "biuf"  # bool, signed and unsigned integers, floats: stored as raw binary blocks


class UnreadableEntry(Exception):
    """A cache entry that cannot be read back (cut short, another format, or another layout version)."""


def pack(table: pd.DataFrame) -> tuple[str, list[np.ndarray]]:
    """``(header, blocks)``: ``table`` (index dropped) as a JSON header and one 2-D array per numeric dtype.

    The layout of a cache entry, also what a Dask task returns for a clip: Dask measures every
    result it holds (``sizeof``), which for a DataFrame of ~500 columns walks every column (~23 ms
    of CPU, twice per clip, on the worker's event loop); for this tuple it costs microseconds.

    Parameters
    ----------
    table : DataFrame
        Unique string column names; numeric, bool or object columns (the objects str, None, bool,
        int or float: what JSON holds).

    Returns
    -------
    (str, list of ndarray)
        The header (format, version, row count, ``[name, dtype]`` of every column in table order,
        the object columns' values) and the blocks, shape (rows, columns of that dtype), in the
        order their dtypes first appear.

    Raises
    ------
    TypeError
        For a column this layout cannot hold exactly (a programming error: the audio tables have none).
    """
    names = [str(c) for c in table.columns]
    if names != list(table.columns) or len(set(names)) != len(names):
        raise TypeError("cache tables need unique string column names")
    columns, groups, objects = [], {}, {}
    for name, dtype in table.dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind in _NUMERIC:
            columns.append([name, dtype.str])
            groups.setdefault(dtype.str, []).append(name)
        elif dtype == object:
            columns.append([name, "O"])
            objects[name] = table[name].tolist()
        else:
            raise TypeError(f"cache tables cannot hold column {name!r} of dtype {dtype}")
    try:
        header = json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "rows": len(table),
                             "columns": columns, "objects": objects})
    except (TypeError, ValueError) as exc:  # an object column holding something JSON does not
        raise TypeError(f"cache tables hold str/None/bool/int/float objects only: {exc}") from None
    return header, [table[cols].to_numpy(dtype=np.dtype(key)) for key, cols in groups.items()]


def unpack(header: str, blocks: list[np.ndarray], where: str = "table") -> pd.DataFrame:
    """The table :func:`pack` packed, bit for bit, with a RangeIndex.

    Raises
    ------
    UnreadableEntry
        ``header`` and ``blocks`` do not make a table of this layout version (``where`` names them).
    """
    try:
        head = json.loads(header)
        if head.get("format") != FORMAT or head.get("version") != FORMAT_VERSION:
            raise UnreadableEntry(f"{where}: not a {FORMAT} v{FORMAT_VERSION} entry")
        order = [name for name, _ in head["columns"]]
        by_dtype: dict[str, list[str]] = {}
        for name, key in head["columns"]:
            by_dtype.setdefault(key, []).append(name)
        numeric = [key for key in by_dtype if key != "O"]  # in the order the blocks were packed
        rows = head["rows"]
        if len(blocks) != len(numeric) or any(b.shape != (rows, len(by_dtype[k])) or b.dtype.str != k
                                               for b, k in zip(blocks, numeric)):
            raise UnreadableEntry(f"{where}: blocks do not match the header")
        # one DataFrame per block (no per-column construction: ~3 ms instead of ~8 ms for 500 columns)
        parts = [pd.DataFrame(b, columns=by_dtype[k], copy=False) for b, k in zip(blocks, numeric)]
        if "O" in by_dtype:
            parts.append(pd.DataFrame({c: pd.Series(head["objects"][c], dtype=object) for c in by_dtype["O"]},
                                      index=pd.RangeIndex(rows)))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UnreadableEntry(f"{where}: {type(exc).__name__}: {exc}") from None
    if not parts:
        return pd.DataFrame(index=pd.RangeIndex(rows))
    table = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)
    return table[order] if list(table.columns) != order else table


def write_entry(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``table`` (index dropped) to ``path`` atomically in the layout of this module.

    Parameters
    ----------
    table : DataFrame
        As for :func:`pack`.
    path : path-like
        The entry (``.npz``).

    Raises
    ------
    TypeError
        For a column this layout cannot hold exactly (see :func:`pack`).
    """
    header, blocks = pack(table)
    arrays = {f"block{i}": b for i, b in enumerate(blocks)}
    with atomic_path(path, overwrite=True, sync=False) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, header=np.frombuffer(header.encode(), dtype=np.uint8), **arrays)


def read_entry(path: str | os.PathLike) -> pd.DataFrame:
    """Read an entry written by :func:`write_entry`: the same table, bit for bit, with a RangeIndex.

    Raises
    ------
    UnreadableEntry
        The file is not a whole entry of this layout version (cut short, corrupt or foreign).
    OSError
        The file cannot be opened.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            header = z["header"].tobytes().decode()
            # numeric order, not the zip's: block10 comes after block9
            names = sorted((n for n in z.files if n.startswith("block")), key=lambda n: int(n[5:]))
            blocks = [z[n] for n in names]
    except (ValueError, KeyError, TypeError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise UnreadableEntry(f"{path}: {type(exc).__name__}: {exc}") from None
    return unpack(header, blocks, where=str(path))
