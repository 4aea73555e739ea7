"""Recovering what can be trusted from damaged XDF files (used by :mod:`neuromer.io.xdf`).

Byte level: :func:`scan_chunks` walks the chunks of a file, checks that each is well formed and,
after a corrupt stretch, resynchronises at the next Boundary chunk (XDF 1.0 specification,
https://github.com/sccn/xdf/wiki/Specifications); :class:`Spliced` then shows pyxdf only the good
byte ranges. Time level: :func:`join_clock_resets` repairs time stamps that jump backwards and
:func:`dejitter` regularises time stamps segment by segment, as pyxdf does.
"""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

_MAGIC = b"XDF:"
_TAG_FILE_HEADER, _TAG_STREAM_HEADER, _TAG_SAMPLES, _TAG_CLOCK, _TAG_BOUNDARY, _TAG_FOOTER = range(1, 7)
#: the Boundary chunk's fixed UUID from the specification
_BOUNDARY_UUID = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")


class Spliced(io.RawIOBase):
    """A read-only view of byte ranges of a binary file, joined end to end.

    Parameters
    ----------
    fh : binary file
    ranges : list of (start, stop)
        Byte ranges of ``fh`` (stop excluded), in file order.
    """

    def __init__(self, fh, ranges: list[tuple[int, int]]) -> None:
        self._fh, self._ranges, self._pos = fh, list(ranges), 0
        self._size = sum(stop - start for start, stop in self._ranges)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        return self._pos

    def readinto(self, buf) -> int:
        view, done, virtual = memoryview(buf), 0, 0
        for start, stop in self._ranges:
            length = stop - start
            if self._pos < virtual + length and done < len(view):
                offset = self._pos - virtual
                n = min(len(view) - done, length - offset)
                self._fh.seek(start + offset)
                got = self._fh.readinto(view[done:done + n])
                done += got
                self._pos += got
                if got < n:
                    break
            virtual += length
        return done

    def close(self) -> None:
        self._fh.close()
        super().close()


#: the 20 bytes of a whole Boundary chunk: 1-byte length (18), tag 5, the UUID
_BOUNDARY_CHUNK = b"\x01\x12" + struct.pack("<H", _TAG_BOUNDARY) + _BOUNDARY_UUID


#: the channel formats of the specification
_FORMATS = ("int8", "int16", "int32", "int64", "float32", "double64", "string")


