"""Damage XDF files written by neuromer, byte by byte (a helper for the tests, not a test)."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET


def plant_in_eeg(src, dst, value, samples=None):
    """Copy an XDF file, writing ``value`` into the EEG stream's samples ``samples`` (all if None),
    every channel, byte by byte (float32 EEG with one time stamp per sample, as neuromer writes)."""
    blob = bytearray(src.read_bytes())
    pos, eeg_id, count, k = 4, None, 0, 0
    while pos < len(blob):
        nb = blob[pos]
        length = int.from_bytes(blob[pos + 1:pos + 1 + nb], "little")
        tag = int.from_bytes(blob[pos + 1 + nb:pos + 3 + nb], "little")
        body = pos + 3 + nb
        sid = int.from_bytes(blob[body:body + 4], "little") if tag in (2, 3) else None
        if tag == 2:
            info = ET.fromstring(blob[body + 4:pos + 1 + nb + length].decode())
            if info.findtext("type") == "EEG":
                eeg_id, count = sid, int(info.findtext("channel_count"))
                assert info.findtext("channel_format") == "float32"
        elif tag == 3 and sid == eeg_id:
            nbn = blob[body + 4]
            n = int.from_bytes(blob[body + 5:body + 5 + nbn], "little")
            rec = body + 5 + nbn
            for _ in range(n):
                if samples is None or k in samples:
                    blob[rec + 9:rec + 9 + 4 * count] = struct.pack("<f", value) * count
                rec += 9 + 4 * count
                k += 1
        pos += 1 + nb + length
    dst.write_bytes(bytes(blob))
