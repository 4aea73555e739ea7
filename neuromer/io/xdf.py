"""XDF (Extensible Data Format, the LabRecorder/LSL container) in and out.

Writing: :class:`XdfWriter` follows the XDF 1.0 specification (https://github.com/sccn/xdf/wiki/
Specifications). It is append-only and flushes and fsyncs every chunk, so a recording cut off by a
crash or power loss still loads up to its last complete chunk. :func:`stream_info_xml` builds the
``<info>`` stream header LSL writes.

Reading: :func:`read_xdf` loads a recording with pyxdf (clock synchronisation, clock-reset
handling, optional dejittering) and puts every stream on one clock, the EEG stream's sample grid,
as a :class:`~neuromer.session.Session`. :func:`xdf_info` summarises the streams of a file.
A truncated file (cut at any byte) loads every complete chunk, with a warning; a corrupt stretch
mid-file is skipped up to the next Boundary chunk; time stamps that jump backwards are repaired
(see :func:`read_xdf` and :mod:`neuromer.io._xdf_recovery`).

Units. LSL EEG is taken to be in microvolts: EEG, EOG, EMG and ECG channels are multiplied by 1e-6
to get MNE's volts, unless the channel's ``unit`` in the stream metadata says volts (``V``,
``volts``: kept) or millivolts (``mV``: x 1e-3). Other channels keep their recorded units.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from .._checks import check_file, check_positive, validate_type
from .._logging import logger
from ..errors import DataFormatError, NeuromerError
from ..session import Session, infer_channel_types, set_standard_montage
from ._xdf_recovery import (_BOUNDARY_UUID, _MAGIC, _TAG_BOUNDARY, _TAG_CLOCK, _TAG_FILE_HEADER, _TAG_FOOTER,
                            _TAG_SAMPLES, _TAG_STREAM_HEADER, Spliced, dejitter, gunzip, join_clock_resets,
                            mend_stray_stamps, scan_chunks)

#: XDF channel formats and their little-endian numpy dtypes (``None``: strings).
CHANNEL_FORMATS = {"int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
                   "float32": "<f4", "double64": "<f8", "string": None}
_MARKER_TYPES = ("markers", "marker", "events", "stringmarker")
_LSL_TYPES = {"eeg": "eeg", "eog": "eog", "emg": "emg", "ecg": "ecg", "ekg": "ecg", "gsr": "gsr",
              "eda": "gsr", "resp": "resp", "respiration": "resp", "ppg": "bio", "bvp": "bio",
              "bio": "bio", "temp": "temperature", "temperature": "temperature", "misc": "misc",
              "stim": "stim", "trigger": "stim"}
_VOLT_SCALES = {"v": 1.0, "volt": 1.0, "volts": 1.0, "mv": 1e-3, "millivolt": 1e-3, "millivolts": 1e-3,
                "nv": 1e-9, "nanovolts": 1e-9}
_GAP_S = 1.0  # interpolating across more than this is worth a warning


# ------------------------------------------------------------------------------------- writing
def _varlen(n: int) -> bytes:
    """The specification's variable-length integer: 1, 4 or 8 bytes after a length byte."""
    if n < 2**8:
        return b"\x01" + struct.pack("<B", n)
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def _add_xml(parent: ET.Element, key: str, value) -> None:
    if isinstance(value, dict):
        node = ET.SubElement(parent, key)
        for k, v in value.items():
            _add_xml(node, str(k), v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _add_xml(parent, key, v)
    else:
        ET.SubElement(parent, key).text = "" if value is None else str(value)


def stream_info_xml(*, name: str, type: str, channel_count: int, nominal_srate: float,
                    channel_format: str, source_id: str = "", uid: str | None = None,
                    hostname: str = "neuromer", created_at: float = 0.0,
                    channels: list[dict] | None = None, desc_extra: dict | None = None) -> str:
    """The ``<info>`` XML of a stream header, laid out as LSL/LabRecorder write it.

    Parameters
    ----------
    name, type : str
        LSL stream name and content type (``"EEG"``, ``"Markers"``...).
    channel_count : int
    nominal_srate : float
        Nominal rate in Hz; 0 for irregular streams (markers).
    channel_format : str
        One of ``int8, int16, int32, int64, float32, double64, string``.
    source_id, uid, hostname : str
        LSL identity; ``uid`` is a random UUID if ``None``.
    created_at : float
        LSL clock time in seconds.
    channels : list of dict | None
        Per channel ``{"label": ..., "type": ..., "unit": ...}`` written to ``desc/channels``.
    desc_extra : dict | None
        More ``desc`` content; nested dicts become nested elements, lists repeated elements.

    Returns
    -------
    str
        The XML text, starting with ``<?xml version="1.0"?>``.
    """
    if channel_format not in CHANNEL_FORMATS:
        raise NeuromerError(f"Invalid value for the 'channel_format' parameter. Allowed values are "
                            f"{', '.join(map(repr, CHANNEL_FORMATS))}, but got {channel_format!r} instead.")
    if channels is not None and len(channels) != channel_count:
        raise NeuromerError(f"Got {len(channels)} channel descriptions for channel_count={channel_count}.")
    info = ET.Element("info")
    for key, value in (("name", name), ("type", type), ("channel_count", int(channel_count)),
                       ("nominal_srate", repr(float(nominal_srate))), ("channel_format", channel_format),
                       ("source_id", source_id), ("version", "1.1000000000000001"),
                       ("created_at", repr(float(created_at))), ("uid", uid or str(uuid.uuid4())),
                       ("session_id", "default"), ("hostname", hostname)):
        ET.SubElement(info, key).text = str(value)
    desc = ET.SubElement(info, "desc")
    if channels:
        _add_xml(desc, "channels", {"channel": [dict(ch) for ch in channels]})
    for key, value in (desc_extra or {}).items():
        _add_xml(desc, str(key), value)
    return '<?xml version="1.0"?>' + ET.tostring(info, encoding="unicode")


class XdfWriter:
    """Append-only XDF 1.0 writer; every chunk is flushed and fsynced as it is written.

    Parameters
    ----------
    path : path-like
        The ``.xdf`` file to create.
    overwrite : bool
        Replace an existing file. Otherwise an existing file raises :class:`DataFormatError`.

    Examples
    --------
    >>> with XdfWriter("rec.xdf") as w:  # doctest: +SKIP
    ...     w.add_stream(1, stream_info_xml(name="EEG", type="EEG", channel_count=2,
    ...                                     nominal_srate=256, channel_format="float32"))
    ...     w.write_samples(1, timestamps, data)          # (n,) seconds, (n, 2) microvolts
    ...     w.write_footer(1, first_timestamp=timestamps[0], last_timestamp=timestamps[-1],
    ...                    sample_count=len(timestamps))
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        validate_type(path, (str, os.PathLike), "path")
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise DataFormatError(f"{self.path}: file exists; refusing to overwrite it.")
        try:
            self._fh = open(self.path, "wb" if overwrite else "xb")
        except FileExistsError:
            raise DataFormatError(f"{self.path}: file exists; refusing to overwrite it.") from None
        self._streams: dict[int, tuple[int, str]] = {}  # id -> (channel_count, channel_format)
        self._fh.write(_MAGIC)
        self._chunk(_TAG_FILE_HEADER, b'<?xml version="1.0"?><info><version>1.0</version></info>')

    def _chunk(self, tag: int, content: bytes) -> None:
        if self._fh is None or self._fh.closed:
            raise NeuromerError(f"{self.path}: the XDF writer is closed.")
        self._fh.write(_varlen(len(content) + 2) + struct.pack("<H", tag) + content)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _stream(self, stream_id: int) -> tuple[int, str]:
        if stream_id not in self._streams:
            raise NeuromerError(f"{self.path}: stream {stream_id} has no header; call add_stream first.")
        return self._streams[stream_id]

    def add_stream(self, stream_id: int, info_xml: str) -> None:
        """Write a StreamHeader chunk; ``info_xml`` as made by :func:`stream_info_xml`."""
        validate_type(stream_id, int, "stream_id")
        if not 0 <= stream_id < 2**32:
            raise NeuromerError(f"Invalid value for the 'stream_id' parameter: {stream_id} is not a uint32.")
        if stream_id in self._streams:
            raise NeuromerError(f"{self.path}: stream {stream_id} already has a header.")
        try:
            root = ET.fromstring(info_xml)
            count, fmt = int(root.findtext("channel_count")), root.findtext("channel_format")
        except (ET.ParseError, TypeError, ValueError):
            raise NeuromerError("info_xml is not a stream <info> with channel_count and channel_format.") from None
        if fmt not in CHANNEL_FORMATS or count < 1:
            raise NeuromerError(f"info_xml has channel_format={fmt!r} and channel_count={count}; "
                                f"expected one of {', '.join(CHANNEL_FORMATS)} and at least 1 channel.")
        self._streams[stream_id] = (count, fmt)
        self._chunk(_TAG_STREAM_HEADER, struct.pack("<I", stream_id) + info_xml.encode("utf-8"))

    def write_samples(self, stream_id: int, timestamps, samples) -> None:
        """Write a Samples chunk; every sample carries its own time stamp.

        Parameters
        ----------
        stream_id : int
        timestamps : array, shape (n,)
            LSL clock times in seconds (float64).
        samples : array, shape (n, n_channels) | (n,) for one channel | list of str
            Numbers are cast to the stream's ``channel_format`` (integers must fit it); string
            streams take strings (n, n_channels) or a list of n strings for one channel. An empty
            batch writes nothing.
        """
        count, fmt = self._stream(stream_id)
        ts = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(ts)):
            raise NeuromerError("Invalid value for the 'timestamps' parameter: contains NaN or infinite values.")
        n = len(ts)
        if fmt == "string":
            values = np.asarray(samples, dtype=object).reshape(n, -1) if n else np.empty((0, count), object)
        else:
            values = np.asarray(samples)
            values = values.reshape(n, -1) if values.ndim == 1 and count == 1 else values
        if values.shape != (n, count):
            raise NeuromerError(f"{self.path}: stream {stream_id} expects samples of shape ({n}, {count}) "
                                f"for {n} time stamps, got {np.shape(samples)}.")
        if n == 0:
            return
        head = struct.pack("<I", stream_id) + _varlen(n)
        if fmt == "string":
            parts = [head]
            for t, row in zip(ts, values):
                parts.append(b"\x08" + struct.pack("<d", t))
                for v in row:
                    raw = str(v).encode("utf-8")
                    parts.append(_varlen(len(raw)) + raw)
            self._chunk(_TAG_SAMPLES, b"".join(parts))
            return
        dtype = np.dtype(CHANNEL_FORMATS[fmt])
        if dtype.kind == "i" and values.dtype != dtype:  # refuse silent wrap-around or truncation
            info = np.iinfo(dtype)
            if not (np.all(np.isfinite(values)) and np.all(values == np.round(values))
                    and values.min() >= info.min and values.max() <= info.max):
                raise NeuromerError(f"{self.path}: stream {stream_id} is {fmt} but got values that are "
                                    "not integers in its range.")
        # one packed record per sample: time stamp length byte (8), double time stamp, values
        rec = np.empty(n, dtype=np.dtype([("len", "u1"), ("t", "<f8"), ("v", dtype, (count,))]))
        rec["len"], rec["t"], rec["v"] = 8, ts, values
        self._chunk(_TAG_SAMPLES, head + rec.tobytes())

    def write_clock_offset(self, stream_id: int, collection_time: float, offset_value: float) -> None:
        """Write a ClockOffset chunk: at ``collection_time`` (s, stream clock) the recorder's clock
        was ``offset_value`` seconds ahead of the stream's."""
        self._stream(stream_id)
        self._chunk(_TAG_CLOCK, struct.pack("<Idd", stream_id, float(collection_time), float(offset_value)))

    def write_boundary(self) -> None:
        """Write a Boundary chunk (lets readers resynchronise after corruption)."""
        self._chunk(_TAG_BOUNDARY, _BOUNDARY_UUID)

    def write_footer(self, stream_id: int, *, first_timestamp: float, last_timestamp: float,
                     sample_count: int, clock_offsets: list[tuple[float, float]] | None = None) -> None:
        """Write a StreamFooter chunk (first/last time stamp in s, sample count, clock offsets)."""
        self._stream(stream_id)
        info = ET.Element("info")
        ET.SubElement(info, "first_timestamp").text = repr(float(first_timestamp))
        ET.SubElement(info, "last_timestamp").text = repr(float(last_timestamp))
        ET.SubElement(info, "sample_count").text = str(int(sample_count))
        offsets = ET.SubElement(info, "clock_offsets")
        for time, value in clock_offsets or []:
            _add_xml(offsets, "offset", {"time": repr(float(time)), "value": repr(float(value))})
        xml = '<?xml version="1.0"?>' + ET.tostring(info, encoding="unicode")
        self._chunk(_TAG_FOOTER, struct.pack("<I", stream_id) + xml.encode("utf-8"))

    def close(self) -> None:
        """Flush, fsync and close the file (no footers are added: the caller writes them)."""
        if self._fh is not None and not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> XdfWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fh is None or self._fh.closed else "open"
        return f"<XdfWriter | {self.path} | {len(self._streams)} streams, {state}>"


# ------------------------------------------------------------------------------------- reading
def _load(path: Path, dejitter_timestamps: bool = False, **kwargs) -> tuple[list[dict], bool]:
    """pyxdf streams of every well-formed chunk of ``path``; ``True`` if the file was cut short.

    Corrupt stretches are skipped up to the next Boundary chunk (warning with the byte counts).
    Regular streams whose time stamps jump backwards are repaired
    (:func:`~neuromer.io._xdf_recovery.join_clock_resets`, ``stream["clock_resets"]``) before the
    optional dejittering (:func:`~neuromer.io._xdf_recovery.dejitter`), which pyxdf would
    otherwise fit across the reset.
    """
    import pyxdf

    if path.name.lower().endswith((".xdfz", ".xdf.gz")):
        data = gunzip(path)
        fh, size = io.BytesIO(data), len(data)
    else:
        fh = open(path, "rb")  # noqa: SIM115 -- closed by pyxdf or below
        size = os.fstat(fh.fileno()).st_size
    try:
        ranges, skipped = scan_chunks(fh, size, path)
    except BaseException:
        fh.close()
        raise
    truncated = bool(skipped) and skipped[-1][0] + skipped[-1][1] == size
    middle = skipped[:-1] if truncated else skipped
    if middle:
        logger.warning("%s: skipped %d byte(s) of corrupt data in %d place(s) (first at byte %d) and "
                       "resynchronised at the next Boundary chunk; samples in those bytes are lost.",
                       path, sum(n for _, n in middle), len(middle), middle[0][0])
    if truncated:
        end = skipped[-1][0]
        logger.warning("%s: the file ends with %d bytes of an incomplete or corrupt chunk (truncated "
                       "recording?); reading the %d complete bytes before it.", path, size - end,
                       sum(b - a for a, b in ranges))
    fh.seek(0)
    # pyxdf reports routine clock-segment bookkeeping as warnings on its own logger and its
    # recoveries as logged exceptions; both would reach the user's terminal through logging's
    # last-resort handler. Our own scan has already said what matters.
    pyxdf_log = logging.getLogger("pyxdf")
    level = pyxdf_log.level
    pyxdf_log.setLevel(logging.CRITICAL)
    try:
        streams, _ = pyxdf.load_xdf(io.BufferedReader(Spliced(fh, ranges)), dejitter_timestamps=False,
                                    **kwargs)
    except Exception as exc:  # pyxdf raises many types on a malformed chunk
        raise DataFormatError(
            f"{path}: pyxdf could not read this XDF file ({type(exc).__name__}: {exc}).") from None
    finally:
        pyxdf_log.setLevel(level)
        fh.close()
    for s in streams:
        _check_shape(s, path)
        if _srate(s) > 0 and not _is_string(s) and _n_samples(s) > 1:
            ts, stray = mend_stray_stamps(np.asarray(s["time_stamps"], dtype=np.float64), _srate(s))
            if len(stray):
                s["time_stamps"], s["stray_samples"] = ts, stray
                logger.warning("%s: stream %r has %d time stamp(s) out of line with their neighbours (corrupt "
                               "bytes?); interpolated from the stamps around them, and the values of those "
                               "samples taken as missing.", path, _text(s, "name"), len(stray))
            if not np.isfinite(ts).all():
                raise DataFormatError(f"{path}: stream {_text(s, 'name')!r} has no finite time stamp.")
            ts, resets = join_clock_resets(ts, _srate(s))
            if resets:
                s["time_stamps"], s["clock_resets"] = ts, resets
                logger.warning("%s: stream %r has time stamps that jump back %d time(s) (first at sample %d, "
                               "%.3f s into the stream, by %.3f s); split at each reset and joined end to end "
                               "at %g Hz (no samples dropped).", path, _text(s, "name"), len(resets),
                               resets[0][0], resets[0][0] / _srate(s), resets[0][1], _srate(s))
            if dejitter_timestamps:
                s["time_stamps"] = dejitter(np.asarray(s["time_stamps"], dtype=np.float64), _srate(s))
    return streams, truncated


def _check_shape(stream: dict, path: Path) -> None:
    """A one-line error for a stream whose samples do not match its declared channel count."""
    n = _n_samples(stream)
    if not n or _is_string(stream):
        return
    shape = np.shape(stream["time_series"])
    declared = _text(stream, "channel_count", "?")
    if len(shape) != 2 or shape[0] != n or shape[1] < 1 or str(shape[1]) != declared.strip():
        raise DataFormatError(f"{path}: stream {_text(stream, 'name')!r} (id {stream['info'].get('stream_id')}) "
                              f"declares channel_count {declared} but its {n} samples have shape {shape}.")


def _text(stream: dict, key: str, default: str = "") -> str:
    value = stream["info"].get(key, [default])
    value = value[0] if isinstance(value, list) and value else value
    return default if value is None else str(value)


def _n_samples(stream: dict) -> int:
    return len(stream["time_stamps"])


def _is_string(stream: dict) -> bool:
    return _text(stream, "channel_format") == "string"


def _is_marker(stream: dict) -> bool:
    return _is_string(stream) or _text(stream, "type").lower() in _MARKER_TYPES


def _srate(stream: dict) -> float:
    try:
        return float(_text(stream, "nominal_srate", "0"))
    except ValueError:
        return 0.0


def xdf_info(path: str | os.PathLike) -> pd.DataFrame:
    """One row per stream of an XDF file (for ``neuromer info``).

    Returns
    -------
    DataFrame
        ``stream_id, name, type, channel_count, nominal_srate, channel_format, n_samples,
        duration_s, first_ts, last_ts, source_id, hostname`` (time stamps in seconds,
        clock-synchronised, not dejittered; NaN for empty streams). ``stream_id`` and
        ``source_id`` tell streams with the same name apart (``read_xdf(streams=...)``).
    """
    path = check_file(path)
    streams, _ = _load(path, synchronize_clocks=True, handle_clock_resets=True, dejitter_timestamps=False)
    rows = []
    for s in streams:
        ts = np.asarray(s["time_stamps"], dtype=float)
        first, last = (float(ts.min()), float(ts.max())) if len(ts) else (np.nan, np.nan)
        rows.append({"stream_id": int(s["info"]["stream_id"]), "name": _text(s, "name"),
                     "type": _text(s, "type"), "channel_count": int(_text(s, "channel_count", "0")),
                     "nominal_srate": _srate(s), "channel_format": _text(s, "channel_format"),
                     "n_samples": len(ts), "duration_s": last - first, "first_ts": first, "last_ts": last,
                     "source_id": _text(s, "source_id"), "hostname": _text(s, "hostname")})
    return pd.DataFrame(rows, columns=["stream_id", "name", "type", "channel_count", "nominal_srate",
                                       "channel_format", "n_samples", "duration_s", "first_ts", "last_ts",
                                       "source_id", "hostname"])


def _matches(stream: dict, key: str) -> bool:
    """``key`` is the stream's name, type, source_id or uid (case-insensitive), or ``id=N``."""
    key = key.strip().lower()
    if key.startswith("id="):
        return key[3:].strip() == str(stream["info"].get("stream_id"))
    return key in {_text(stream, k).lower() for k in ("name", "type", "source_id", "uid")} - {""}


def _describe(stream: dict) -> str:
    """``'name' (id 3, host lab-pc, source_id amp-1, 12800 samples)``: enough to tell twins apart."""
    parts = [f"id {stream['info'].get('stream_id')}"]
    for key in ("hostname", "source_id"):
        if _text(stream, key):
            parts.append(f"{key} {_text(stream, key)}")
    return f"{_text(stream, 'name')!r} ({', '.join(parts)}, {_n_samples(stream)} samples)"


def _drop_duplicates(streams: list[dict], path: Path, chosen: list[dict]) -> list[dict]:
    """One stream per (name, type): the one with most samples (then the lowest stream id).

    Two streams with the same name and type (an amplifier recorded twice, a sender restarted
    under a new uid) are never merged: the others are left out with a warning that names them
    all and says how to choose another (``eeg_stream="id=N"``). A stream in ``chosen`` (named
    by a selector that matches it alone) wins its group without a warning. Marker streams are
    exempt: their markers only add up, and a marker sent twice is reported by the trial parser.
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in streams:
        if _is_marker(s):
            groups[("", f"marker-{id(s)}")] = [s]
            continue
        groups.setdefault((_text(s, "name").lower(), _text(s, "type").lower()), []).append(s)
    keep = []
    for twins in groups.values():
        picked = [s for s in twins if any(s is c for c in chosen)]
        best = picked[0] if picked else min(twins, key=lambda s: (-_n_samples(s), int(s["info"].get("stream_id") or 0)))
        keep.append(best)
        if picked:
            logger.info("%s: using stream %s as selected; leaving out its namesake(s) %s.", path, _describe(best),
                        ", ".join(_describe(s) for s in twins if s is not best) or "none")
        elif len(twins) > 1:
            others = [s for s in twins if s is not best]
            logger.warning("%s: %d streams have the same name and type %r; using %s (most samples) and leaving "
                           "out %s. To use another, select it by id (read_xdf(..., eeg_stream='id=N'), or "
                           "streams={%r: 'id=N'}; on the command line --xdf-stream %s=id=N).",
                           path, len(twins), _text(best, "type"), _describe(best),
                           ", ".join(_describe(s) for s in others), _text(best, "name"), _text(best, "name"))
    return [s for s in streams if any(s is k for k in keep)]


def _lsl_channels(stream: dict) -> list[dict]:
    """``desc/channels/channel`` entries as ``{"label", "type", "unit"}`` (empty strings if absent)."""
    desc = stream["info"].get("desc", [None])
    desc = desc[0] if isinstance(desc, list) and desc else desc
    try:
        chans = desc["channels"][0]["channel"]
    except (TypeError, KeyError, IndexError):
        return []
    out = []
    for ch in chans:
        ch = ch if isinstance(ch, dict) else {}
        get = lambda k: str((ch.get(k) or [""])[0] or "").strip()  # noqa: E731
        out.append({"label": get("label"), "type": get("type"), "unit": get("unit")})
    return out


def _protocol_spec(protocol, stream: dict):
    for spec in getattr(protocol, "streams", ()) or ():
        if spec.type.lower() == _text(stream, "type").lower() and (
                not spec.name or spec.name.lower() == _text(stream, "name").lower()):
            return spec
    return None


def _channels(stream: dict, protocol, path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Names, MNE types and scale factors (to MNE units) of a numeric stream's channels."""
    name = _text(stream, "name") or f"stream{stream['info']['stream_id']}"
    n = np.asarray(stream["time_series"]).shape[1]
    meta = _lsl_channels(stream)
    meta = meta if len(meta) == n else [{"label": "", "type": "", "unit": ""}] * n
    names = [m["label"] or f"{name}_{i}" for i, m in enumerate(meta)]
    inferred = infer_channel_types(names)
    stream_kind = _LSL_TYPES.get(_text(stream, "type").lower(), "misc")
    types = [_LSL_TYPES.get(m["type"].lower()) or (k if k != "misc" else stream_kind)
             for m, k in zip(meta, inferred)]
    spec = _protocol_spec(protocol, stream)
    if spec is not None:
        if spec.channels and len(spec.channels) != n:
            logger.warning("%s: stream %r has %d channels but the protocol lists %d; using the stream's "
                           "own channel names.", path, name, n, len(spec.channels))
        elif spec.channels:
            names, types = list(spec.channels), list(spec.kinds)
        elif len(spec.kinds) == 1:
            types = [spec.kinds[0]] * n
    units = [m["unit"].lower().replace("µ", "u").replace("μ", "u") for m in meta]
    scales = np.array([_VOLT_SCALES.get(u, 1e-6) if t in ("eeg", "eog", "emg", "ecg") else 1.0
                       for t, u in zip(types, units)])
    return names, types, scales


def _grid_rate(ts: np.ndarray, nominal: float) -> float:
    """Mean sampling rate of a regular stream, ignoring breaks; the nominal rate if within 0.1 %."""
    d = np.diff(ts)
    d = d[d > 0]
    if len(d) == 0:
        return nominal
    typical = np.median(d)
    d = d[d < 5 * typical]
    rate = len(d) / d.sum()
    return nominal if nominal > 0 and abs(rate / nominal - 1) < 1e-3 else float(rate)


def _marker_table(stream: dict) -> tuple[np.ndarray, list[str]]:
    ts = np.asarray(stream["time_stamps"], dtype=float)
    if _is_string(stream):
        texts = ["/".join(str(v) for v in row) for row in stream["time_series"]]
    else:
        vals = np.asarray(stream["time_series"])[:, 0]
        texts = [f"{v:g}" if np.issubdtype(vals.dtype, np.floating) else str(v) for v in vals]
    return ts, texts


def read_xdf(path: str | os.PathLike, protocol=None, *, eeg_stream: str | None = None,
             marker_stream: str | None = None, physio_streams: list[str] | None = None,
             sfreq: float | None = None, subject: str = "", session: str = "",
             dejitter: bool = True, streams: Mapping[str, str] | None = None) -> Session:
    """Read an XDF recording into a :class:`~neuromer.session.Session` on one clock.

    Streams are chosen by a name or type (case-insensitive). The EEG stream's samples make the
    session's grid; every other numeric stream is linearly interpolated onto the EEG time stamps
    (edge values held beyond its own span); markers become annotations.

    Parameters
    ----------
    path : path-like
        ``.xdf`` (or gzipped ``.xdfz``) file. A truncated file loads its complete chunks (warning).
    protocol : Protocol | path-like | None
        Names and types channels of streams its ``streams`` describe, picks the EEG stream by its
        EEG spec, and turns markers into ``session.trials``. A path (or shipped name such as
        ``"deap"``) is read with :func:`~neuromer.protocol.read_protocol` (stimulus audio files
        need not exist).
    eeg_stream : str | None
        A stream's name, type, ``source_id`` or ``uid``, or ``"id=N"`` for the stream with XDF
        stream id N (``neuromer info`` lists them). This and the two selectors below take the same
        keys. Default: the highest-rate numeric stream of type ``EEG`` (else of any type) with
        samples.
    marker_stream : str | None
        Default: every string stream and every stream of type ``Markers`` with samples.
    physio_streams : list of str | None
        Default: every other regular numeric stream with samples, except audio streams (type
        ``Audio``: a recorded sound would alias on the EEG grid; :mod:`neuromer.onsets` reads it).
    sfreq : float | None
        Resample the session to this rate (Hz). Default: the EEG stream's effective rate (its
        nominal rate when the two agree within 0.1 %).
    subject, session : str
        Identifiers stored on the Session.
    dejitter : bool
        Let pyxdf regularise the time stamps of regular streams (clock synchronisation and
        clock-reset handling are always on).
    streams : dict of str to str | None
        ``{name: selector}``: of the streams named ``name`` (case-insensitive), use only the one
        ``selector`` matches (``"id=N"``, a ``source_id`` or a ``uid``) and leave out its
        namesakes, whatever role the stream has (EEG, physio or markers). Settles duplicate
        streams without changing which streams are used for what (``eeg_stream`` and friends
        choose roles). A selector that matches none, or more than one, of the streams so named
        is an error. On the command line: ``--xdf-stream NAME=SELECTOR``.

    Notes
    -----
    Damaged recordings load as much as can be trusted, with a warning for each repair:

    - a corrupt stretch of bytes mid-file is skipped up to the next Boundary chunk;
    - a regular stream whose time stamps jump backwards (a reset of the sender's clock) is split
      at the reset and its parts joined end to end at the nominal rate: no sample is dropped or
      reordered (``provenance["clock_resets"]``);
    - two signal streams with the same name and type are never merged: the one with most samples
      is used (ties: the lowest stream id), the warning names the others; select another with
      ``eeg_stream="id=N"`` or ``streams={name: "id=N"}`` (marker streams are all used, as before,
      unless ``streams`` names one).

    Returns
    -------
    Session
        ``raw`` in MNE units (EEG/EOG/EMG/ECG in volts, converted from LSL microvolts unless a
        channel's unit says otherwise; see the module notes), ``raw.annotations`` from markers
        (onsets in seconds from the first EEG sample), ``provenance`` with the source file, mean
        clock offsets per stream and a ``read_xdf`` step.

    Raises
    ------
    DataFormatError
        Not an XDF file, truncated inside its header, no numeric stream with samples, a stream
        whose samples do not match its declared channel count, a requested stream that is not
        in the file, or a ``streams`` selector that does not pick exactly one stream of its name.
    """
    path = check_file(path)
    from ..protocol import as_protocol

    protocol = as_protocol(protocol)
    if sfreq is not None:
        sfreq = check_positive(sfreq, "sfreq")
    choice = _check_choice(streams)
    loaded, truncated = _load(path, synchronize_clocks=True, handle_clock_resets=True,
                              dejitter_timestamps=bool(dejitter))
    eeg, physio, markers = _select(loaded, path, protocol, eeg_stream, marker_stream, physio_streams,
                                   warn_footers=not truncated, choice=choice)
    raw, eeg_ts = _signals_on_eeg_grid(eeg, physio, protocol, path)
    raw.set_annotations(_annotations(markers, eeg_ts, raw.info["sfreq"], path))
    if sfreq is not None and abs(sfreq - raw.info["sfreq"]) > 1e-9:
        raw.resample(sfreq, verbose="error")  # annotations keep their times

    offsets = {}
    for s in [eeg, *physio, *markers]:
        values = np.asarray(s.get("clock_values", []), dtype=float)
        offsets[_text(s, "name")] = {"mean_offset_s": float(values.mean()) if len(values) else None,
                                     "n": int(len(values))}
    provenance = {"source_files": [str(path)], "clock_offsets": offsets, "steps": []}
    resets = {_text(s, "name"): s["clock_resets"] for s in [eeg, *physio] if s.get("clock_resets")}
    if resets:
        provenance["clock_resets"] = resets
    out = Session(raw, protocol=protocol, subject=subject, session=session, provenance=provenance)
    out.add_step("read_xdf", eeg_stream=_text(eeg, "name"), physio_streams=[_text(s, "name") for s in physio],
                 marker_streams=[_text(s, "name") for s in markers], sfreq=out.sfreq, dejitter=bool(dejitter),
                 truncated=truncated, **({"streams": choice} if choice else {}))
    if protocol is not None:
        from ..epochs import trials_from_markers

        trials, dropped = trials_from_markers(out.markers, protocol, source=str(path))
        out.trials = trials.reset_index(drop=True)
        out.provenance["dropped_trials"] = dropped.to_dict("records")
    logger.info("read %s: %r", path, out)
    return out


def _check_choice(streams) -> dict[str, str]:
    """``read_xdf(streams=...)`` as ``{name: selector}`` of non-empty texts."""
    if streams is None:
        return {}
    if not isinstance(streams, Mapping):
        raise NeuromerError(f"streams must be a mapping {{name: selector}}, got {streams!r}.")
    for name, selector in streams.items():
        if not isinstance(name, str) or not isinstance(selector, str) or not name.strip() or not selector.strip():
            raise NeuromerError(f"streams: {name!r}={selector!r}: stream name and selector must be non-empty "
                                "text (selector: id=N, a source_id or a uid).")
    return dict(streams)


def parse_stream_choice(items: list[str] | None) -> dict[str, str]:
    """``["NAME=SELECTOR", ...]`` (``--xdf-stream`` on the command line) as ``{name: selector}``.

    The first ``=`` ends the name: ``amp=id=3`` is the stream named ``amp`` with XDF id 3.

    >>> parse_stream_choice(["amp=id=3", "GSR=shimmer-2"])
    {'amp': 'id=3', 'GSR': 'shimmer-2'}
    """
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, selector = str(item).partition("=")
        if not sep or not name.strip() or not selector.strip():
            raise NeuromerError(f"--xdf-stream {item!r}: expected NAME=SELECTOR, e.g. --xdf-stream "
                                "'EEG=id=3' (selector: id=N, a source_id or a uid; `neuromer info FILE.xdf` "
                                "lists them).")
        if name.strip() in out:
            raise NeuromerError(f"--xdf-stream {item!r}: stream {name.strip()!r} is chosen twice.")
        out[name.strip()] = selector.strip()
    return out


def _apply_choice(full: list[dict], choice: dict[str, str], path: Path) -> tuple[list[dict], list[dict]]:
    """Leave out the namesakes of each chosen stream; returns (streams, chosen streams)."""
    chosen = []
    for name, selector in choice.items():
        named = [s for s in full if _text(s, "name").lower() == name.strip().lower()]
        if not named:
            available = ", ".join(f"{_text(s, 'name')!r}" for s in full) or "none"
            raise DataFormatError(f"{path}: stream choice {name}={selector}: no stream with samples is named "
                                  f"{name!r} (streams with samples: {available}).")
        found = [s for s in named if _matches(s, selector)]
        if len(found) != 1:
            how = "matches none" if not found else f"matches {len(found)}"
            raise DataFormatError(f"{path}: stream choice {name}={selector} {how} of the streams named {name!r}: "
                                  f"{', '.join(_describe(s) for s in named)}; select one by id=N, source_id "
                                  "or uid.")
        chosen.append(found[0])
        if len(named) > 1:
            logger.info("%s: using stream %s as chosen; leaving out %s.", path, _describe(found[0]),
                        ", ".join(_describe(s) for s in named if s is not found[0]))
        full = [s for s in full if s is found[0] or all(s is not n for n in named)]
    return full, chosen


def _select(streams: list[dict], path: Path, protocol, eeg_stream, marker_stream, physio_streams, *,
            warn_footers: bool, choice: dict[str, str] | None = None) -> tuple[dict, list[dict], list[dict]]:
    """The EEG stream, the physio streams and the marker streams to use (see :func:`read_xdf`)."""
    full = [s for s in streams if _n_samples(s)]
    for s in streams:
        if not _n_samples(s):
            logger.info("%s: skipping empty stream %r.", path, _text(s, "name"))
    full, chosen = _apply_choice(full, choice or {}, path)
    # a selector that names exactly one stream (by id, source_id or uid) settles its twins
    keys = [k for k in (eeg_stream, marker_stream, *(physio_streams or ())) if k]
    hits = [[s for s in full if _matches(s, k)] for k in keys]
    full = _drop_duplicates(full, path, chosen=chosen + [h[0] for h in hits if len(h) == 1])
    no_footer = [_text(s, "name") for s in full if "footer" not in s]
    if no_footer and warn_footers:
        logger.warning("%s: stream(s) %s have no footer; the recording was probably cut short (reading "
                       "what was written).", path, ", ".join(map(repr, no_footer)))
    numeric = [s for s in full if not _is_string(s)]
    signals = [s for s in numeric if _text(s, "type").lower() not in _MARKER_TYPES]
    available = ", ".join(f"{_text(s, 'name')!r} ({_text(s, 'type')})" for s in full) or "none"

    def pick(key: str, pool: list[dict]) -> list[dict]:
        found = [s for s in pool if _matches(s, key)]
        if not found:
            raise DataFormatError(f"{path}: no stream with samples named or typed {key!r} "
                                  f"(streams with samples: {available}).")
        return found

    def by_rate(pool: list[dict]) -> dict:
        return max(pool, key=lambda s: (_srate(s), _n_samples(s)))

    specs = list(getattr(protocol, "streams", ()) or ())
    if eeg_stream is not None:
        eeg = by_rate(pick(eeg_stream, numeric))
    else:
        eeg_specs = [sp for sp in specs if sp.type.lower() == "eeg"]
        pool = [s for s in signals if any(_protocol_spec(protocol, s) is sp for sp in eeg_specs)]
        pool = pool or [s for s in signals if _text(s, "type").lower() == "eeg"] or signals
        if not pool:
            raise DataFormatError(f"{path}: no EEG-like numeric stream with samples "
                                  f"(streams with samples: {available}).")
        eeg = by_rate(pool)
    if marker_stream is not None:
        markers = [s for s in pick(marker_stream, full) if s is not eeg]
    else:
        markers = [s for s in full if _is_marker(s) and s is not eeg]
    physio: list[dict] = []
    if physio_streams is not None:
        for key in physio_streams:
            physio += [s for s in pick(key, numeric) if s is not eeg and all(s is not p for p in physio)]
    else:
        # a recorded sound (type Audio) would alias on the EEG grid; neuromer.onsets reads it as it is
        physio = [s for s in signals if s is not eeg and _srate(s) > 0 and all(s is not m for m in markers)
                  and _text(s, "type").lower() != "audio"]
    used = [eeg, *physio, *markers]
    for spec in specs:
        if spec.required and not any(_protocol_spec(protocol, s) is spec for s in used):
            logger.warning("%s: the protocol expects a stream of type %r%s, which the file does not have "
                           "(with samples).", path, spec.type, f" named {spec.name!r}" if spec.name else "")
    return eeg, physio, markers


def _signals_on_eeg_grid(eeg: dict, physio: list[dict], protocol,
                         path: Path) -> tuple[mne.io.RawArray, np.ndarray]:
    """A RawArray on the EEG stream's samples (physio interpolated onto them) and the EEG time stamps."""
    eeg_ts = np.asarray(eeg["time_stamps"], dtype=float)
    order = np.argsort(eeg_ts, kind="stable")
    eeg_ts = eeg_ts[order]
    rate = _grid_rate(eeg_ts, _srate(eeg))
    if not rate > 0:
        raise DataFormatError(f"{path}: cannot tell the sampling rate of EEG stream {_text(eeg, 'name')!r}.")
    n_gaps = int(np.sum(np.diff(eeg_ts) > max(_GAP_S, 5 / rate)))
    if n_gaps:
        logger.warning("%s: EEG stream %r has %d break(s) longer than %g s; its samples are joined end "
                       "to end.", path, _text(eeg, "name"), n_gaps, _GAP_S)
    names, types, blocks = [], [], []
    for s in [eeg, *physio]:
        ch_names, ch_types, scales = _channels(s, protocol, path)
        values = np.asarray(s["time_series"], dtype=np.float64)
        # a sample with a corrupt time stamp is suspect too: NaN in the EEG (then handled as a bad
        # sample, see neuromer.badsamples), left out of a stream interpolated onto the EEG grid
        stray = np.zeros(len(values), bool)
        stray[s.get("stray_samples", [])] = True
        if s is eeg:
            values = np.where(stray[:, None], np.nan, values)[order]
        else:
            ts = np.asarray(s["time_stamps"], dtype=float)[~stray]
            values = values[~stray]
            idx = np.argsort(ts, kind="stable")
            ts, values = ts[idx], values[idx]
            gap = max(ts[0] - eeg_ts[0], eeg_ts[-1] - ts[-1], np.max(np.diff(ts), initial=0.0))
            if gap > _GAP_S:
                logger.warning("%s: stream %r leaves gaps of up to %.1f s in the EEG time span; "
                               "interpolated across them and held its edge values.", path, _text(s, "name"), gap)
            values = np.column_stack([np.interp(eeg_ts, ts, values[:, j]) for j in range(values.shape[1])])
        names += ch_names
        types += ch_types
        blocks.append(values * scales)
    seen: dict[str, int] = {}
    for i, nm in enumerate(names):  # MNE needs unique names; later duplicates get a suffix
        seen[nm] = seen.get(nm, 0) + 1
        if seen[nm] > 1:
            names[i] = f"{nm}-{seen[nm]}"
    raw = mne.io.RawArray(np.concatenate(blocks, axis=1).T, mne.create_info(names, rate, types), verbose="error")
    return set_standard_montage(raw), eeg_ts


def _annotations(markers: list[dict], eeg_ts: np.ndarray, rate: float, path: Path) -> mne.Annotations:
    """Markers as annotations, onsets in s from the first EEG sample (mapped through its time stamps)."""
    n = len(eeg_ts)
    onsets, texts, outside = [], [], 0
    for s in markers:
        m_ts, m_text = _marker_table(s)
        pos = np.interp(m_ts, eeg_ts, np.arange(n, dtype=float))  # fractional EEG sample
        pos = np.where(m_ts > eeg_ts[-1], n - 1 + (m_ts - eeg_ts[-1]) * rate, pos)
        pos = np.where(m_ts < eeg_ts[0], (m_ts - eeg_ts[0]) * rate, pos)
        keep = (pos >= -0.5) & (pos < n - 0.5)  # nearest sample inside the recording
        outside += int(np.sum(~keep))
        onsets += list(np.clip(pos[keep], 0, None) / rate)
        texts += [t for t, k in zip(m_text, keep) if k]
    if outside:
        logger.warning("%s: dropped %d marker(s) outside the EEG recording.", path, outside)
    idx = np.argsort(onsets, kind="stable")
    return mne.Annotations(np.asarray(onsets, float)[idx], 0.0, [texts[i] for i in idx])
