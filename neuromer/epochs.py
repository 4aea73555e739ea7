"""Cut a :class:`~neuromer.session.Session` into DEAP-style :class:`~neuromer.session.Trials`.

How markers become trials (:func:`trials_from_markers`):

- every ``stimulus_on`` marker opens a trial (trials are numbered 1, 2, ... in time order);
- the matching ``stimulus_off`` closes it and sets ``duration_s``; without one the protocol's
  ``timing.stimulus_s`` is used (warning);
- ``rating`` markers after a trial's onset and before the next onset are that trial's ratings;
- problems are *skipped with a warning naming the trial* (or raised as
  :class:`~neuromer.errors.MarkerError` with ``on_problem="raise"``): an unknown stimulus id
  drops the trial; a second ``stimulus_on`` while a trial is still playing is ignored as a
  duplicate; a ``stimulus_off`` with no open trial or another id is ignored; a rating before any
  trial, of an unknown scale or outside the scale's range is ignored; a repeated rating keeps the
  last value. Dropped trials are listed, with the reason, in ``Trials.dropped``;
- numeric codes (trigger channels, BrainVision ``S  5``, events files) are first translated with
  the protocol's ``[markers.codes]`` (:func:`neuromer.io.triggers.apply_code_table`);
- when no marker opens a trial, a warning says why (e.g. "Status channel has 40 events with
  code 255; the protocol maps no codes").
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ._checks import check_option, check_positive
from ._logging import logger
from .errors import MarkerError, NeuromerError
from .protocol import Protocol
from .session import LABEL_NAMES, MICROVOLT_TYPES, Session, Trials, empty_trials_table

DROPPED_COLUMNS = ("trial", "stimulus_id", "reason")


class _Problems:
    """Collects marker problems; warns or raises according to ``on_problem``."""

    def __init__(self, on_problem: str, where: str) -> None:
        self.on_problem = check_option(on_problem, ["warn", "raise"], "on_problem")
        self.where = where

    def __call__(self, message: str) -> None:
        message = f"{self.where}{message}"
        if self.on_problem == "raise":
            raise MarkerError(message)
        logger.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def trials_from_markers(markers: pd.DataFrame, protocol: Protocol, *, on_problem: str = "warn",
                        source: str = "", triggers: dict | None = None,
                        explain_none: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Find the trials described by a session's markers.

    Parameters
    ----------
    markers : DataFrame
        Columns ``onset_s`` (seconds from the first sample) and ``description`` (marker string).
    protocol : Protocol
        Gives the marker vocabulary, the stimulus ids and the rating scales.
    on_problem : ``"warn"`` | ``"raise"``
        Skip problems with a warning naming the trial (default) or raise :class:`MarkerError`.
    source : str
        Name of the recording, used in messages.
    triggers : dict | None
        Summary of the trigger channel the coded markers came from (``session.provenance
        ["triggers"]``), named when no marker matches.
    explain_none : bool
        When no trial is found, say why (a problem: warning or :class:`MarkerError`).

    Returns
    -------
    trials : DataFrame
        ``trial, stimulus_id, onset_s, duration_s`` and one column per rating scale.
    dropped : DataFrame
        ``trial, stimulus_id, reason`` for trials that could not be used.
    """
    from .io.triggers import apply_code_table, explain_unmatched

    problem = _Problems(on_problem, f"{source}: " if source else "")
    original = markers
    markers = apply_code_table(markers, protocol, source=source)
    known = set(protocol.stimulus_ids)
    scales = protocol.ratings.scales
    lo, hi = protocol.ratings.min, protocol.ratings.max
    rows: list[dict] = []
    dropped: list[dict] = []
    current: dict | None = None  # the trial the next ratings belong to
    playing = False  # between stimulus_on and stimulus_off
    n = 0
    order = np.argsort(markers["onset_s"].to_numpy(float), kind="stable")
    for onset, text in zip(markers["onset_s"].to_numpy(float)[order],
                           markers["description"].astype(str).to_numpy()[order]):
        parsed = protocol.markers.parse(text)
        if parsed is None:
            continue
        kind, fields = parsed
        if kind == "stimulus_on":
            sid = fields["stimulus_id"]
            if playing and current is not None:
                if onset - current["onset_s"] < protocol.timing.stimulus_s:
                    problem(f"trial {current['trial']} (stimulus {current['stimulus_id']!r}): "
                            f"ignoring a second stimulus_on {text!r} at {onset:.3f} s while the stimulus plays.")
                    continue
                _close_without_off(current, protocol, problem)
            n += 1
            current = {"trial": n, "stimulus_id": sid, "onset_s": float(onset), "duration_s": np.nan,
                       **{s: np.nan for s in scales}}
            playing = True
            if known and sid not in known:
                problem(f"trial {n}: unknown stimulus id {sid!r} in marker {text!r}; trial dropped.")
                dropped.append({"trial": n, "stimulus_id": sid, "reason": f"unknown stimulus id {sid!r}"})
                current["_dropped"] = True
            rows.append(current)
        elif kind == "stimulus_off":
            sid = fields.get("stimulus_id")
            if not playing or current is None or (sid is not None and sid != current["stimulus_id"]):
                problem(f"ignoring {text!r} at {onset:.3f} s: no matching stimulus_on"
                        + (f" (trial {current['trial']} plays {current['stimulus_id']!r})." if playing and current else "."))
                continue
            current["duration_s"] = float(onset - current["onset_s"])
            playing = False
        elif kind == "rating":
            scale, value = fields["scale"], float(fields["value"])
            if current is None:
                problem(f"ignoring rating {text!r} at {onset:.3f} s before any trial.")
            elif scale not in scales:
                problem(f"trial {current['trial']}: ignoring rating of unknown scale {scale!r} "
                        f"(protocol scales: {', '.join(scales)}).")
            elif not lo <= value <= hi:
                problem(f"trial {current['trial']}: ignoring {scale} rating {value:g} outside {lo:g}-{hi:g}.")
            else:
                if np.isfinite(current[scale]):
                    problem(f"trial {current['trial']}: {scale} rated twice; keeping the later value {value:g}.")
                current[scale] = value
        elif kind == "trial_start" and playing and current is not None:
            _close_without_off(current, protocol, problem)
            playing = False
    if playing and current is not None:
        _close_without_off(current, protocol, problem)
    if n == 0 and explain_none:
        problem(f"no trial found: {explain_unmatched(original, protocol, triggers=triggers)}.")

    table = empty_trials_table()
    kept = [{k: v for k, v in r.items() if k != "_dropped"} for r in rows if not r.get("_dropped")]
    if kept:
        table = pd.concat([table, pd.DataFrame(kept)], ignore_index=True)
        table["trial"] = table["trial"].astype("int64")
    for s in scales:
        if s not in table:
            table[s] = pd.Series(dtype="float64")
    return table, pd.DataFrame(dropped, columns=list(DROPPED_COLUMNS))


