"""Trigger channels and numeric event codes: decoding, mapping to the protocol, diagnosis.

Many amplifiers mark events on a trigger channel (BioSemi's ``Status``, Neuromag's ``STI 014``,
a ``Trigger`` line in EDF) rather than as text. :func:`trigger_events` turns such a channel into
``(onset, code)`` pairs; :func:`read_raw_any <neuromer.io.mne_formats.read_raw_any>` stores them
as markers whose text is the code (``"5"``). A protocol's ``[markers.codes]`` table then says what
each code means (:func:`apply_code_table`), and :func:`explain_unmatched` says, in one sentence,
why no marker of a recording matches the protocol.

BioSemi's Status channel is 24 bits wide: bits 0-15 carry the trigger code of the parallel port,
bits 16-23 are status flags (new epoch, speed mode, CMS in range, battery low) that stay set for
long stretches (BioSemi, "ActiveTwo Status channel", https://www.biosemi.com/faq/trigger_signals.htm).
Only the low ``trigger_bits`` bits (16 by default, 8 for an 8-bit port) are read as codes.
"""

from __future__ import annotations

import re
from collections import Counter

import mne
import numpy as np
import pandas as pd

from .._logging import logger

#: Default number of low bits of a trigger channel that carry the event code (BioSemi: 16).
DEFAULT_TRIGGER_BITS = 16
#: Trigger widths a protocol or caller may ask for.
TRIGGER_BITS = (8, 16, 24)
# names (lower case, spaces removed) preferred when a file has several stim channels: the
# combined channel, not its single lines (STI 001 ... STI 006 repeat STI 014's bits)
_PREFERRED = ("status", "sti014", "trigger", "triggers", "stim", "sti101")
# a marker text that is a code: "5", " 5 ", "5.0", BrainVision "S  5" / "Stimulus/S  5"
_CODE_RX = re.compile(r"(?:Stimulus/)?S?\s*(\d+)(?:\.0*)?")


def trigger_channel(raw: mne.io.BaseRaw) -> str | None:
    """The stim channel whose codes become markers, or ``None`` if the file has none.

    ``Status`` (BioSemi), ``STI 014`` (Neuromag), ``Trigger`` or ``STIM`` if present, otherwise the
    first channel of type ``stim``.
    """
    stim = [n for n, t in zip(raw.ch_names, raw.get_channel_types()) if t == "stim"]
    if not stim:
        return None
    by_key = {n.lower().replace(" ", ""): n for n in stim}
    return next((by_key[k] for k in _PREFERRED if k in by_key), stim[0])


