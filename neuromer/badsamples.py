"""Non-finite (NaN/infinite) samples: found, annotated, kept local.

One NaN or infinite sample must not spoil a whole channel: resampling (FFT) and filtering spread
it over every sample, so one bad sample outside every trial used to turn that channel into NaN in
every trial. :func:`repair_nonfinite` runs before any step that mixes samples:

- each run of consecutive non-finite samples of a channel is found;
- runs of at most ``max_interp_s`` (50 ms by default) are replaced by the straight line between
  the finite samples on either side (the nearest finite value at the edge of the recording): a gap
  that short takes at most 5 % of a 1 s analysis window, and linear interpolation across it is the
  smallest change that keeps the filters' input continuous;
- longer runs are marked with a ``BAD_nonfinite`` annotation on that channel (MNE's convention:
  annotations starting with ``BAD`` are left out by ``reject_by_annotation``) and filled with the
  same straight line only so that filters can run. :func:`~neuromer.epochs.make_trials` puts NaN
  back in those spans, so the feature windows that touch them are NaN (models impute them) and
  every other window is exactly what it would be without the bad samples;
- the counts go to a warning and to ``session.provenance["bad_samples"]`` (and, in
  ``neuromer run``, to the subject's record in ``run.json``).

A channel with no finite sample at all is filled with zeros and marked ``BAD_nonfinite`` over the
whole recording; :func:`~neuromer.preprocess.preprocess` also treats a channel that is more than
half non-finite as a bad channel.
"""

from __future__ import annotations

import mne
import numpy as np

from ._logging import logger

#: longest run of non-finite samples that is interpolated (s); longer runs are marked bad
MAX_INTERP_S = 0.05
#: description of the annotations that mark long runs of non-finite samples
BAD_NONFINITE = "BAD_nonfinite"


def _runs(bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and stops (excluded) of the runs of True in a 1-D boolean array."""
    edges = np.diff(np.r_[0, bad.astype(np.int8), 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def repair_nonfinite(raw: mne.io.BaseRaw, *, max_interp_s: float = MAX_INTERP_S,
                     source: str = "") -> dict:
    """Interpolate short runs of NaN/infinite samples and annotate the long ones, in place.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Loaded recording (``raw.load_data()``); changed in place.
    max_interp_s : float
        Longest run (s) that is interpolated linearly; longer runs get a ``BAD_nonfinite``
        annotation. 0 interpolates nothing.
    source : str
        File or subject named in the warning.

    Returns
    -------
    dict
        ``n_nonfinite`` (samples, all channels), ``channels`` (``{name: n_samples}``),
        ``interpolated_runs``, ``interpolated_samples``, ``bad_runs``, ``bad_samples``,
        ``all_nonfinite`` (channels without a finite sample), ``max_interp_s``. All zeros (and
        nothing changed) for a clean recording.
    """
    data = raw._data  # (n_channels, n_times), loaded
    sfreq = float(raw.info["sfreq"])
    max_run = int(np.floor(max_interp_s * sfreq + 1e-9))
    report = {"n_nonfinite": 0, "channels": {}, "interpolated_runs": 0, "interpolated_samples": 0,
              "bad_runs": 0, "bad_samples": 0, "all_nonfinite": [], "max_interp_s": float(max_interp_s)}
    bad_rows = np.flatnonzero(~np.isfinite(data).all(axis=1))
    if not len(bad_rows):
        return report
    onsets, durations, names = [], [], []
    index = np.arange(data.shape[1])
    for row in bad_rows:
        x = data[row]
        bad = ~np.isfinite(x)
        name = raw.ch_names[row]
        report["channels"][name] = int(bad.sum())
        if bad.all():
            x[:] = 0.0
            report["all_nonfinite"].append(name)
            starts, stops = np.array([0]), np.array([len(x)])
        else:
            starts, stops = _runs(bad)
            x[bad] = np.interp(index[bad], index[~bad], x[~bad])
        long = (stops - starts) > max_run
        report["interpolated_runs"] += int((~long).sum())
        report["interpolated_samples"] += int((stops - starts)[~long].sum())
        report["bad_runs"] += int(long.sum())
        report["bad_samples"] += int((stops - starts)[long].sum())
        for a, b in zip(starts[long], stops[long]):
            onsets.append(raw.first_time + a / sfreq)
            durations.append((b - a) / sfreq)
            names.append((name,))
    report["n_nonfinite"] = int(sum(report["channels"].values()))
    if onsets:
        new = mne.Annotations(onsets, durations, [BAD_NONFINITE] * len(onsets),
                              orig_time=raw.annotations.orig_time, ch_names=names)
        raw.set_annotations(raw.annotations + new)
    counts = ", ".join(f"{n}: {c}" for n, c in list(report["channels"].items())[:5])
    more = f", ... ({len(report['channels'])} channels)" if len(report["channels"]) > 5 else ""
    parts = []
    if report["interpolated_runs"]:
        parts.append(f"{report['interpolated_runs']} run(s) of <= {1e3 * max_interp_s:g} ms interpolated linearly")
    if report["bad_runs"]:
        parts.append(f"{report['bad_runs']} longer run(s) ({report['bad_samples']} samples) marked "
                     f"{BAD_NONFINITE}: the windows they touch get NaN features")
    logger.warning("%sNaN or infinite samples: %d in %d channel(s) (%s%s); %s.", f"{source}: " if source else "",
                   report["n_nonfinite"], len(report["channels"]), counts, more, "; ".join(parts))
    return report


def nonfinite_mask(raw: mne.io.BaseRaw, ch_names: list[str]) -> np.ndarray | None:
    """Samples under ``BAD_nonfinite`` annotations, shape (n_channels, n_times), or None.

    A sample is covered when any part of its period overlaps the annotation, so a span stays
    covered after resampling to a lower rate. An annotation without channel names covers every
    channel.
    """
    ann = raw.annotations
    keep = [i for i, d in enumerate(ann.description) if d == BAD_NONFINITE]
    if not keep:
        return None
    sfreq, n_times = float(raw.info["sfreq"]), raw.n_times
    mask = np.zeros((len(ch_names), n_times), bool)
    pos = {n: i for i, n in enumerate(ch_names)}
    for i in keep:
        onset = ann.onset[i] - raw.first_time
        a = max(0, int(np.floor(onset * sfreq + 1e-6)))
        b = min(n_times, int(np.ceil((onset + ann.duration[i]) * sfreq - 1e-6)))
        rows = [pos[c] for c in ann.ch_names[i] if c in pos] if len(ann.ch_names[i]) else list(pos.values())
        mask[rows, a:b] = True
    return mask


__all__ = ["BAD_NONFINITE", "MAX_INTERP_S", "nonfinite_mask", "repair_nonfinite"]
