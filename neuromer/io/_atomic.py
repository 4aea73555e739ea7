"""Atomic file writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .._checks import write_error
from ..errors import DataFormatError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched, so a crash never
    leaves a half-written output behind. With ``overwrite=False`` an existing ``path`` is an
    error (raised before anything is written).

    Examples
    --------
    >>> with atomic_path("out.parquet") as tmp:  # doctest: +SKIP
    ...     df.to_parquet(tmp)
    """
    path = Path(path)
    if path.is_dir():
        raise DataFormatError(f"{path}: is a directory; expected an output file path.")
    if not overwrite and path.exists():
        raise DataFormatError(f"{path}: file exists; refusing to overwrite it.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataFormatError(
            f"{path}: cannot create the output folder {path.parent} (a file is in the way)."
        ) from None
    except OSError as exc:
        raise write_error(path, exc) or exc from None
    # end with the full target name so writers that dispatch on it (mne's -epo.fif) still work
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{path.name}", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) or exc from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if not overwrite and path.exists():
            raise DataFormatError(f"{path}: file appeared while writing; refusing to overwrite it.")
        os.replace(tmp, path)
    except OSError as exc:
        err = write_error(path, exc)
        if err is None:
            raise
        raise err from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_table(table, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write a DataFrame atomically as Parquet or CSV, chosen by the file's suffix.

    Raises
    ------
    DataFormatError
        For another suffix, or an existing file with ``overwrite=False``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise DataFormatError(f"{path}: a table must be written as .parquet or .csv.")
    with atomic_path(path, overwrite=overwrite) as tmp:
        if suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    return path