def trigger_events(values: np.ndarray, *, trigger_bits: int = DEFAULT_TRIGGER_BITS,
                   rest_code: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Events of a trigger channel: samples where the masked code steps to a code other than rest.

    Parameters
    ----------
    values : ndarray, shape (n_times,)
        The channel as read (integers stored as floats; negative values are two's complement).
    trigger_bits : int
        Low bits that hold the code (8, 16 or 24); higher bits are status flags and ignored.
    rest_code : int | None
        The code the channel rests at between events; ``None``: the most frequent masked code
        (0 on most channels; BioSemi trigger lines left unconnected read high, so a port may rest
        at e.g. 254 and pulse to 255). Steps back to the rest code, or to 0, are ends of events.

    Returns
    -------
    samples : ndarray of int, shape (n_events,)
        Sample index (from the first sample) of each event's first sample.
    codes : ndarray of int, shape (n_events,)
        The masked code of each event.

    Notes
    -----
    A code already present at sample 0 is a state the port was in when recording started, not an
    event, and is not counted (as :func:`mne.find_events` does by default). A step from one
    non-rest code straight to another (5 -> 3) is an event of the new code.

    Examples
    --------
    >>> trigger_events(np.array([0, 0, 5, 5, 0, 3 + 2**16, 0]))
    (array([2, 5]), array([5, 3]))
    """
    if trigger_bits not in TRIGGER_BITS:
        raise ValueError(f"trigger_bits must be one of {TRIGGER_BITS}, got {trigger_bits!r}")
    values = np.asarray(values, dtype=float).reshape(-1)
    if len(values) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    codes = _masked(values, trigger_bits)
    if rest_code is None:
        rest_code = _mode(codes)
    prev = np.concatenate([codes[:1], codes[:-1]])
    idx = np.flatnonzero((codes != prev) & (codes != 0) & (codes != rest_code))
    return idx, codes[idx]


def _check_auto_rest(masked: np.ndarray, rest: int, event_codes: set[int], where: str) -> None:
    """Warn when the most frequent code, taken as the rest code, may be an event code held long."""
    if rest == 0:
        return
    how = "set markers.rest_code in the protocol if the channel rests at another code"
    if rest in event_codes:
        logger.warning("%s: code %d, mapped in [markers.codes], is on for most of the recording and is "
                       "taken as the rest code, so its events are not counted; %s.", where, rest, how)
    elif np.count_nonzero(masked == 0) >= 0.01 * len(masked):
        logger.warning("%s: the channel is at code %d for most of the recording and at 0 for %.0f %% of it; "
                       "code %d is taken as the rest code (its events are not counted); %s.", where, rest,
                       100.0 * np.count_nonzero(masked == 0) / len(masked), rest, how)


def _mode(codes: np.ndarray) -> int:
    values, counts = np.unique(codes, return_counts=True)
    return int(values[np.argmax(counts)])


def _masked(values: np.ndarray, trigger_bits: int) -> np.ndarray:
    values = np.asarray(values, dtype=float).reshape(-1)
    finite = np.isfinite(values)
    return np.where(finite, np.rint(np.where(finite, values, 0)), 0).astype(np.int64) & ((1 << trigger_bits) - 1)


def trigger_markers(raw: mne.io.BaseRaw, *, trigger_bits: int = DEFAULT_TRIGGER_BITS,
                    rest_code: int | None = None, event_codes=(),
                    source: str = "") -> tuple[np.ndarray, list[str], dict | None]:
    """Markers from the trigger channel of ``raw`` (see :func:`trigger_channel`).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording.
    trigger_bits : int
        Low bits of the channel that hold the code (8, 16 or 24).
    rest_code : int | None
        The code the channel rests at between events; ``None``: the most frequent code. A code
        held for most of a recording (one code on for the whole of every long trial) would be
        taken for the rest code and its events lost: the warnings below say so, and a protocol's
        ``markers.rest_code`` fixes it.
    event_codes : iterable of int
        Codes the caller expects as events (a protocol's ``[markers.codes]``): if the most
        frequent code is one of them, a warning names it.
    source : str
        The file, for messages.

    Returns
    -------
    onset_s : ndarray, shape (n_events,)
        Seconds from the first sample.
    description : list of str
        The code as text (``"5"``).
    summary : dict | None
        ``{"channel": name, "n_events": n, "codes": {code: count}, "trigger_bits": bits,
        "rest_code": code}``; ``None`` if the file has no stim channel.
    """
    name = trigger_channel(raw)
    if name is None:
        return np.empty(0), [], None
    values = raw.get_data(picks=[name])[0]
    if rest_code is not None:
        rest = int(rest_code)
    else:
        masked = _masked(values, trigger_bits)
        rest = _mode(masked) if len(values) else 0
        _check_auto_rest(masked, rest, {int(c) for c in event_codes}, f"{source}: {name}" if source else name)
    samples, codes = trigger_events(values, trigger_bits=trigger_bits, rest_code=rest)
    counts = Counter(int(c) for c in codes)
    summary = {"channel": name, "n_events": int(len(codes)), "codes": dict(sorted(counts.items())),
               "trigger_bits": int(trigger_bits), "rest_code": rest}
    logger.info("%s%s channel: %d events (%s), resting at code %d", f"{source}: " if source else "", name,
                len(codes), _codes_text(counts) or "none", rest)
    return samples / float(raw.info["sfreq"]), [str(int(c)) for c in codes], summary


def marker_code(text: str) -> int | None:
    """The numeric code a marker text stands for, or ``None``.

    ``"5"``, ``"5.0"``, BrainVision's ``"S  5"`` and ``"Stimulus/S  5"`` are code 5; ``"R  5"``
    (a response) and free text are not codes.
    """
    m = _CODE_RX.fullmatch(str(text).strip())
    return int(m.group(1)) if m else None


def apply_code_table(markers: pd.DataFrame, protocol, *, source: str = "") -> pd.DataFrame:
    """Replace coded markers by the protocol's marker strings (``[markers.codes]``).

    Markers are taken in time order. A code mapped to ``"stimulus_on"`` opens the next stimulus
    of the protocol's ``[[stimuli]]`` order; ``"stimulus_off"`` closes the stimulus that is open;
    ``"trial_start"``, ``"baseline_start"`` and ``"trial_end"`` become their templates; any other
    value is used as the marker text. A text key (``T1``) maps a marker of exactly that text.
    Markers the table does not list are kept as they are.

    Parameters
    ----------
    markers : DataFrame
        ``onset_s`` and ``description``.
    protocol : Protocol

    Returns
    -------
    DataFrame
        Same rows (sorted by onset), translated ``description``.
    """
    table = dict(getattr(protocol.markers, "codes", ()) or ())
    if not table or len(markers) == 0:
        return markers
    out = markers.sort_values("onset_s", kind="stable").reset_index(drop=True).copy()
    ids = list(protocol.stimulus_ids)
    fmt = protocol.markers
    n_next, open_id, extra = 0, None, 0
    texts = []
    for text in out["description"].astype(str):
        code = marker_code(text)
        target = table.get(code) if code is not None and code in table else table.get(text.strip())
        if target == "stimulus_on":
            if n_next < len(ids):
                open_id = ids[n_next]
                text = fmt.format("stimulus_on", stimulus_id=open_id)
                n_next += 1
            else:
                extra += 1
        elif target == "stimulus_off":
            if open_id is not None:
                text = fmt.format("stimulus_off", stimulus_id=open_id)
                open_id = None
        elif target in ("trial_start", "baseline_start", "trial_end"):
            text = fmt.format(target)
        elif target is not None:
            text = target
        parsed = fmt.parse(text)
        if parsed and parsed[0] == "stimulus_on":  # a literal stimulus marker opens its stimulus too
            open_id = parsed[1].get("stimulus_id", open_id)
        texts.append(text)
    if extra:
        codes = sorted(c for c, t in table.items() if t == "stimulus_on")
        logger.warning("%s%d more stimulus-onset codes (%s) than the protocol's %d stimuli; the extra ones "
                       "are ignored.", f"{source}: " if source else "", extra, ", ".join(map(str, codes)), len(ids))
    out["description"] = texts
    return out


def _codes_text(counts: Counter | dict, limit: int = 6) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(items) == 1:
        return f"code {items[0][0]}"
    text = ", ".join(f"{c} ({n})" for c, n in items[:limit])
    return f"codes {text}" + (f" and {len(items) - limit} more" if len(items) > limit else "")


def explain_unmatched(markers: pd.DataFrame, protocol, *, triggers: dict | None = None) -> str:
    """One sentence saying why no marker of a recording opens a trial of the protocol.

    Parameters
    ----------
    markers : DataFrame
        ``onset_s`` and ``description`` (codes not yet translated).
    protocol : Protocol
    triggers : dict | None
        The trigger-channel summary of :func:`trigger_markers`, to name the channel.

    Examples
    --------
    "Status channel has 40 events with code 255; the protocol maps no codes ([markers.codes])"
    """
    texts = markers["description"].astype(str).tolist()
    if not texts:
        where = (f"the {triggers['channel']} channel has no events" if triggers
                 else "the recording has no markers (no trigger channel, annotations or events file)")
        return where
    coded = Counter(c for c in map(marker_code, texts) if c is not None)
    other = Counter(t for t in texts if marker_code(t) is None)
    parts = []
    if coded:
        n = sum(coded.values())
        head = f"{triggers['channel']} channel has" if triggers and triggers.get("n_events") else "the markers hold"
        parts.append(f"{head} {n} event{'s' if n != 1 else ''} with {_codes_text(coded)}")
    if other:
        shown = ", ".join(f"{t!r} ({k})" for t, k in other.most_common(3))
        parts.append(f"{sum(other.values())} text marker{'s' if sum(other.values()) != 1 else ''} ({shown}"
                     f"{', ...' if len(other) > 3 else ''})")
    table = dict(getattr(protocol.markers, "codes", ()) or ())
    reasons = []
    if coded:
        if not table:
            reasons.append("the protocol maps no codes ([markers.codes])")
        else:
            mapped = [c for c in coded if c in table]
            numbers = [c for c in table if isinstance(c, int)]
            if not mapped and numbers:
                reasons.append(f"the protocol's [markers.codes] maps codes {', '.join(map(str, numbers))}, "
                               "none of which occur")
            elif not mapped:
                reasons.append("the protocol's [markers.codes] maps no numeric codes")
            elif not any(table[c] == "stimulus_on" or str(table[c]).startswith(
                    protocol.markers.stimulus_on.split("{")[0]) for c in mapped):
                reasons.append("no code that occurs is mapped to 'stimulus_on'")
    if other:
        reasons.append(f"no text marker matches markers.stimulus_on = {protocol.markers.stimulus_on!r}"
                       + (" or a text key of [markers.codes]" if any(isinstance(c, str) for c in table) else ""))
    return "; ".join(["; ".join(parts)] + reasons)


__all__ = ["DEFAULT_TRIGGER_BITS", "apply_code_table", "explain_unmatched", "marker_code", "trigger_channel",
           "trigger_events", "trigger_markers"]
