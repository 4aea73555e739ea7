"""Argument validation at the public boundary, with uniform messages (after MNE's helpers)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataFormatError, NeuromerError


def _type_names(types: type | tuple) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = ["None" if t is type(None) else getattr(t, "__name__", str(t)) for t in types]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def validate_type(value: Any, types: type | tuple, name: str) -> Any:
    """Raise :class:`NeuromerError` unless ``value`` is an instance of ``types``.

    >>> validate_type(1.0, (int, float), "window_s")
    1.0
    """
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        raise NeuromerError(
            f"Invalid type for the {name!r} parameter: expected {_type_names(types)}, "
            f"got {type(value).__name__} ({value!r})."
        )
    return value


def check_option(value: Any, allowed: Iterable, name: str) -> Any:
    """Raise :class:`NeuromerError` unless ``value`` is one of ``allowed``.

    The message follows MNE's: "Invalid value for the 'method' parameter. Allowed values are
    'welch' and 'multitaper', but got 'fft' instead."
    """
    allowed = list(allowed)
    if value not in allowed:
        quoted = [repr(a) for a in allowed]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
        raise NeuromerError(
            f"Invalid value for the {name!r} parameter. Allowed values are {listed}, "
            f"but got {value!r} instead."
        )
    return value


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float, raising unless it is a finite positive (or >= 0) number."""
    validate_type(value, (int, float, np.integer, np.floating), name)
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise NeuromerError(f"Invalid value for the {name!r} parameter: expected {kind} number, got {value!r}.")
    return value


def check_file(path: str | os.PathLike, name: str = "path", *, must_exist: bool = True) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`, raising :class:`DataFormatError` if missing."""
    validate_type(path, (str, os.PathLike), name)
    path = Path(path).expanduser()
    if must_exist and not path.exists():
        raise DataFormatError(f"{path}: file not found.")
    if must_exist and path.is_dir():
        raise DataFormatError(f"{path}: expected a file, got a directory.")
    return path


#: Why a write failed, for the errors that come from the place written to, not from neuromer.
_WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file would exceed the largest file size allowed", errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied", errno.EPERM: "permission denied",
}


def write_error(path: str | os.PathLike, exc: BaseException) -> DataFormatError | None:
    """The one-line error for an ``OSError`` raised while writing ``path`` (``None`` if it is not
    one of the "cannot write here" errors: disk full, quota, file size limit, read-only, permission).

    Libraries that wrap the error (pyarrow, zipfile) sometimes drop ``errno``; their message still
    carries the system's text, which is matched instead.
    """
    if not isinstance(exc, OSError):
        return None
    code = exc.errno if exc.errno in _WRITE_ERRORS else next(
        (c for c in _WRITE_ERRORS if os.strerror(c).lower() in str(exc).lower()), None)
    if code is None:
        return None
    return DataFormatError(f"{path}: cannot write it: {_WRITE_ERRORS[code]} ({os.strerror(code)}); "
                           "nothing was written there.")


def ensure_dir(path: str | os.PathLike, name: str = "folder") -> Path:
    """Create the folder ``path`` (and parents) if needed, raising :class:`DataFormatError` if a file is in the way."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataFormatError(f"{path}: cannot use it as the {name}: it (or a parent) is a file, "
                              "not a folder.") from None
    except OSError as exc:
        raise write_error(path, exc) or DataFormatError(f"{path}: cannot create the {name} ({exc}).") from None
    return path


def read_toml(path: Path, error: type[NeuromerError] = NeuromerError) -> dict:
    """Parse a TOML file, raising ``error`` with the file name for anything that is not valid TOML.

    Besides syntax errors this covers text that is not UTF-8 and nesting so deep that the parser
    runs out of stack (``a = [[[[...]]]]``; Python's ``tomllib`` recurses once per level).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not valid TOML (not UTF-8 text: {exc.reason} at byte {exc.start}).") from None
    except IsADirectoryError:
        raise error(f"{path}: expected a TOML file, got a directory.") from None
    try:
        import tomllib

        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc}).") from None
    except RecursionError:
        raise error(f"{path}: not valid TOML for neuromer (arrays or tables nested too deeply).") from None


def check_array(x: Any, name: str, *, ndim: int | None = None, finite: bool = False) -> np.ndarray:
    """Return ``x`` as an ndarray, checking its number of dimensions (and finiteness)."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists etc.
        raise NeuromerError(f"Invalid value for the {name!r} parameter: not an array ({exc}).") from None
    if ndim is not None and arr.ndim != ndim:
        raise NeuromerError(
            f"Invalid shape for the {name!r} parameter: expected {ndim} dimensions, got shape {arr.shape}."
        )
    if finite and arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise NeuromerError(f"Invalid value for the {name!r} parameter: contains NaN or infinite values.")
    return arr
