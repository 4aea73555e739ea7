"""Private summaries behind :func:`neuromer.audio.melody.melody_features`.

Feature definitions after Panda, Malheiro & Paiva (2018), IEEE TAFFC; the numeric boundaries
below are ours and documented next to each constant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import NeuromerError

_NOTE_COLUMNS = ["onset_s", "offset_s", "duration_s", "midi", "salience", "intensity_db",
                 "pitch_std_cents", "glissando_extent_st", "glissando_duration_s",
                 "glissando_slope_st_s", "vibrato", "vibrato_rate_hz", "vibrato_extent_cents",
                 "tremolo", "tremolo_rate_hz", "tremolo_extent_db", "first_frame", "stop_frame"]
#: register boundaries (MIDI): low < 60 (below middle C), mid 60-72 inclusive, high > 72.
REGISTER_LOW, REGISTER_HIGH = 60, 72
#: duration classes (s): short < 0.25, long > 1.0, medium in between.
SHORT_S, LONG_S = 0.25, 1.0
#: melodic direction: an interval within +-0.5 semitone is "stable".
STABLE_ST = 0.5
#: articulation of a note pair: relative gap (onset_next - offset) / IOI above 0.25 is
#: staccato, below 0.1 legato; pairs with an IOI over 2 s (rests, phrase ends) are skipped.
STACCATO_REL_GAP, LEGATO_REL_GAP, MAX_IOI_S = 0.25, 0.1, 2.0
#: crescendo: >= 3 consecutive notes each >= 1 dB louder than the previous (decrescendo: softer).
DYN_STEP_DB, DYN_MIN_NOTES = 1.0, 3
_CLASSES = ("short", "medium", "long")

FEATURE_NAMES = [
    "melody_voiced_fraction", "melody_note_count", "melody_note_rate_hz",
    "melody_pitch_mean", "melody_pitch_std", "melody_pitch_min", "melody_pitch_max",
    "melody_pitch_range", "melody_register_low", "melody_register_mid", "melody_register_high",
    "melody_direction_up", "melody_direction_down", "melody_direction_stable",
    "melody_interval_mean", "melody_interval_abs_mean",
    "melody_duration_mean_s", "melody_duration_short", "melody_duration_medium",
    "melody_duration_long",
    *[f"melody_duration_{a}_to_{b}" for a in _CLASSES for b in _CLASSES],
    "melody_staccato_ratio", "melody_legato_ratio", "melody_gap_rel_mean",
    "melody_glissando_presence", "melody_glissando_extent_st", "melody_glissando_duration_s",
    "melody_glissando_slope_st_s", "melody_glissando_direction",
    "melody_vibrato_presence", "melody_vibrato_rate_hz", "melody_vibrato_extent_cents",
    "melody_vibrato_coverage",
    "tremolo_presence", "tremolo_rate_hz", "tremolo_extent_db", "tremolo_coverage",
    "melody_intensity_mean_db", "melody_intensity_std_db",
    "melody_crescendo_count", "melody_decrescendo_count", "melody_crescendo_share",
    "melody_decrescendo_share",
    "texture_layers_mean", "texture_share_0", "texture_share_1", "texture_share_2",
    "texture_share_3plus", "texture_transitions_per_s",
]


def empty_notes() -> pd.DataFrame:
    """The note table with no rows (typed like a full one)."""
    df = pd.DataFrame({c: pd.Series(dtype=float) for c in _NOTE_COLUMNS})
    return df.astype({"vibrato": bool, "tremolo": bool, "first_frame": int, "stop_frame": int})


def modulation(x: np.ndarray, hop: float, band: tuple[float, float], *, min_extent: float,
               min_explained: float = 0.5) -> tuple[float, float, bool]:
    """Strongest periodic modulation of ``x`` (frames ``hop`` s apart) with a rate in ``band``.

    Returns ``(rate_hz, extent, present)``: the rate of the largest periodogram peak of the
    linearly detrended ``x`` in ``band`` (parabolic-refined), the amplitude of a least-squares
    sinusoid at that rate (units of ``x``) and whether that sinusoid has ``extent >=
    min_extent`` and explains ``>= min_explained`` of the variance. NaN rate and extent when
    ``x`` is shorter than two cycles at the band's slowest rate.
    """
    n = len(x)
    if n * hop < 2.0 / band[0] or n < 8:
        return np.nan, np.nan, False
    t = np.arange(n) * hop
    x = x - np.polyval(np.polyfit(t, x, 1), t)
    var = float(np.var(x))
    if not var > 1e-12:
        return np.nan, 0.0, False
    n_fft = max(4096, 1 << int(np.ceil(np.log2(4 * n))))
    spec = np.abs(np.fft.rfft(x * np.hanning(n), n_fft))
    freqs = np.fft.rfftfreq(n_fft, hop)
    idx = np.flatnonzero((freqs >= band[0]) & (freqs <= band[1]))
    if len(idx) < 3:
        return np.nan, np.nan, False
    k = idx[np.argmax(spec[idx])]
    a, b, c = np.log(spec[k - 1: k + 2] + 1e-20)
    den = a - 2 * b + c
    rate = freqs[k] + (0.5 * (a - c) / den if den < 0 else 0.0) * (freqs[1] - freqs[0])
    basis = np.column_stack([np.sin(2 * np.pi * rate * t), np.cos(2 * np.pi * rate * t)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    extent = float(np.hypot(*coef))
    explained = 1.0 - float(np.var(x - basis @ coef)) / var
    return float(rate), extent, bool(extent >= min_extent and explained >= min_explained)


def _share(mask) -> float:
    return float(np.mean(mask)) if len(mask) else np.nan


def _mean(x) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if len(x) else np.nan


def _dyn_runs(steps: np.ndarray) -> tuple[int, int]:
    """(count, notes covered) of runs of >= DYN_MIN_NOTES - 1 consecutive True steps."""
    d = np.diff(np.concatenate([[0], steps.astype(np.int8), [0]]))
    lengths = np.flatnonzero(d == -1) - np.flatnonzero(d == 1)
    long = lengths[lengths >= DYN_MIN_NOTES - 1]
    return len(long), int(np.sum(long + 1))


def _note_features(notes: pd.DataFrame, span_s: float) -> dict:
    out: dict = {}
    n = len(notes)
    midi = notes["midi"].to_numpy(float)
    dur = notes["duration_s"].to_numpy(float)
    on, off = notes["onset_s"].to_numpy(float), notes["offset_s"].to_numpy(float)
    out["melody_note_count"] = float(n)
    stats = (np.mean, np.std, np.min, np.max) if n else ()
    for name, fn in zip(("mean", "std", "min", "max"), stats):
        out[f"melody_pitch_{name}"] = float(fn(midi))
    if n:
        out["melody_pitch_range"] = float(midi.max() - midi.min())
    out["melody_register_low"] = _share(midi < REGISTER_LOW)
    out["melody_register_mid"] = _share((midi >= REGISTER_LOW) & (midi <= REGISTER_HIGH))
    out["melody_register_high"] = _share(midi > REGISTER_HIGH)
    iv = np.diff(midi)
    out["melody_direction_up"] = _share(iv > STABLE_ST)
    out["melody_direction_down"] = _share(iv < -STABLE_ST)
    out["melody_direction_stable"] = _share(np.abs(iv) <= STABLE_ST)
    out["melody_interval_mean"] = _mean(iv)
    out["melody_interval_abs_mean"] = _mean(np.abs(iv))
    out["melody_duration_mean_s"] = _mean(dur)
    cls = np.where(dur < SHORT_S, 0, np.where(dur > LONG_S, 2, 1))
    for i, name in enumerate(_CLASSES):
        out[f"melody_duration_{name}"] = _share(cls == i)
    for i, a in enumerate(_CLASSES):
        for j, b in enumerate(_CLASSES):
            out[f"melody_duration_{a}_to_{b}"] = _share((cls[:-1] == i) & (cls[1:] == j))
    ioi = np.diff(on)
    ok = (ioi > 0) & (ioi <= MAX_IOI_S)
    rel_gap = np.clip((on[1:] - off[:-1]) / np.where(ioi > 0, ioi, np.nan), 0, 1)[ok]
    out["melody_staccato_ratio"] = _share(rel_gap > STACCATO_REL_GAP)
    out["melody_legato_ratio"] = _share(rel_gap < LEGATO_REL_GAP)
    out["melody_gap_rel_mean"] = _mean(rel_gap)

    g_ext = notes["glissando_extent_st"].to_numpy(float)
    has_g = np.isfinite(g_ext)
    out["melody_glissando_presence"] = _share(has_g)
    out["melody_glissando_extent_st"] = _mean(np.abs(g_ext[has_g]))
    out["melody_glissando_duration_s"] = _mean(notes["glissando_duration_s"].to_numpy(float)[has_g])
    out["melody_glissando_slope_st_s"] = _mean(np.abs(notes["glissando_slope_st_s"].to_numpy(float)[has_g]))
    if n:  # direction of the widest glissando, 0 without one
        out["melody_glissando_direction"] = (float(np.sign(g_ext[has_g][np.argmax(np.abs(g_ext[has_g]))]))
                                             if has_g.any() else 0.0)
    for prefix, key, unit in (("melody_vibrato", "vibrato", "extent_cents"),
                              ("tremolo", "tremolo", "extent_db")):
        flag = notes[key].to_numpy(bool)
        out[f"{prefix}_presence"] = _share(flag)
        out[f"{prefix}_rate_hz"] = _mean(notes[f"{key}_rate_hz"].to_numpy(float)[flag])
        out[f"{prefix}_{unit}"] = _mean(notes[f"{key}_{unit}"].to_numpy(float)[flag])
        # share of note time (approximately the voiced time) carrying the modulation
        out[f"{prefix}_coverage"] = float(dur[flag].sum() / dur.sum()) if n and dur.sum() > 0 else np.nan

    level = notes["intensity_db"].to_numpy(float)
    out["melody_intensity_mean_db"] = _mean(level)
    out["melody_intensity_std_db"] = float(np.std(level)) if n else np.nan
    step = np.diff(level)
    for name, steps in (("crescendo", step >= DYN_STEP_DB), ("decrescendo", step <= -DYN_STEP_DB)):
        count, covered = _dyn_runs(steps)
        out[f"melody_{name}_count"] = float(count) if n else np.nan
        out[f"melody_{name}_share"] = covered / n if n else np.nan
    out["melody_note_rate_hz"] = n / span_s if span_s > 0 else np.nan  # notes per second
    return out


def _frame_features(contour, sel: slice | np.ndarray) -> dict:
    voiced = contour.voiced[sel]
    layers = contour.layers[sel]
    out = {"melody_voiced_fraction": _share(voiced)}
    if len(layers):
        out["texture_layers_mean"] = float(np.mean(layers))
        for k in (0, 1, 2):
            out[f"texture_share_{k}"] = float(np.mean(layers == k))
        out["texture_share_3plus"] = float(np.mean(layers >= 3))
        changes = float(np.count_nonzero(np.diff(layers)))
        out["texture_transitions_per_s"] = changes / (len(layers) * contour.hop_s)
    return out


def _assemble(frame: dict, note: dict) -> dict:
    merged = {**frame, **note}
    return {name: float(merged.get(name, np.nan)) for name in FEATURE_NAMES}


def clip_features(contour, notes: pd.DataFrame) -> dict[str, float]:
    """All features over the whole clip."""
    return _assemble(_frame_features(contour, slice(None)), _note_features(notes, contour.duration_s))


def window_features(contour, notes: pd.DataFrame, windows) -> pd.DataFrame:
    """Features per (t_start_s, t_end_s) window, from the clip-level contour and notes."""
    try:
        bounds = np.asarray(list(windows), dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        raise NeuromerError("Invalid value for the 'windows' parameter: expected a sequence of "
                            "(t_start_s, t_end_s) pairs.") from None
    if np.any(~np.isfinite(bounds)) or np.any(bounds[:, 1] <= bounds[:, 0]):
        raise NeuromerError("Invalid value for the 'windows' parameter: every window needs finite "
                            "t_start_s < t_end_s.")
    onsets = notes["onset_s"].to_numpy(float)
    # frame times ascend: a window's frames are one slice (a mask per window would cost
    # n_windows x n_frames, quadratic in the clip's length)
    i0s = np.searchsorted(contour.times, bounds[:, 0], side="left")
    i1s = np.searchsorted(contour.times, bounds[:, 1], side="left")
    rows = []
    for (t0, t1), i0, i1 in zip(bounds, i0s, i1s):
        if i1 <= i0:
            rows.append(dict.fromkeys(FEATURE_NAMES, np.nan))
            continue
        frames = slice(int(i0), int(i1))
        sub = notes[(onsets >= t0) & (onsets < t1)]
        span_s = float(i1 - i0) * contour.hop_s
        rows.append(_assemble(_frame_features(contour, frames), _note_features(sub, span_s)))
    return pd.DataFrame(rows, columns=FEATURE_NAMES)
