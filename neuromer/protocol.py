"""Experiment protocols: the contract between acquisition and analysis.

A protocol (``protocols/*.toml``) lists the stimuli, the timing of a trial, the marker vocabulary,
the expected streams with their channels, and the rating scales. :func:`read_protocol` validates
it and raises :class:`~neuromer.errors.ProtocolError` naming the file and the field at fault.

File layout::

    [protocol]                  # name, description
    [timing]                    # baseline_s, stimulus_s, rating_s, inter_trial_s
    [markers]                   # trial_start, baseline_start, stimulus_on, stimulus_off, rating, trial_end,
                                # trigger_bits (8/16/24: low bits of a trigger channel read as codes)
    [markers.codes]             # numeric trigger code -> marker (see below)
    [ratings]                   # scales = [...], min, max
    [[streams]]                 # type, name, channels = [...], kinds = [...] or kind = "eeg"
    [[stimuli]]                 # id, file (relative to the protocol file), [stimuli.meta]

Marker templates may contain ``{stimulus_id}`` (stimulus on/off), ``{scale}`` and ``{value}``
(ratings); e.g. ``stimulus_on = "stim_on/{stimulus_id}"`` matches ``"stim_on/s07"``.

Numeric trigger codes (a BDF Status channel, FIF stim channel, BrainVision ``S  5``, an events
file with a ``code`` column) are mapped to markers by ``[markers.codes]``: each key is a code
(1-16777215) or the exact text of a marker the file carries (EDF annotations such as ``T1``),
each value a marker kind or a marker string of the vocabulary::

    [markers.codes]
    1 = "trial_start"
    3 = "stimulus_on"      # opens the next stimulus in the [[stimuli]] order
    4 = "stimulus_off"     # closes the stimulus that is open
    9 = "rating/valence/9" # any marker the templates above match
    T0 = "trial_start"     # an annotation text
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._checks import read_toml
from .errors import ProtocolError

#: MNE channel types a protocol may name for a channel.
CHANNEL_KINDS = ("eeg", "eog", "emg", "ecg", "gsr", "resp", "bio", "temperature", "misc", "stim")
MARKER_KINDS = ("trial_start", "baseline_start", "stimulus_on", "stimulus_off", "rating", "trial_end")
SAM_SCALES = ("valence", "arousal", "dominance", "liking")
#: Longest duration a protocol may give to one part of a trial (one day), in seconds.
MAX_DURATION_S = 86400.0

_ALLOWED = {
    "": {"protocol", "timing", "markers", "ratings", "streams", "stimuli"},
    "protocol": {"name", "description", "version"},
    "timing": {"baseline_s", "stimulus_s", "rating_s", "inter_trial_s"},
    "markers": set(MARKER_KINDS) | {"codes", "trigger_bits", "rest_code"},
    "ratings": {"scales", "min", "max"},
    "streams": {"type", "name", "channels", "kinds", "kind", "required"},
    "stimuli": {"id", "file", "meta"},
}
_FIELD_PATTERNS = {"stimulus_id": r"(?P<stimulus_id>.+?)", "scale": r"(?P<scale>[A-Za-z_]\w*)",
                   "value": r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"}


@dataclass(frozen=True)
class Timing:
    """Durations of the parts of a trial, in seconds."""

    baseline_s: float = 3.0
    stimulus_s: float = 60.0
    rating_s: float = 0.0
    inter_trial_s: float = 0.0


@dataclass(frozen=True)
class Markers:
    """Marker vocabulary: a string template per event kind (``None`` if the protocol has none)."""

    trial_start: str | None = "trial_start"
    baseline_start: str | None = "baseline_start"
    stimulus_on: str = "stim_on/{stimulus_id}"
    stimulus_off: str | None = "stim_off/{stimulus_id}"
    rating: str | None = "rating/{scale}/{value}"
    trial_end: str | None = None
    #: ``[markers.codes]``: (code or marker text, marker kind or marker string) pairs.
    codes: tuple[tuple[int | str, str], ...] = ()
    #: Low bits of a trigger channel that hold the code (BioSemi Status: 16).
    trigger_bits: int = 16
    #: The code a trigger channel rests at between events; ``None``: its most frequent code.
    rest_code: int | None = None

    def format(self, kind: str, **fields: Any) -> str:
        """The marker string for event ``kind``, e.g. ``format("stimulus_on", stimulus_id="s01")``."""
        template = getattr(self, kind)
        if template is None:
            raise ProtocolError(f"The protocol defines no '{kind}' marker (markers.{kind}).")
        return template.format(**fields)

    def parse(self, text: str) -> tuple[str, dict[str, str]] | None:
        """Return ``(kind, fields)`` for a marker string, or ``None`` if it is not in the vocabulary."""
        text = str(text).strip()
        for kind, rx in self._compiled():
            m = rx.fullmatch(text)
            if m:
                return kind, m.groupdict()
        return None

    def _compiled(self) -> list[tuple[str, re.Pattern]]:
        cached = self.__dict__.get("_rx")
        if cached is None:
            cached = []
            for kind in MARKER_KINDS:
                template = getattr(self, kind)
                if template is not None:
                    parts = re.split(r"(\{\w+\})", template)
                    rx = "".join(_FIELD_PATTERNS[p[1:-1]] if p[1:-1] in _FIELD_PATTERNS and p.startswith("{")
                                 else re.escape(p) for p in parts)
                    cached.append((kind, re.compile(rx)))
            object.__setattr__(self, "_rx", cached)
        return cached


@dataclass(frozen=True)
class RatingScales:
    """Self-report scales (SAM by default) and their range."""

    scales: tuple[str, ...] = SAM_SCALES
    min: float = 1.0
    max: float = 9.0

    @property
    def midpoint(self) -> float:
        """The scale's centre (5 on 1-9), the usual high/low threshold."""
        return (self.min + self.max) / 2


