"""Shared Lab Streaming Layer helpers: stream selectors, resolution with a timeout, stream
descriptions as plain dicts and XML.

A *selector* is ``key=value`` with ``key`` one of ``name``, ``type``, ``source_id``, ``hostname``
(``"type=EEG"``, ``"name=BioSemi"``). A stream matches a list of selectors if it matches any of
them; values compare exactly (``name``, ``source_id``) or case-insensitively (``type``,
``hostname``), as LSL users expect ``type=eeg`` to find an ``EEG`` stream.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .._logging import logger
from ..errors import NeuromerError

#: selector keys and whether their values compare case-insensitively
SELECTOR_KEYS = {"name": False, "type": True, "source_id": False, "hostname": True}
#: liblsl channel_format codes (lsl_channel_format_t) and their XDF names
CHANNEL_FORMATS = {1: "float32", 2: "double64", 3: "string", 4: "int32", 5: "int16", 6: "int8", 7: "int64"}
#: numpy dtypes of the numeric XDF formats
NUMPY_DTYPES = {"float32": np.float32, "double64": np.float64, "int8": np.int8, "int16": np.int16,
                "int32": np.int32, "int64": np.int64}


class StreamNotFoundError(NeuromerError):
    """No LSL stream matching the selectors became visible within the timeout."""


def parse_selector(text: str) -> tuple[str, str]:
    """Parse one ``key=value`` stream selector.

    Parameters
    ----------
    text : str
        E.g. ``"type=EEG"``, ``"name=Markers"``, ``"source_id=amp-1234"``.

    Returns
    -------
    tuple of str
        ``(key, value)``.

    Examples
    --------
    >>> parse_selector("type=EEG")
    ('type', 'EEG')
    """
    if not isinstance(text, str) or "=" not in text:
        raise NeuromerError(f"Invalid stream selector {text!r}: expected KEY=VALUE with KEY one of "
                            f"{', '.join(SELECTOR_KEYS)} (e.g. 'type=EEG').")
    key, value = (part.strip() for part in text.split("=", 1))
    if key.lower() not in SELECTOR_KEYS:
        raise NeuromerError(f"Invalid stream selector {text!r}: unknown key {key!r}; allowed keys are "
                            f"{', '.join(SELECTOR_KEYS)}.")
    if not value:
        raise NeuromerError(f"Invalid stream selector {text!r}: the value after '=' is empty.")
    return key.lower(), value


def parse_selectors(selectors: str | Iterable[str] | None) -> list[tuple[str, str]]:
    """Parse selectors (one string, several, or ``None`` for "every stream")."""
    if selectors is None:
        return []
    if isinstance(selectors, str):
        selectors = [selectors]
    return [parse_selector(s) for s in selectors]


def info_to_dict(info) -> dict:
    """The header fields of a :class:`pylsl.StreamInfo` as a plain dict.

    Returns
    -------
    dict
        ``name, type, channel_count, nominal_srate`` (Hz, 0 for irregular streams),
        ``channel_format`` (XDF name such as ``"float32"``), ``source_id, hostname, uid,
        session_id, created_at`` (s, LSL clock of the sender).
    """
    return {"name": info.name(), "type": info.type(), "channel_count": int(info.channel_count()),
            "nominal_srate": float(info.nominal_srate()),
            "channel_format": CHANNEL_FORMATS.get(int(info.channel_format()), "undefined"),
            "source_id": info.source_id(), "hostname": info.hostname(), "uid": info.uid(),
            "session_id": info.session_id(), "created_at": float(info.created_at())}


def info_xml(info) -> str:
    """The full ``<info>`` XML of a stream (with its ``desc``, if ``info`` came from an inlet)."""
    xml = info.as_xml()
    return xml if xml.lstrip().startswith("<?xml") else '<?xml version="1.0"?>' + xml


def matches(info: dict, selectors: list[tuple[str, str]]) -> bool:
    """True if the stream described by ``info`` (see :func:`info_to_dict`) matches any selector."""
    if not selectors:
        return True
    for key, value in selectors:
        got = str(info.get(key, ""))
        if (got.lower() == value.lower()) if SELECTOR_KEYS[key] else got == value:
            return True
    return False


def resolve(selectors: str | Iterable[str] | None = None, *, timeout: float = 2.0,
            settle_s: float = 0.5, require_all: bool = False) -> list:
    """Find the LSL streams matching ``selectors``.

    Polls the network until every selector matched at least one stream (with no selectors: until
    any stream is seen), then waits ``settle_s`` more for streams answering late, or until
    ``timeout`` seconds have passed.

    Parameters
    ----------
    selectors : str | list of str | None
        ``key=value`` selectors (see the module docstring); ``None`` for every stream.
    timeout : float
        Longest wait in seconds.
    settle_s : float
        Extra wait in seconds once every selector has matched.
    require_all : bool
        Raise if some selector matched nothing (otherwise log a warning).

    Returns
    -------
    list of pylsl.StreamInfo
        One per stream (by uid), in order of name then source id.

    Raises
    ------
    StreamNotFoundError
        If nothing matched within ``timeout``.
    """
    import pylsl

    parsed = parse_selectors(selectors)
    resolver = pylsl.ContinuousResolver(forget_after=max(5.0, timeout))
    deadline = time.monotonic() + float(timeout)
    settled_at = None
    while True:
        found = {}
        for info in resolver.results():
            d = info_to_dict(info)
            if matches(d, parsed):
                found.setdefault(d["uid"], (d, info))
        hit = [any(matches(d, [sel]) for d, _ in found.values()) for sel in parsed] or [bool(found)]
        now = time.monotonic()
        if all(hit) and settled_at is None:
            settled_at = now + settle_s
        if now >= deadline or (settled_at is not None and now >= settled_at):
            break
        time.sleep(0.05)
    wanted = " or ".join(f"{k}={v}" for k, v in parsed) or "any stream"
    if not found:
        raise StreamNotFoundError(f"No LSL stream matching {wanted} found within {timeout:g} s.")
    missing = [f"{k}={v}" for (k, v), ok in zip(parsed, hit) if not ok]
    if missing:
        if require_all:
            raise StreamNotFoundError(f"No LSL stream matching {', '.join(missing)} found within {timeout:g} s.")
        logger.warning("No LSL stream matching %s found within %g s.", ", ".join(missing), timeout)
    ordered = sorted(found.values(), key=lambda di: (di[0]["name"], di[0]["source_id"], di[0]["uid"]))
    return [info for _, info in ordered]


def dtype_of(fmt: str):
    """numpy dtype of an XDF/LSL numeric channel format (``None`` for strings)."""
    return NUMPY_DTYPES.get(fmt)


def liblsl_config_file() -> Path | None:
    """The ``lsl_api.cfg`` liblsl will read: ``$LSLAPICFG``, then ``./lsl_api.cfg``,
    ``~/lsl_api/lsl_api.cfg`` and ``/etc/lsl_api/lsl_api.cfg`` (liblsl's search order)."""
    env = os.environ.get("LSLAPICFG")
    for cand in ([Path(env)] if env else []) + [Path("lsl_api.cfg"), Path.home() / "lsl_api" / "lsl_api.cfg",
                                                 Path("/etc/lsl_api/lsl_api.cfg")]:
        if cand.is_file():
            return cand
    return None


def set_liblsl_log_level(level: int = -2) -> bool:
    """Set the log level of liblsl itself (-2 errors, -1 warnings, 0 info, 1-9 more detail).

    liblsl prints its own INFO lines ("Loaded default config", "git:...") straight to stderr,
    past Python's logging. This sets ``[log] level`` through ``pylsl.set_config_content``,
    keeping every other setting of the user's ``lsl_api.cfg``; a level the user set there is
    left alone. It only works before the first LSL call of the process.

    Returns
    -------
    bool
        ``True`` if the level was set; ``False`` if the user's file sets one, or liblsl is too old.
    """
    import configparser

    import pylsl

    parser = configparser.RawConfigParser()
    parser.optionxform = str  # liblsl's keys are case-sensitive (KnownPeers, ResolveScope...)
    path = liblsl_config_file()
    if path is not None:
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError):
            return False  # let liblsl report its own file; do not replace it with ours
        if parser.has_option("log", "level"):
            return False
    if not parser.has_section("log"):
        parser.add_section("log")
    parser.set("log", "level", str(int(level)))
    buf = io.StringIO()
    parser.write(buf)
    try:
        pylsl.set_config_content(buf.getvalue())
    except (NotImplementedError, AttributeError):
        return False
    return True