_ITEM_BYTES = {"int8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4, "double64": 8}


def _stream_header_problem(content: bytes) -> tuple[str, str, int, str]:
    """Name, what makes its samples unreadable ('' if nothing), channel count and format of a
    StreamHeader chunk's stream."""
    try:
        root = ET.fromstring(content[4:].decode("utf-8", "replace"))
    except ET.ParseError:
        return "", "its header is not valid XML", 0, ""
    name = (root.findtext("name") or "").strip()
    count, fmt = (root.findtext("channel_count") or "").strip(), (root.findtext("channel_format") or "").strip()
    if not count.isdigit() or int(count) < 1:
        return name, f"its header declares channel_count {count or '(missing)'}", 0, fmt
    if fmt not in _FORMATS:
        return (name, f"its header declares channel_format {fmt or '(missing)'!r} (expected one of "
                f"{', '.join(_FORMATS)})", int(count), fmt)
    return name, "", int(count), fmt


def _samples_fit(content: bytes, count: int, fmt: str) -> bool:
    """Whether a Samples chunk's content (after its tag) is laid out exactly as its stream's header
    says: a sample count, then per sample a time stamp length of 0 or 8 bytes, the time stamp and
    the values. Bytes inserted into or cut from a chunk shift this layout, so the values read from
    it would be garbage."""
    if len(content) < 6 or content[4] not in (1, 4, 8) or len(content) < 5 + content[4]:
        return False
    nbn = content[4]
    n = int.from_bytes(content[5:5 + nbn], "little")
    body = memoryview(content)[5 + nbn:]
    if fmt != "string":
        values = count * _ITEM_BYTES[fmt]
        full = 9 + values  # every sample with its 8-byte time stamp: LabRecorder's usual layout
        if len(body) == n * full:
            return bool(n == 0 or (np.frombuffer(body, np.uint8)[::full] == 8).all())
        if not n * (1 + values) <= len(body) <= n * full:
            return False
    pos = 0
    for _ in range(n):  # the general layout, sample by sample
        if pos >= len(body) or body[pos] not in (0, 8):
            return False
        pos += 1 + body[pos]
        if fmt != "string":
            pos += values
            continue
        for _ in range(count):
            if pos >= len(body) or body[pos] not in (1, 4, 8):
                return False
            nb = body[pos]
            pos += 1 + nb + int.from_bytes(body[pos + 1:pos + 1 + nb], "little")
    return pos == len(body)


def scan_chunks(fh, size: int, path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The well-formed chunks of an XDF file as byte ranges, resynchronising at Boundary chunks.

    A chunk is well formed when its length field, tag and stream id make sense (a Samples,
    ClockOffset or StreamFooter chunk must follow its stream's header), it ends inside the file,
    and, for a Samples chunk, its content is laid out as the stream's header says. A Samples chunk
    that is not is skipped alone; after any other malformed chunk the scan jumps to the next
    Boundary chunk (LabRecorder writes one every few seconds for this purpose); with none left,
    the rest of the file is dropped. A Samples chunk that holds a whole Boundary chunk has run
    over the chunks after it (bytes were lost inside it): it is skipped up to that Boundary.
    XDF has no checksums, so damage that keeps the layout cannot be detected: a flipped bit in a
    sample value, or lost bytes that leave the framing consistent, which can change the values of
    the last sample of a chunk.

    Returns
    -------
    ranges : list of (start, stop)
        Byte ranges to read (the magic and file header first), stop excluded.
    skipped : list of (start, n_bytes)
        Corrupt stretches that were skipped; one that runs to the end of the file is a
        truncation (or a corrupt tail).

    Raises
    ------
    DataFormatError
        Not an XDF file, truncated inside its file header, or a stream that carries samples but
        whose header declares no channels, an unknown channel format or is not XML.
    """
    head = fh.read(4)
    if head != _MAGIC:
        if size == 0:
            raise DataFormatError(f"{path}: empty file; expected an XDF recording.")
        if len(head) < 4 and _MAGIC.startswith(head):
            raise DataFormatError(f"{path}: XDF file truncated inside its file header.")
        raise DataFormatError(f"{path}: not an XDF file (it does not start with 'XDF:').")
    headers: dict[int, tuple[str, str, int, str]] = {}  # stream id -> (name, problem, count, format)
    ranges: list[tuple[int, int]] = []
    skipped: list[tuple[int, int]] = []
    pos, start, first = 4, 0, True
    while pos < size:
        fh.seek(pos)
        hdr = fh.read(15)
        nb = hdr[0]
        ok = nb in (1, 4, 8) and len(hdr) >= 3 + nb
        if ok:
            length = int.from_bytes(hdr[1:1 + nb], "little")
            tag = int.from_bytes(hdr[1 + nb:3 + nb], "little")
            minimum = {_TAG_FILE_HEADER: 2, _TAG_BOUNDARY: 18, _TAG_CLOCK: 22}.get(tag, 6)
            ok = 1 <= tag <= 6 and length >= minimum and pos + 1 + nb + length <= size
        if ok and first and tag != _TAG_FILE_HEADER:
            raise DataFormatError(f"{path}: not an XDF file (no file header chunk after 'XDF:').")
        if ok and tag in (_TAG_SAMPLES, _TAG_CLOCK, _TAG_FOOTER):
            sid = int.from_bytes(hdr[3 + nb:7 + nb], "little")
            ok = sid in headers
            if ok and tag == _TAG_SAMPLES and headers[sid][1]:
                name, problem, _, _ = headers[sid]
                label = f"{name!r} (id {sid})" if name else f"id {sid}"
                raise DataFormatError(f"{path}: stream {label} carries samples but {problem}; the file is "
                                      "malformed.")
            if ok and tag == _TAG_SAMPLES:
                fh.seek(pos + 3 + nb)
                content = fh.read(length - 2)
                inside = content.find(_BOUNDARY_CHUNK)
                if inside >= 0:
                    # bytes were lost and this chunk's length now runs over the next chunks: the
                    # Boundary chunk inside it (20 bytes no sample would hold) is where to resync
                    ranges.append((start, pos))
                    skipped.append((pos, 3 + nb + inside))
                    pos = start = pos + 3 + nb + inside
                    continue
                if not _samples_fit(content, *headers[sid][2:]):
                    # a chunk whose bytes were shifted: its values would be garbage; the chunk after
                    # it may still be intact (the length field held), else we resync below
                    ranges.append((start, pos))
                    skipped.append((pos, 1 + nb + length))
                    pos = start = pos + 1 + nb + length
                    continue
        if ok and tag == _TAG_STREAM_HEADER:
            fh.seek(pos + 3 + nb)
            headers[int.from_bytes(hdr[3 + nb:7 + nb], "little")] = _stream_header_problem(fh.read(length - 2))
        if ok:
            first = False
            pos += 1 + nb + length
            continue
        if first:
            raise DataFormatError(f"{path}: XDF file truncated inside its file header.")
        ranges.append((start, pos))
        resync = _find(fh, _BOUNDARY_CHUNK, pos + 1, size)
        skipped.append((pos, (resync if resync is not None else size) - pos))
        if resync is None:
            return ranges, skipped
        pos = start = resync
    if first:
        raise DataFormatError(f"{path}: XDF file truncated inside its file header.")
    ranges.append((start, pos))
    return ranges, skipped


def _find(fh, needle: bytes, begin: int, size: int, block: int = 1 << 20) -> int | None:
    """Byte offset of the first ``needle`` at or after ``begin`` in ``fh``, or None."""
    pos = begin
    while pos < size:
        fh.seek(pos)
        data = fh.read(block + len(needle) - 1)
        hit = data.find(needle)
        if hit >= 0:
            return pos + hit
        pos += block
    return None


def gunzip(path: Path) -> bytes:
    """Decompress a gzip file, keeping what precedes a truncation or corruption."""
    rest, out = path.read_bytes(), []
    while rest:
        dec = zlib.decompressobj(wbits=31)  # 31: gzip container
        try:
            out.append(dec.decompress(rest))
        except zlib.error:
            break
        if not dec.eof:
            break
        rest = dec.unused_data
    return b"".join(out)


#: a regular stream's time stamp stepping back by more than this many sample periods (and at
#: least _RESET_MIN_S) is a clock reset, not jitter
_RESET_PERIODS = 5
_RESET_MIN_S = 0.01


def mend_stray_stamps(ts: np.ndarray, srate: float) -> tuple[np.ndarray, np.ndarray]:
    """Replace time stamps that are out of line with their neighbours (a flipped bit, NaN).

    A regular stream's stamp is stray when it is not finite, or when it lies more than
    ``_RESET_PERIODS`` sample periods (at least ``_RESET_MIN_S``) from the median of the five
    stamps around it. A step (a clock reset or a dropout) moves that median with it, so only
    isolated stamps, up to two in a row, are stray. They are interpolated from the good stamps
    around them (extrapolated one nominal period per sample at either end).

    Parameters
    ----------
    ts : array, shape (n,)
        Time stamps in s, in recorded order.
    srate : float
        Nominal rate in Hz (> 0).

    Returns
    -------
    ts : array, shape (n,)
        The mended stamps (the input itself when none is stray).
    stray : array of int
        Indices of the stray stamps (their samples' values are suspect too).
    """
    finite = np.isfinite(ts)
    none = np.zeros(0, dtype=int)
    if not finite.any():
        return ts, none
    index = np.arange(len(ts))
    filled = ts if finite.all() else np.interp(index, index[finite], ts[finite])
    tol = max(_RESET_PERIODS / srate, _RESET_MIN_S)
    with np.errstate(invalid="ignore", over="ignore"):
        # only a stamp next to an unusual step can be stray: look at those alone
        big = ~(np.abs(np.diff(filled)) <= tol)
        near = ~finite
        near[:-1] |= big
        near[1:] |= big
        candidates = np.flatnonzero(near)
        if not len(candidates):
            return ts, none
        padded = np.pad(filled, 2, mode="edge")
        windows = padded[candidates[:, None] + np.arange(5)]  # the 5 stamps around each candidate
        median = np.partition(windows, 2, axis=1)[:, 2]
        stray = ~finite
        stray[candidates] |= ~(np.abs(filled[candidates] - median) <= tol)
    if not stray.any() or stray.all():
        return ts, none
    good = ~stray
    out = np.interp(index, index[good], ts[good])
    first, last = index[good][0], index[good][-1]
    out[:first] = ts[first] - (first - index[:first]) / srate
    out[last + 1:] = ts[last] + (index[last + 1:] - last) / srate
    return out, np.flatnonzero(stray)


def join_clock_resets(ts: np.ndarray, srate: float) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Repair time stamps of a regular stream that jump backwards (a reset of the sender's clock).

    Sorting such stamps would interleave the samples from before and after the reset and make the
    stream look faster than it is. Instead the recording is split at each reset and the part after
    it is placed right after the part before, one nominal sample period later: every sample is
    kept, in the order it was recorded, on the assumption that the sender kept sampling across the
    reset. Steps back smaller than ``_RESET_PERIODS`` sample periods are jitter and left alone.

    Parameters
    ----------
    ts : array, shape (n,)
        Time stamps in s, in recorded order.
    srate : float
        Nominal rate in Hz (> 0).

    Returns
    -------
    ts : array, shape (n,)
        Repaired time stamps (the input itself when there is no reset).
    resets : list of (int, float)
        Per reset, the index of the first sample after it and how far the clock was set back (s).
    """
    period = 1.0 / srate
    step = np.diff(ts)
    jumps = np.flatnonzero(step < -max(_RESET_PERIODS * period, _RESET_MIN_S))
    if not len(jumps):
        return ts, []
    back = (ts[jumps] + period) - ts[jumps + 1]  # how far the clock was set back at each reset
    shifts = np.zeros(len(ts))
    for j, b in zip(jumps, back):
        shifts[j + 1:] += b
    return ts + shifts, [(int(j + 1), float(b)) for j, b in zip(jumps, back)]


#: a step this many times the typical one is a dropout, where dejittering starts a new segment
_DROPOUT_STEPS = 10


def dejitter(ts: np.ndarray, srate: float, threshold_s: float = 1.0, threshold_samples: int = 500) -> np.ndarray:
    """Replace a regular stream's time stamps by a straight line per segment (pyxdf's method).

    Segments break where consecutive stamps are more than ``threshold_s`` or
    ``threshold_samples`` sample periods apart, whichever is larger, as in pyxdf's own
    dejittering (which we run ourselves so that clock resets are repaired first), and also where
    a step is more than ``_DROPOUT_STEPS`` times the median positive step: pyxdf's thresholds
    alone let one line run across a dropout of up to 500 samples, which spreads the missing
    time over the segment and makes the stream look slower than it is.

    Parameters
    ----------
    ts : array, shape (n,)
        Time stamps in s (monotonic apart from jitter).
    srate : float
        Nominal rate in Hz (> 0).

    Returns
    -------
    array, shape (n,)
        The dejittered time stamps (a new array).
    """
    ts = np.array(ts, dtype=np.float64)
    step = np.diff(ts)
    positive = step[step > 0]
    typical = float(np.median(positive)) if len(positive) else 0.0
    limit = max(threshold_s, threshold_samples / srate)
    breaks = np.flatnonzero((np.abs(step) > limit) | ((typical > 0) & (step > _DROPOUT_STEPS * typical)))
    starts = np.r_[0, breaks + 1]
    stops = np.r_[breaks, len(ts) - 1]
    for a, b in zip(starts, stops):
        idx = np.arange(a, b + 1)[:, None]
        design = np.concatenate((np.ones_like(idx), idx), axis=1)
        coef = np.linalg.lstsq(design, ts[idx], rcond=-1)[0]
        ts[idx] = coef[0] + coef[1] * idx
    return ts