@dataclass(frozen=True)
class StreamSpec:
    """A stream the session is expected to contain (matched on LSL type and optionally name)."""

    type: str
    name: str | None = None
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class Stimulus:
    """One stimulus: its id, its audio file (absolute, resolved) and free metadata."""

    id: str
    file: Path | None = None
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Protocol:
    """A validated experiment protocol. Build it with :func:`read_protocol`."""

    name: str
    description: str = ""
    timing: Timing = Timing()
    markers: Markers = Markers()
    ratings: RatingScales = RatingScales()
    streams: tuple[StreamSpec, ...] = ()
    stimuli: tuple[Stimulus, ...] = ()
    path: Path | None = None

    def __repr__(self) -> str:
        return (f"<Protocol {self.name!r} | {len(self.stimuli)} stimuli, {len(self.streams)} streams, "
                f"baseline {self.timing.baseline_s:g} s, stimulus {self.timing.stimulus_s:g} s>")

    def stimulus(self, stimulus_id: str) -> Stimulus:
        """The stimulus with this id; :class:`ProtocolError` if the protocol has none."""
        for stim in self.stimuli:
            if stim.id == str(stimulus_id):
                return stim
        raise ProtocolError(f"{self._where()}: unknown stimulus id {stimulus_id!r}.")

    @property
    def stimulus_ids(self) -> list[str]:
        return [s.id for s in self.stimuli]

    @property
    def channel_names(self) -> list[str]:
        """Every channel the streams declare, in stream order."""
        return [ch for s in self.streams for ch in s.channels]

    @property
    def channel_types(self) -> dict[str, str]:
        """Channel name -> MNE channel type, for every declared channel."""
        return {ch: kind for s in self.streams for ch, kind in zip(s.channels, s.kinds)}

    def _where(self) -> str:
        return str(self.path) if self.path else f"protocol {self.name!r}"

    def dumps(self) -> str:
        """The protocol as TOML text (stimulus files relative to ``self.path``'s folder)."""
        base = self.path.parent if self.path else None
        out = ["[protocol]", f"name = {_toml(self.name)}", f"description = {_toml(self.description)}", ""]
        out += ["[timing]"] + [f"{k} = {_toml(getattr(self.timing, k))}"
                               for k in ("baseline_s", "stimulus_s", "rating_s", "inter_trial_s")]
        out += ["", "[markers]"] + [f"{k} = {_toml(getattr(self.markers, k))}" for k in MARKER_KINDS
                                    if getattr(self.markers, k) is not None]
        if self.markers.trigger_bits != 16:
            out.append(f"trigger_bits = {self.markers.trigger_bits}")
        if self.markers.rest_code is not None:
            out.append(f"rest_code = {self.markers.rest_code}")
        if self.markers.codes:
            out += ["", "[markers.codes]"] + [f"{c if isinstance(c, int) else _toml(c)} = {_toml(t)}"
                                               for c, t in self.markers.codes]
        out += ["", "[ratings]", f"scales = {_toml(list(self.ratings.scales))}",
                f"min = {_toml(self.ratings.min)}", f"max = {_toml(self.ratings.max)}"]
        for s in self.streams:
            out += ["", "[[streams]]", f"type = {_toml(s.type)}"]
            if s.name:
                out.append(f"name = {_toml(s.name)}")
            if s.channels:
                out += [f"channels = {_toml(list(s.channels))}", f"kinds = {_toml(list(s.kinds))}"]
            elif s.kinds:
                out.append(f"kinds = {_toml(list(s.kinds))}")
            if not s.required:
                out.append("required = false")
        for st in self.stimuli:
            out += ["", "[[stimuli]]", f"id = {_toml(st.id)}"]
            if st.file is not None:
                rel = os.path.relpath(st.file, base) if base else str(st.file)
                out.append(f"file = {_toml(Path(rel).as_posix())}")
            if st.meta:
                out.append("meta = { " + ", ".join(f"{k} = {_toml(v)}" for k, v in st.meta.items()) + " }")
        return "\n".join(out) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def read_protocol(path: str | os.PathLike, *, check_files: bool = True) -> Protocol:
    """Read and validate a protocol TOML file.

    Parameters
    ----------
    path : path-like
        The ``.toml`` file. Stimulus files are resolved relative to its folder and may not escape
        it. A bare name such as ``"deap"`` finds a protocol shipped with neuromer.
    check_files : bool
        Require every stimulus file to exist (default). Turn off to inspect a protocol whose audio
        is elsewhere.

    Returns
    -------
    Protocol

    Raises
    ------
    ProtocolError
        Naming the file and the field (``timing.baseline_s``, ``stimuli[3].file``...).
    """
    path = _locate(path)
    try:
        raw = read_toml(path, ProtocolError)
    except FileNotFoundError:
        raise ProtocolError(f"{path}: protocol file not found.") from None
    return _build(raw, path, check_files=check_files)


