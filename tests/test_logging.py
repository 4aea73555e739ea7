"""Each warning said once, with a count (the command line's handler)."""

import io
import logging
import warnings

from neuromer._logging import logger, say_once


def _handler():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    return stream, handler


def test_each_warning_once_then_its_count():
    stream, handler = _handler()
    logger.addHandler(handler)
    try:
        with say_once(handler):
            for _ in range(25):
                for subject in ("3", "4"):
                    msg = f"Subject {subject!r} has fewer than two trials; skipped."
                    logger.warning(msg)  # neuromer logs and warns the same text
                    warnings.warn(msg, RuntimeWarning, stacklevel=1)
            logger.warning("said only once")
            for _ in range(3):  # a library's own warning, not logged by neuromer
                warnings.warn("a library's own warning", UserWarning, stacklevel=1)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "WARNING: Subject '3' has fewer than two trials; skipped.",
        "WARNING: Subject '4' has fewer than two trials; skipped.",
        "WARNING: said only once",
        "WARNING: UserWarning: a library's own warning",
        "WARNING: said 25 times in all: Subject '3' has fewer than two trials; skipped.",
        "WARNING: said 25 times in all: Subject '4' has fewer than two trials; skipped.",
        "WARNING: said 3 times in all: UserWarning: a library's own warning",
    ]
    # outside the block the handler is as before: every message shown
    logger.addHandler(handler)
    try:
        logger.warning("again")
        logger.warning("again")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines()[-2:] == ["WARNING: again", "WARNING: again"]
