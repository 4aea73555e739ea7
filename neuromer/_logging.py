"""The single ``neuromer`` logger. Library code logs; only the CLI prints."""

from __future__ import annotations

import logging

logger = logging.getLogger("neuromer")
logger.addHandler(logging.NullHandler())


def set_log_level(verbose: bool | str | int | None = None) -> None:
    """Set the level of the ``neuromer`` logger.

    Parameters
    ----------
    verbose : bool | str | int | None
        ``True`` -> INFO, ``False`` -> WARNING, a level name (``"DEBUG"``) or number, or ``None``
        to leave the level unchanged.
    """
    if verbose is None:
        return
    if isinstance(verbose, bool):
        level = logging.INFO if verbose else logging.WARNING
    elif isinstance(verbose, str):
        level = getattr(logging, verbose.upper(), None)
        if not isinstance(level, int):
            from .errors import NeuromerError

            raise NeuromerError(
                f"Invalid value for the 'verbose' parameter: {verbose!r} is not a logging level."
            )
    else:
        level = int(verbose)
    logger.setLevel(level)