def as_protocol(protocol: Protocol | str | os.PathLike | None) -> Protocol | None:
    """A :class:`Protocol` from a Protocol, a protocol file or shipped name, or ``None``.

    Readers that take ``protocol=`` accept all three, so ``read_xdf(path, protocol="lab.toml")``
    works as ``read_xdf(path, protocol=read_protocol("lab.toml"))`` does (stimulus audio files
    need not exist to read a recording).
    """
    if protocol is None or isinstance(protocol, Protocol):
        return protocol
    if isinstance(protocol, (str, os.PathLike)):
        return read_protocol(protocol, check_files=False)
    raise ProtocolError(f"Invalid type for the 'protocol' parameter: expected a Protocol or a path to a "
                        f"protocol TOML file, got {type(protocol).__name__} ({protocol!r}).")


def shipped_protocols() -> dict[str, Path]:
    """Protocols shipped with neuromer: name -> path."""
    folder = _shipped_dir()
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder else {}


def _shipped_dir() -> Path | None:
    for cand in (Path(__file__).resolve().parent.parent / "protocols",
                 Path(__file__).resolve().parent / "protocols"):
        if cand.is_dir():
            return cand
    return None


def _locate(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if p.exists() or p.suffix:
        if not p.exists():
            raise ProtocolError(f"{p}: protocol file not found.")
        return p.resolve()
    shipped = shipped_protocols()
    if str(path) in shipped:
        return shipped[str(path)]
    raise ProtocolError(f"{p}: protocol file not found (shipped protocols: {', '.join(shipped) or 'none'}).")


def _check_keys(where: str, section: str, table: dict, label: str) -> None:
    allowed = _ALLOWED[section]
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(key, sorted(allowed), n=1)
            tip = f"; did you mean '{hint[0]}'?" if hint else f" (allowed: {', '.join(sorted(allowed))})"
            raise ProtocolError(f"{where}: unknown key '{label}{key}'{tip}")


def _number(where: str, label: str, value: Any, *, minimum: float | None = 0.0,
            maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"{where}: '{label}' must be a number, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ProtocolError(f"{where}: '{label}' must be >= {minimum:g}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ProtocolError(f"{where}: '{label}' must be <= {maximum:g}, got {value!r}.")
    return float(value)


def _string(where: str, label: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{where}: '{label}' must be a non-empty string, got {value!r}.")
    return value


def _build(raw: dict, path: Path, *, check_files: bool) -> Protocol:
    where = str(path)
    _check_keys(where, "", raw, "")
    for section in ("protocol", "timing", "markers", "ratings"):
        if section in raw and not isinstance(raw[section], dict):
            raise ProtocolError(f"{where}: '{section}' must be a table ([{section}]).")
        _check_keys(where, section, raw.get(section, {}), f"{section}.")
    head = raw.get("protocol", {})
    name = _string(where, "protocol.name", head.get("name", path.stem))

    t = raw.get("timing", {})
    # a part of a trial longer than a day is a typo (1e300 would overflow the sample counts)
    timing = Timing(**{k: _number(where, f"timing.{k}", v, maximum=MAX_DURATION_S) for k, v in t.items()})
    if timing.stimulus_s <= 0:
        raise ProtocolError(f"{where}: 'timing.stimulus_s' must be > 0, got {timing.stimulus_s!r}.")

    m = dict(raw.get("markers", {}))
    codes, trigger_bits, rest_code = m.pop("codes", {}), m.pop("trigger_bits", 16), m.pop("rest_code", None)
    markers = Markers(**{k: _string(where, f"markers.{k}", v) for k, v in m.items()})
    for kind in MARKER_KINDS:
        template = getattr(markers, kind)
        if template is None:
            continue
        fields = set(re.findall(r"\{(\w*)\}", template))
        need = {"stimulus_on": {"stimulus_id"}, "rating": {"scale", "value"}}.get(kind, set())
        allowed = need | ({"stimulus_id"} if kind == "stimulus_off" else set())
        if not need <= fields or not fields <= allowed:
            raise ProtocolError(
                f"{where}: 'markers.{kind}' = {template!r} must use exactly the fields "
                f"{sorted(need) or 'none'}{' (optionally {stimulus_id})' if kind == 'stimulus_off' else ''}.")
    _check_unambiguous(where, markers)

    r = raw.get("ratings", {})
    scales = r.get("scales", list(SAM_SCALES))
    if not isinstance(scales, list) or not all(isinstance(s, str) and s.isidentifier() for s in scales):
        raise ProtocolError(f"{where}: 'ratings.scales' must be a list of names, got {scales!r}.")
    if len(set(scales)) != len(scales):
        raise ProtocolError(f"{where}: 'ratings.scales' lists a scale twice: {scales!r}.")
    lo = _number(where, "ratings.min", r.get("min", 1.0), minimum=None)
    hi = _number(where, "ratings.max", r.get("max", 9.0), minimum=None)
    if hi <= lo:
        raise ProtocolError(f"{where}: 'ratings.max' ({hi:g}) must be greater than 'ratings.min' ({lo:g}).")
    ratings = RatingScales(tuple(scales), lo, hi)

    streams = []
    raw_streams = raw.get("streams", [])
    if not isinstance(raw_streams, list):
        raise ProtocolError(f"{where}: 'streams' must be an array of tables ([[streams]]).")
    for i, s in enumerate(raw_streams):
        label = f"streams[{i}]"
        if not isinstance(s, dict):
            raise ProtocolError(f"{where}: '{label}' must be a table.")
        _check_keys(where, "streams", s, f"{label}.")
        stype = _string(where, f"{label}.type", s.get("type"))
        channels = s.get("channels", [])
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise ProtocolError(f"{where}: '{label}.channels' must be a list of channel names.")
        if len(set(channels)) != len(channels):
            raise ProtocolError(f"{where}: '{label}.channels' lists a channel twice.")
        if "kind" in s and "kinds" in s:
            raise ProtocolError(f"{where}: '{label}' has both 'kind' and 'kinds'; use one.")
        kinds = s.get("kinds", [s["kind"]] * max(len(channels), 1) if "kind" in s else [])
        if not isinstance(kinds, list):
            raise ProtocolError(f"{where}: '{label}.kinds' must be a list.")
        for k in kinds:
            if k not in CHANNEL_KINDS:
                raise ProtocolError(f"{where}: '{label}.kinds' has unknown channel kind {k!r} "
                                    f"(allowed: {', '.join(CHANNEL_KINDS)}).")
        if channels and len(kinds) != len(channels):
            raise ProtocolError(f"{where}: '{label}' has {len(channels)} channels but {len(kinds)} kinds.")
        required = s.get("required", True)
        if not isinstance(required, bool):
            raise ProtocolError(f"{where}: '{label}.required' must be true or false.")
        streams.append(StreamSpec(stype, s.get("name"), tuple(channels), tuple(kinds), required))
    all_channels = [c for s in streams for c in s.channels]
    dup = {c for c in all_channels if all_channels.count(c) > 1}
    if dup:
        raise ProtocolError(f"{where}: channel(s) {sorted(dup)} declared in more than one stream.")

    stimuli = []
    raw_stimuli = raw.get("stimuli", [])
    if not isinstance(raw_stimuli, list):
        raise ProtocolError(f"{where}: 'stimuli' must be an array of tables ([[stimuli]]).")
    seen: set[str] = set()
    base = path.parent.resolve()
    for i, st in enumerate(raw_stimuli):
        label = f"stimuli[{i}]"
        if not isinstance(st, dict):
            raise ProtocolError(f"{where}: '{label}' must be a table.")
        _check_keys(where, "stimuli", st, f"{label}.")
        sid = st.get("id")
        if isinstance(sid, int) and not isinstance(sid, bool):
            sid = str(sid)
        sid = _string(where, f"{label}.id", sid)
        if sid != sid.strip() or any(not ch.isprintable() for ch in sid):
            # markers are stripped before they are parsed, and a template's {stimulus_id} stops at a
            # line break: such an id could never be found in a recording
            raise ProtocolError(f"{where}: '{label}.id' = {sid!r} has leading/trailing spaces or control "
                                "characters; no marker could carry it.")
        if sid in seen:
            raise ProtocolError(f"{where}: '{label}.id' duplicates stimulus id {sid!r}.")
        seen.add(sid)
        file = None
        if "file" in st:
            rel = _string(where, f"{label}.file", st["file"])
            # a lexical check: '..' or an absolute path escapes; a symlinked folder inside the
            # protocol folder (e.g. stimuli shared between studies) is the user's own choice
            norm = os.path.normpath(rel)
            if os.path.isabs(rel) or norm == ".." or norm.startswith(".." + os.sep):
                raise ProtocolError(f"{where}: '{label}.file' = {rel!r} escapes the protocol folder {base}.")
            file = base / norm
            if check_files and not file.is_file():
                raise ProtocolError(f"{where}: '{label}.file' = {rel!r}: stimulus file not found ({file}).")
        meta = st.get("meta", {})
        if not isinstance(meta, dict):
            raise ProtocolError(f"{where}: '{label}.meta' must be a table.")
        stimuli.append(Stimulus(sid, file, dict(meta)))

    markers = _code_table(where, codes, trigger_bits, markers, stimuli, rest_code)
    _check_round_trip(where, markers, [s.id for s in stimuli], ratings)
    return Protocol(name=name, description=str(head.get("description", "")), timing=timing,
                    markers=markers, ratings=ratings, streams=tuple(streams), stimuli=tuple(stimuli),
                    path=path)


_CODE_KINDS = ("stimulus_on", "stimulus_off", "trial_start", "baseline_start", "trial_end")


def _code_table(where: str, codes: Any, trigger_bits: Any, markers: Markers, stimuli: list,
                rest_code: Any = None) -> Markers:
    """Validate ``[markers.codes]``, ``markers.trigger_bits`` and ``markers.rest_code``; return the markers
    with them."""
    import dataclasses

    if isinstance(trigger_bits, bool) or trigger_bits not in (8, 16, 24):
        raise ProtocolError(f"{where}: 'markers.trigger_bits' must be 8, 16 or 24, got {trigger_bits!r}.")
    if not isinstance(codes, dict):
        raise ProtocolError(f"{where}: 'markers.codes' must be a table ([markers.codes]) of code = marker.")
    table = []
    for key, value in codes.items():
        label = f"markers.codes.{key}"
        numeric = re.fullmatch(r"[+-]?\d+", str(key).strip()) is not None
        if numeric and not 1 <= int(key) < 1 << trigger_bits:
            raise ProtocolError(f"{where}: '{label}': a code must be a whole number from 1 to "
                                f"{(1 << trigger_bits) - 1} (markers.trigger_bits = {trigger_bits}), got {key!r}.")
        if not numeric and (not str(key).strip() or str(key) != str(key).strip()):
            raise ProtocolError(f"{where}: '{label}': a marker text to map must be non-empty without edge "
                                f"spaces, got {key!r}.")
        value = _string(where, label, value).strip()
        if value in _CODE_KINDS:
            if value != "stimulus_on" and getattr(markers, value) is None:
                raise ProtocolError(f"{where}: '{label}' = {value!r}, but the protocol defines no "
                                    f"'markers.{value}' template.")
            if value == "stimulus_on" and not stimuli:
                raise ProtocolError(f"{where}: '{label}' = 'stimulus_on' opens the next stimulus in order, "
                                    "but the protocol lists no [[stimuli]].")
            if value in ("trial_start", "baseline_start", "trial_end") and "{" in getattr(markers, value):
                raise ProtocolError(f"{where}: '{label}' = {value!r}: its template has fields to fill.")
        elif value == "rating":
            raise ProtocolError(f"{where}: '{label}' = 'rating' needs a scale and a value; map the code to a "
                                f"full rating marker such as {markers.format('rating', scale='valence', value=5)!r}"
                                if markers.rating else f"{where}: '{label}' = 'rating', but the protocol "
                                "defines no 'markers.rating' template.")
        elif markers.parse(value) is None:
            raise ProtocolError(f"{where}: '{label}' = {value!r} is neither a marker kind "
                                f"({', '.join(_CODE_KINDS)}) nor a marker the [markers] templates match.")
        table.append((int(key) if numeric else str(key), value))
    codes_seen = [c for c, _ in table]
    if len(set(codes_seen)) != len(codes_seen):  # "03" and "3" are the same code
        raise ProtocolError(f"{where}: 'markers.codes' lists a code twice.")
    table.sort(key=lambda kv: (isinstance(kv[0], str), kv[0] if isinstance(kv[0], str) else f"{kv[0]:09d}"))
    if rest_code is not None:
        if isinstance(rest_code, bool) or not isinstance(rest_code, int) or not 0 <= rest_code < 1 << trigger_bits:
            raise ProtocolError(f"{where}: 'markers.rest_code' must be a whole number from 0 to "
                                f"{(1 << trigger_bits) - 1} (markers.trigger_bits = {trigger_bits}), got {rest_code!r}.")
        if rest_code in codes_seen:
            raise ProtocolError(f"{where}: 'markers.rest_code' = {rest_code} is also mapped in [markers.codes]; "
                                "a channel at its rest code marks no event.")
    return dataclasses.replace(markers, codes=tuple(table), trigger_bits=int(trigger_bits),
                               rest_code=None if rest_code is None else int(rest_code))


# ------------------------------------------------------------------ marker vocabulary ambiguity
# Each template is a regular language over characters: literal text, {stimulus_id} (one or more
# of any character but a line break), {scale} (an identifier) and {value} (a decimal number).
# Two templates are ambiguous when one marker string matches both; that is decided exactly by a
# breadth-first search over the product of their automata (no sampling of example strings).

_DIGIT = str.isdigit


def _charsets() -> dict[str, Any]:
    return {"any": lambda c: c != "\n", "alpha": lambda c: c.isascii() and (c.isalpha() or c == "_"),
            "word": lambda c: c.isalnum() or c == "_", "digit": _DIGIT, "sign": lambda c: c in "+-",
            "dot": lambda c: c == ".", "exp": lambda c: c in "eE"}


class _Automaton:
    """A small NFA: ``edges[state]`` = list of (char predicate, next state); ``eps`` likewise."""

    def __init__(self, template: str) -> None:
        self.edges: list[list] = [[]]
        self.eps: list[list[int]] = [[]]
        cs = _charsets()
        end = 0
        for part in re.split(r"(\{\w+\})", template):
            name = part[1:-1] if part.startswith("{") and part.endswith("}") else None
            if name == "stimulus_id":
                a = self._new()
                self._edge(end, cs["any"], a)
                self._edge(a, cs["any"], a)
                end = a
            elif name == "scale":
                a = self._new()
                self._edge(end, cs["alpha"], a)
                self._edge(a, cs["word"], a)
                end = a
            elif name == "value":
                end = self._number(end, cs)
            else:
                for ch in part:
                    a = self._new()
                    self._edge(end, (lambda c, ch=ch: c == ch), a)
                    end = a
        self.accept = end

    def _new(self) -> int:
        self.edges.append([])
        self.eps.append([])
        return len(self.edges) - 1

    def _edge(self, a: int, pred, b: int) -> None:
        self.edges[a].append((pred, b))

    def _number(self, start: int, cs: dict) -> int:
        # [-+]? (\\d+ \\.? \\d* | \\. \\d+) ([eE] [-+]? \\d+)?
        signed, intpart, frac, dot_only, dot_frac, exp, exp_sign, exp_digits, end = (
            self._new() for _ in range(9))
        self._edge(start, cs["sign"], signed)
        self.eps[start].append(signed)
        self._edge(signed, cs["digit"], intpart)
        self._edge(intpart, cs["digit"], intpart)
        self._edge(intpart, cs["dot"], frac)
        self._edge(frac, cs["digit"], frac)
        self._edge(signed, cs["dot"], dot_only)
        self._edge(dot_only, cs["digit"], dot_frac)
        self._edge(dot_frac, cs["digit"], dot_frac)
        for mantissa in (intpart, frac, dot_frac):
            self.eps[mantissa].append(end)
            self._edge(mantissa, cs["exp"], exp)
        self._edge(exp, cs["sign"], exp_sign)
        self.eps[exp].append(exp_sign)
        self._edge(exp_sign, cs["digit"], exp_digits)
        self._edge(exp_digits, cs["digit"], exp_digits)
        self.eps[exp_digits].append(end)
        return end

    def closure(self, states) -> frozenset[int]:
        todo, seen = list(states), set(states)
        while todo:
            for b in self.eps[todo.pop()]:
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        return frozenset(seen)


def _common_string(a: str, b: str) -> str | None:
    """A marker string matched by both templates, or ``None`` if no string is."""
    na, nb = _Automaton(a), _Automaton(b)
    # a character from every literal and one from every field class decide each step exactly
    # ('a' and '0' first, so the example shown to the user reads naturally)
    alphabet = ["a", "0"] + sorted(set(a + b) - set("{}a0") | set("_e.-+é/ "))
    start = (na.closure([0]), nb.closure([0]))
    seen, frontier = {start: ""}, [start]
    while frontier:
        nxt = []
        for sa, sb in frontier:
            text = seen[(sa, sb)]
            if na.accept in sa and nb.accept in sb:
                return text
            for ch in alphabet:
                ta = na.closure([t for s in sa for pred, t in na.edges[s] if pred(ch)])
                tb = nb.closure([t for s in sb for pred, t in nb.edges[s] if pred(ch)])
                if ta and tb and (ta, tb) not in seen:
                    seen[(ta, tb)] = text + ch
                    nxt.append((ta, tb))
        frontier = nxt
    return None


def _check_unambiguous(where: str, markers: Markers) -> None:
    """Refuse a vocabulary in which one marker string could be read as two kinds of event."""
    kinds = [k for k in MARKER_KINDS if getattr(markers, k) is not None]
    for kind in kinds:
        template = getattr(markers, kind)
        if template != template.strip():
            raise ProtocolError(f"{where}: 'markers.{kind}' = {template!r} starts or ends with a space; markers "
                                "are read without them, so it could never match.")
    for i, ka in enumerate(kinds):
        for kb in kinds[i + 1:]:
            ta, tb = getattr(markers, ka), getattr(markers, kb)
            both = _common_string(ta, tb)
            if both is not None:
                raise ProtocolError(
                    f"{where}: 'markers.{ka}' = {ta!r} and 'markers.{kb}' = {tb!r} are ambiguous: the "
                    f"marker {both!r} matches both; make their fixed text differ (e.g. 'stim_on/' and "
                    "'stim_off/' prefixes).")


def _check_round_trip(where: str, markers: Markers, stimulus_ids: list[str], ratings: RatingScales) -> None:
    """Every marker the protocol can write must read back as the same event (same id, scale)."""
    checks = []
    for i, sid in enumerate(stimulus_ids):
        for kind in ("stimulus_on", "stimulus_off"):
            template = getattr(markers, kind)
            if template is not None and "{stimulus_id}" in template:
                checks.append((f"stimuli[{i}].id = {sid!r}", kind, {"stimulus_id": sid}))
    if markers.rating is not None:
        for scale in ratings.scales:
            for value in sorted({ratings.min, ratings.midpoint, ratings.max}):
                checks.append((f"ratings.scales {scale!r}", "rating", {"scale": scale, "value": f"{value:g}"}))
    for label, kind, fields in checks:
        text = markers.format(kind, **fields)
        back = markers.parse(text)
        if back is None or back[0] != kind or any(back[1].get(k) != v for k, v in fields.items()):
            got = "nothing" if back is None else f"{back[0]} {back[1]}"
            raise ProtocolError(f"{where}: {label}: its marker {text!r} (markers.{kind}) would be read back "
                                f"as {got}; change the id or the template.")
