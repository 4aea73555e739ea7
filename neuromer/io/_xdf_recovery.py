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


def _stream_header_fields(content: bytes) -> tuple[str, int | None]:
    """Name and declared channel count (None if unreadable) of a StreamHeader chunk's XML."""
    try:
        root = ET.fromstring(content[4:].decode("utf-8", "replace"))
        name = (root.findtext("name") or "").strip()
        count = int(str(root.findtext("channel_count")).strip())
    except (ET.ParseError, TypeError, ValueError):
        return "", None
    return name, count


def scan_chunks(fh, size: int, path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The well-formed chunks of an XDF file as byte ranges, resynchronising at Boundary chunks.

    A chunk is well formed when its length field, tag and stream id make sense (a Samples,
    ClockOffset or StreamFooter chunk must follow its stream's header) and it ends inside the
    file. After a malformed chunk the scan jumps to the next Boundary chunk (LabRecorder writes
    one every few seconds for this purpose); with none left, the rest of the file is dropped.

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
        Not an XDF file, truncated inside its file header, or a stream that declares no channels
        but carries samples.
    """
    head = fh.read(4)
    if head != _MAGIC:
        if size == 0:
            raise DataFormatError(f"{path}: empty file; expected an XDF recording.")
        if len(head) < 4 and _MAGIC.startswith(head):
            raise DataFormatError(f"{path}: XDF file truncated inside its file header.")
        raise DataFormatError(f"{path}: not an XDF file (it does not start with 'XDF:').")
    headers: dict[int, tuple[str, int | None]] = {}  # stream id -> (name, channel_count)
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
            if ok and tag == _TAG_SAMPLES and not (headers[sid][1] or 0) >= 1:
                name, count = headers[sid]
                raise DataFormatError(f"{path}: stream {name!r} (id {sid}) declares channel_count "
                                      f"{count if count is not None else '(unreadable)'} in its header but "
                                      "carries samples; the file is malformed.")
        if ok and tag == _TAG_STREAM_HEADER:
            fh.seek(pos + 3 + nb)
            headers[int.from_bytes(hdr[3 + nb:7 + nb], "little")] = _stream_header_fields(fh.read(length - 2))
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
