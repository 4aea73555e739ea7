"""The single ``neuromer`` logger. Library code logs; only the CLI prints."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

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


class RepeatCounter(logging.Filter):
    """A handler filter that lets each distinct message through once and counts every repeat.

    A run evaluates many models on the same subjects, so one condition ("subject 3 has fewer
    than two trials") would otherwise be reported once per model. Messages are the same when
    their level and final text are; :meth:`summary` gives the count of each repeated one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[int, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, record.getMessage())
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key] == 1

    def seen(self, text: str, level: int = logging.WARNING) -> bool:
        """Whether ``text`` was already logged at ``level``."""
        return (level, text) in self.counts

    def summary(self) -> list[tuple[int, str, int]]:
        """``(level, message, count)`` of every message said more than once, in first-seen order."""
        return [(level, text, n) for (level, text), n in self.counts.items() if n > 1]


@contextlib.contextmanager
def say_once(handler: logging.Handler) -> Iterator[RepeatCounter]:
    """Within the block, ``handler`` shows each distinct message once, and ends with its count.

    Python warnings are shown through the same handler and counted the same way, except the copy
    neuromer raises of a message it has just logged (library code both logs and warns, so that
    notebook users and ``pytest.warns`` see it). At the end, every message said more than once is
    repeated with the number of times it was said. This is what the command line uses.

    Parameters
    ----------
    handler : logging.Handler
        The handler the user reads (the command line's stderr handler).

    Yields
    ------
    RepeatCounter
        The counts so far.
    """
    counter = RepeatCounter()
    handler.addFilter(counter)
    with warnings.catch_warnings():
        # count every occurrence (Python would show a warning once per code location) but keep
        # hiding what Python hides by default
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)

        def show(message, category, filename, lineno, file=None, line=None):
            text = str(message)
            if counter.seen(text):  # neuromer's own warning, already logged (and counted) just before
                return
            handler.handle(logging.LogRecord("py.warnings", logging.WARNING, filename, lineno,
                                             "%s: %s", (category.__name__, text), None))

        warnings.showwarning = show
        try:
            yield counter
        finally:
            handler.removeFilter(counter)
            for level, text, n in counter.summary():
                handler.handle(logging.LogRecord(logger.name, level, __file__, 0,
                                                 "said %d times in all: %s", (n, text), None))