def _close_without_off(trial: dict, protocol: Protocol, problem: _Problems) -> None:
    trial["duration_s"] = protocol.timing.stimulus_s
    if not trial.get("_dropped"):
        problem(f"trial {trial['trial']} (stimulus {trial['stimulus_id']!r}): no stimulus_off marker; "
                f"using the protocol's stimulus_s = {protocol.timing.stimulus_s:g} s.")


def make_trials(session: Session, *, protocol: Protocol | None = None, sfreq: float | None = 128.0,
                baseline_s: float | None = None, duration_s: float | None = None,
                on_problem: str = "warn") -> Trials:
    """Cut a session into DEAP-style trials.

    Parameters
    ----------
    session : Session
        The recording. Its ``trials`` table is used when filled; otherwise it is built from the
        markers with :func:`trials_from_markers`.
    protocol : Protocol | None
        Defaults to ``session.protocol``. Needed when the session has no trials table.
    sfreq : float | None
        Resample to this rate in Hz first (128 as in DEAP); ``None`` keeps the session's rate.
    baseline_s : float | None
        Pre-stimulus baseline in seconds; default the protocol's ``timing.baseline_s`` (3 s).
    duration_s : float | None
        Stimulus period kept per trial in seconds; default the protocol's ``timing.stimulus_s``.
        Every trial has the same length (baseline + duration) as in DEAP; a shorter stimulus
        keeps its real length in the ``duration_s`` column.
    on_problem : ``"warn"`` | ``"raise"``
        What to do with marker problems and trials that do not fit in the recording.

    Returns
    -------
    Trials
        EEG/EOG/EMG/ECG in microvolts; stim channels are left out. NaN/infinite samples of the
        session stay local (:func:`~neuromer.badsamples.repair_nonfinite`): runs up to 50 ms are
        interpolated, samples under ``BAD_nonfinite`` annotations are NaN, the rest is untouched.
    """
    protocol = protocol or session.protocol
    problem = _Problems(on_problem, f"{(session.provenance.get('source_files') or [''])[0] or 'session'}: ")
    # readers that cut trials from markers keep the ones they dropped in the provenance
    table = session.trials
    dropped = pd.DataFrame(session.provenance.get("dropped_trials") or [], columns=list(DROPPED_COLUMNS))
    if len(table) == 0:
        if protocol is None:
            raise NeuromerError("The session has no trials table; pass the protocol to find trials from markers.")
        table, dropped = trials_from_markers(session.markers, protocol, on_problem=on_problem,
                                             source=problem.where.rstrip(": "),
                                             triggers=session.provenance.get("triggers"))
    if baseline_s is None:
        baseline_s = protocol.timing.baseline_s if protocol else 3.0
    if duration_s is None:
        duration_s = (protocol.timing.stimulus_s if protocol
                      else float(np.nanmax(table["duration_s"])) if len(table) else 0.0)
    baseline_s = check_positive(baseline_s, "baseline_s", allow_zero=True)
    duration_s = check_positive(duration_s, "duration_s")

    raw = session.raw
    picks = [i for i, t in enumerate(raw.get_channel_types()) if t != "stim"]
    if sfreq is not None:
        sfreq = check_positive(sfreq, "sfreq")
    resample = sfreq is not None and abs(sfreq - session.sfreq) > 1e-9
    if resample or not np.isfinite(raw.get_data(picks=picks)).all():
        # NaN/inf samples stay local (see neuromer.badsamples): repaired before the FFT resampling
        # would spread them, and put back as NaN below where they ran long
        from .badsamples import repair_nonfinite

        raw = raw.copy().pick(picks).load_data()
        picks = list(range(len(raw.ch_names)))
        repair_nonfinite(raw, source=problem.where.rstrip(": "))
        if resample:
            raw.resample(sfreq, npad="auto", verbose="error")
    rate = float(raw.info["sfreq"])
    if baseline_s + duration_s > raw.n_times / rate:
        # no trial can fit; say so once instead of dropping each trial (and sizing arrays by it)
        raise MarkerError(f"{problem.where}baseline_s {baseline_s:g} s + stimulus duration {duration_s:g} s is "
                          f"longer than the whole recording ({raw.n_times / rate:g} s); check the protocol's "
                          "timing (timing.stimulus_s, timing.baseline_s).")
    n_base = int(round(baseline_s * rate))
    n_samples = n_base + int(round(duration_s * rate))
    data = raw.get_data(picks=picks)
    ch_names = [raw.ch_names[i] for i in picks]
    from .badsamples import nonfinite_mask

    bad_mask = nonfinite_mask(raw, ch_names)
    if bad_mask is not None:
        data = np.where(bad_mask, np.nan, data)
    ch_types = [raw.get_channel_types()[i] for i in picks]
    scale = np.array([1e6 if t in MICROVOLT_TYPES else 1.0 for t in ch_types])[:, None]

    segments, keep, lost = [], [], []
    for idx, row in table.iterrows():
        start = int(round(row["onset_s"] * rate)) - n_base
        stop = start + n_samples
        if start < 0 or stop > data.shape[1]:
            what = "starts before the recording" if start < 0 else "ends after the recording"
            problem(f"trial {row['trial']} (stimulus {row['stimulus_id']!r}) {what}; trial dropped.")
            lost.append({"trial": row["trial"], "stimulus_id": row["stimulus_id"], "reason": what})
            continue
        segments.append(data[:, start:stop] * scale)
        keep.append(idx)
    if lost:
        dropped = pd.concat([dropped, pd.DataFrame(lost)], ignore_index=True)
    arr = np.stack(segments) if segments else np.empty((0, len(ch_names), n_samples))
    meta = table.loc[keep].reset_index(drop=True)
    # windows are laid over duration_s; it cannot run past the samples each trial holds
    meta["duration_s"] = meta["duration_s"].astype(float).clip(upper=duration_s)
    for name in LABEL_NAMES:
        if name not in meta:
            meta[name] = np.nan
    trials = Trials(arr, rate, ch_names, ch_types, baseline_s=baseline_s, metadata=meta,
                    subject=session.subject, dropped=dropped)
    logger.info("cut %d trials (%d dropped) from %s", len(keep), len(dropped), session.subject or "session")
    return trials
