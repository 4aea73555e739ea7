"""Electrode names as written by other software, normalised to the 10-05 system.

Files name the same electrode in many ways: PhysioNet's EEG Motor Movement/Imagery dataset pads
names with dots to four characters (``Fc5.``, ``F3..``, ``Fp1.``), clinical EDFs prefix the type and
suffix the reference (``EEG Fz-Ref``, ``EEG FP1-LE``), and upper case is common (``FP1``, ``CZ``).
MNE's standard montages, and neuromer's asymmetry features, need the 10-05 spelling (``FC5``,
``F3``, ``Fp1``, ``Fz``). :func:`standard_channel_names` returns that spelling when a name is
recognisably a 10-05 electrode and leaves every other name as it is.
"""

from __future__ import annotations

import re

import mne

from .._logging import logger

# prefixes that state the signal type, and suffixes that state the reference electrode
_PREFIX_RX = re.compile(r"^(?:eeg)[\s\-_:.]*", re.I)
_REF_SUFFIX_RX = re.compile(r"[\s\-_/:]+(?:ref|le|re|ar|avg|car|a1|a2|m1|m2|a1a2|m1m2|linked|mastoids?)$", re.I)
_1005: dict[str, str] | None = None


def _names_1005() -> dict[str, str]:
    """Lower-case 10-05 name -> its canonical spelling."""
    global _1005
    if _1005 is None:
        builtin = mne.channels.get_builtin_montages()
        # MNE 1.13 renamed the templates (standard_1005 -> colin27_1005)
        montage = mne.channels.make_standard_montage("colin27_1005" if "colin27_1005" in builtin else "standard_1005")
        _1005 = {n.lower(): n for n in montage.ch_names}
    return _1005


def standard_channel_name(name: str) -> str | None:
    """The 10-05 spelling of an electrode name, or ``None`` if it is not recognisably one.

    >>> [standard_channel_name(n) for n in ["Fc5.", "F3..", "FP1", "EEG Fz-Ref", "EEG CZ-LE", "GSR"]]
    ['FC5', 'F3', 'Fp1', 'Fz', 'Cz', None]
    """
    known = _names_1005()
    text = str(name).strip().strip(".").strip()
    candidates = [text]
    bare = _PREFIX_RX.sub("", text).strip(".").strip()
    candidates.append(bare)
    candidates.append(_REF_SUFFIX_RX.sub("", bare).strip(".").strip())
    for cand in candidates:
        hit = known.get(cand.lower())
        if hit is not None:
            return hit
    return None


def standard_channel_names(ch_names: list[str]) -> dict[str, str]:
    """Renames ``{old: new}`` that bring electrode names to the 10-05 spelling.

    Names already spelt right, names that are not electrodes (``GSR``, ``Status``, ``Fp1-F7``) and
    renames that would give two channels the same name are left out (the last with a warning).

    Parameters
    ----------
    ch_names : list of str

    Returns
    -------
    dict
        Only the names that change.
    """
    wanted = {}
    for name in ch_names:
        new = standard_channel_name(name)
        if new is not None and new != name:
            wanted[name] = new
    taken = set(ch_names) - set(wanted)
    out: dict[str, str] = {}
    for old, new in wanted.items():
        if new in taken:
            logger.warning("channel %r would be renamed %r, but that name is taken; kept as %r.", old, new, old)
            continue
        taken.add(new)
        out[old] = new
    return out


__all__ = ["standard_channel_name", "standard_channel_names"]
