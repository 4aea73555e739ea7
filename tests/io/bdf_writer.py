"""A minimal BDF (BioSemi 24-bit) / EDF (16-bit) writer for tests, after the EDF/BDF header spec.

Header: 256 bytes (version, patient, recording, date, time, header size, reserved, number of
records, record duration, number of signals), then 256 bytes per signal (label 16, transducer 80,
unit 8, physical min 8, physical max 8, digital min 8, digital max 8, prefilter 80, samples per
record 8, reserved 32), each field space-padded ASCII. Data: records of, per signal, its samples
as little-endian two's-complement integers (3 bytes in BDF, 2 in EDF).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_DIGITAL = {"bdf": (-8388608, 8388607), "edf": (-32768, 32767)}


def _field(value, width: int) -> bytes:
    text = str(value)
    if len(text) > width:
        raise ValueError(f"{value!r} does not fit in {width} characters")
    return text.ljust(width).encode("ascii")


def write_bdf(path, data, ch_names, sfreq: int, *, units=None, physical=None, fmt: str = "bdf",
              stim=(), record_s: int = 1) -> Path:
    """Write ``data`` (n_channels, n_times) in physical units.

    ``physical`` gives (min, max) per channel (default +-262144 for BDF, +-3276.8 for EDF);
    channels whose index is in ``stim`` are written as raw integer codes (physical == digital).
    ``n_times`` is zero-padded to whole records.
    """
    data = np.asarray(data, dtype=float)
    n_ch, n_times = data.shape
    spr = int(sfreq * record_s)
    n_rec = -(-n_times // spr)
    padded = np.zeros((n_ch, n_rec * spr))
    padded[:, :n_times] = data
    dmin, dmax = _DIGITAL[fmt]
    units = units or ["uV"] * n_ch
    default = (-262144, 262143) if fmt == "bdf" else (-3276.8, 3276.7)
    phys = [((dmin, dmax) if i in stim else (physical[i] if physical else default)) for i in range(n_ch)]

    digital = np.empty(padded.shape, dtype=np.int64)
    for i, (pmin, pmax) in enumerate(phys):
        scale = (dmax - dmin) / (pmax - pmin)
        digital[i] = np.clip(np.rint((padded[i] - pmin) * scale + dmin), dmin, dmax)

    head = b"\xffBIOSEMI" if fmt == "bdf" else _field("0", 8)
    head += _field("X X X X", 80) + _field("Startdate 01-JAN-2012 X X X", 80)
    head += _field("01.01.12", 8) + _field("10.00.00", 8) + _field(256 * (n_ch + 1), 8)
    head += _field("24BIT" if fmt == "bdf" else "", 44) + _field(n_rec, 8) + _field(record_s, 8)
    head += _field(n_ch, 4)
    cols = [
        [_field(n, 16) for n in ch_names],
        [_field("", 80)] * n_ch,
        [_field("Boolean" if i in stim else units[i], 8) for i in range(n_ch)],
        [_field(_num(p[0]), 8) for p in phys],
        [_field(_num(p[1]), 8) for p in phys],
        [_field(dmin, 8)] * n_ch,
        [_field(dmax, 8)] * n_ch,
        [_field("", 80)] * n_ch,
        [_field(spr, 8)] * n_ch,
        [_field("", 32)] * n_ch,
    ]
    for col in cols:
        head += b"".join(col)
    assert len(head) == 256 * (n_ch + 1)

    blocks = digital.reshape(n_ch, n_rec, spr).transpose(1, 0, 2)  # (records, channels, samples)
    if fmt == "bdf":
        raw = blocks.astype("<i4").view(np.uint8).reshape(n_rec, n_ch, spr, 4)[..., :3]
        body = np.ascontiguousarray(raw).tobytes()
    else:
        body = np.ascontiguousarray(blocks.astype("<i2")).tobytes()
    path = Path(path)
    path.write_bytes(head + body)
    return path


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"
