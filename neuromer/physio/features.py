"""Physiological features per window of the shared grid and per trial, via neurokit2.

Processing span. Each physiological signal is processed **once per continuous span** by neurokit2
(``eda_process``, ``ecg_process``, ``ppg_process``, ``rsp_process``, ``eog_process``,
``emg_clean``); the per-sample outputs and detected events are then aggregated over every
segment (window or whole stimulus period) at once with running sums and ``searchsorted``, with no
Python loop per window.

- Given the ``session`` the trials were cut from (what ``neuromer run`` does for XDF, BDF, EDF,
  BIDS... recordings), the span is the **whole recording** (or, where a channel has NaN/infinite
  samples, each finite stretch of it). Trials and windows are cut afterwards, so SCR detection,
  filters and rate interpolation see the signal around each trial, as in the lab's own analysis.
- Given only ``Trials`` (DEAP ``.dat``/``.mat`` files and ``-epo.fif`` files hold nothing
  between trials), each trial, baseline included, is the longest continuous span there is and
  is processed on its own. DEAP's 63 s trials are long enough for this; short trials processed
  this way find more spurious SCRs and fewer breaths, which the minimum SCR amplitude and the
  interval context below keep in check.

SCRs. neurokit2 keeps SCRs above a fraction (10 %) of the largest one in the span it is given. On a
short calm span that fraction is tiny: a 13 s trial cut out of NeuroKit2's
``bio_eventrelated_100hz`` example gives 16 "SCRs" of 0.003-0.007 µS, noise, while the
whole recording gives none there. SCRs below ``min_scr_amplitude_us`` (0.01 µS by default, the
usual minimum in the EDA literature: Boucsein et al. 2012, Psychophysiology 49:1017) are dropped,
as are SCRs without a measurable amplitude.

Interval measures and the context. HRV (SDNN, RMSSD) and respiration irregularity describe the
spread of beat-to-beat or breath-to-breath intervals: a 1 s window holds at most one heartbeat
interval and no breath interval. They are therefore computed from the intervals within a
``context_s`` (30 s by default) context **centred on each window** (or spanning at least the
whole segment), clipped to the trial's own samples (baseline + stimulus period), so no signal of
another trial or of the rating period enters a trial's features and by-trial cross-validation
stays clean. RMSSD over 10-30 s agrees well with 5 min recordings, SDNN needs the longer end
(Munoz et al. 2015, PLoS ONE 10:e0138921); with 13 s trials the context is the trial's 16 s. Beat
and breath rates are the mean of neurokit2's per-sample rate in the window; where neurokit2
gives none (it needs 4 breaths or more in the span processed), the rate is 60 / mean interval
in the context. A measure that stays undefined (fewer than 2 intervals in the context) is NaN,
with one warning per column saying why and how many rows.

Columns (channel kinds are MNE channel types in ``trials.ch_types``):

=============================== ========== ===================================================
column                          kind       definition
=============================== ========== ===================================================
``physio_eda_tonic``            gsr        mean of ``EDA_Tonic`` (recorded units, µS)
``physio_scr_count``            gsr        SCR peaks >= ``min_scr_amplitude_us`` in the segment
``physio_scr_rate_per_min``     gsr        those SCR peaks per minute
``physio_scr_amplitude``        gsr        mean ``SCR_Amplitude`` of those peaks (NaN if none)
``physio_scr_rise_time_s``      gsr        mean ``SCR_RiseTime`` of those peaks (NaN if none)
``physio_hr_bpm``               ecg | bio  mean ``ECG_Rate`` / ``PPG_Rate`` (beats per minute)
``physio_hrv_sdnn_ms``          ecg | bio  SD of the beat intervals in the context
``physio_hrv_rmssd_ms``         ecg | bio  RMS of successive interval differences in the context
``physio_resp_rate_bpm``        resp       mean ``RSP_Rate`` (breaths per minute)
``physio_resp_amplitude``       resp       mean ``RSP_Amplitude`` (recorded units)
``physio_resp_irregularity``    resp       coefficient of variation of the breath-to-breath
                                           intervals in the context
``physio_temp_mean``            temp.      mean (recorded units)
``physio_temp_slope_per_s``     temp.      least-squares slope, units per second
``physio_emg_rms_{ch}``         emg        RMS about the segment mean of ``emg_clean`` output
                                           (the raw signal below 250 Hz, where neurokit2's
                                           100 Hz high-pass cannot run), per EMG channel, µV
``physio_blink_count``          eog        blinks (``eog_process``) in the segment
``physio_blink_rate_per_min``   eog        blinks per minute
=============================== ========== ===================================================

Heart. ECG is preferred over PPG when both are present (R peaks are sharper than pulse peaks and
the pulse arrives with a variable transit delay); the heart columns then come from the first ECG
channel and the PPG is not used. ``table.attrs["physio_sources"]`` names the channel behind every
column (kept in Parquet files), and ``table.attrs["physio_span"]`` says whether the signals were
processed over the recording (``"session"``) or per trial (``"trial"``).

One channel per kind is used (the first; for EOG a vertical one, ``vEOG``, if present), except
EMG where every channel gets its own column. A missing kind leaves its columns out, with a
warning naming it. A signal neurokit2 cannot process (flat, NaN, too short, sampling rate too low)
gives NaN features there; problems are warned once per channel and reason, with the count of
trials concerned; nothing raises.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_positive, validate_type
from .._logging import logger
from ..errors import NeuromerError
from ..session import MICROVOLT_TYPES, Session, Trials
from ..windows import WindowGrid
from ._segments import (finite_runs, seg_event_mean, seg_events, seg_intervals, seg_mean, seg_rms,
                        seg_slope)

#: Channel type -> human name of the signal, in column order.
PHYSIO_KINDS = {"gsr": "EDA", "ecg": "ECG", "bio": "PPG", "resp": "respiration",
                "temperature": "skin temperature", "emg": "EMG", "eog": "EOG"}
_EMG_CLEAN_MIN_SFREQ = 250.0  # neurokit2's emg_clean high-passes at 100 Hz
_HEART = ("hr_bpm", "hrv_sdnn_ms", "hrv_rmssd_ms")
#: Feature keys per channel kind (columns are ``physio_{key}``, EMG ``physio_{key}_{channel}``).
FEATURE_KEYS = {
    "gsr": ("eda_tonic", "scr_count", "scr_rate_per_min", "scr_amplitude", "scr_rise_time_s"),
    "ecg": _HEART,
    "bio": _HEART,
    "resp": ("resp_rate_bpm", "resp_amplitude", "resp_irregularity"),
    "temperature": ("temp_mean", "temp_slope_per_s"),
    "emg": ("emg_rms",),
    "eog": ("blink_count", "blink_rate_per_min"),
}
#: Default minimum SCR amplitude (µS) and interval context (s).
MIN_SCR_AMPLITUDE_US = 0.01
CONTEXT_S = 30.0
# why a measure can be NaN although its signal was processed (said once per column)
_UNDEFINED = {
    "hr_bpm": "fewer than 2 beats in the context",
    "hrv_sdnn_ms": "fewer than 2 beat intervals in the context",
    "hrv_rmssd_ms": "fewer than 2 beat intervals in the context",
    "resp_rate_bpm": "fewer than 2 breaths in the context",
    "resp_irregularity": "fewer than 2 breath intervals in the context",
}


def _nk():
    import neurokit2  # imported on first use: it is slow to import and the CLI may not need it

    return neurokit2


def _warn(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


@dataclass
class _Segments:
    """Sample ranges of one continuous signal: the segment and the context of its interval measures."""

    start: np.ndarray
    stop: np.ndarray
    ctx_start: np.ndarray
    ctx_stop: np.ndarray

    def minutes(self, sfreq: float) -> np.ndarray:
        return (self.stop - self.start) / sfreq / 60.0

    def subset(self, rows, offset: int = 0) -> _Segments:
        return _Segments(self.start[rows] - offset, self.stop[rows] - offset,
                         self.ctx_start[rows] - offset, self.ctx_stop[rows] - offset)


# ------------------------------------------------------------------- per-kind processing
def _run_nk(func, signal, sfreq):
    """Call a neurokit2 function; its warnings are silenced, a failure becomes ``(None, reason)``."""
    if np.ptp(signal) == 0:
        return None, "the signal is flat"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return func(signal, sampling_rate=int(round(sfreq))), None
    except Exception as exc:  # neurokit2 raises many types on signals it cannot handle
        text = str(exc).splitlines()[0] if str(exc) else ""
        return None, f"neurokit2 could not process it ({type(exc).__name__}: {text})"


def _rate(per_sample_rate, events, sfreq, seg, n_min_events=2):
    """Mean per-sample rate in each segment; 60 / mean interval in the context where it is NaN."""
    rate = seg_mean(per_sample_rate, seg.start, seg.stop)
    lo, hi = seg_events(events, seg.ctx_start, seg.ctx_stop)
    mean_ms, sd_ms, rmssd_ms = seg_intervals(events, sfreq, lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        fallback = 60000.0 / mean_ms
    return np.where(np.isfinite(rate), rate, fallback), mean_ms, sd_ms, rmssd_ms


def _eda(x, sfreq, seg, opts):
    out, err = _run_nk(_nk().eda_process, x, sfreq)
    if out is None:
        return None, err
    signals, info = out
    peaks = np.asarray(info["SCR_Peaks"], dtype=np.int64)
    amp = np.asarray(info["SCR_Amplitude"], dtype=float) if len(peaks) else np.empty(0)
    rise = np.asarray(info["SCR_RiseTime"], dtype=float) if len(peaks) else np.empty(0)
    with np.errstate(invalid="ignore"):
        keep = amp >= opts["min_scr_amplitude_us"]  # NaN amplitude: no onset found, not an SCR
    order = np.argsort(peaks[keep], kind="stable")
    peaks, amp, rise = peaks[keep][order], amp[keep][order], rise[keep][order]
    lo, hi = seg_events(peaks, seg.start, seg.stop)
    count = (hi - lo).astype(float)
    return {
        "eda_tonic": seg_mean(signals["EDA_Tonic"].to_numpy(), seg.start, seg.stop),
        "scr_count": count, "scr_rate_per_min": count / seg.minutes(sfreq),
        "scr_amplitude": seg_event_mean(amp, lo, hi), "scr_rise_time_s": seg_event_mean(rise, lo, hi),
    }, None


def _heart(process, prefix, peak_key):
    def run(x, sfreq, seg, opts):
        out, err = _run_nk(process, x, sfreq)
        if out is None:
            return None, err
        signals, info = out
        beats = np.sort(np.asarray(info[peak_key], dtype=np.int64))
        rate, _, sdnn, rmssd = _rate(signals[f"{prefix}_Rate"].to_numpy(), beats, sfreq, seg)
        return {"hr_bpm": rate, "hrv_sdnn_ms": sdnn, "hrv_rmssd_ms": rmssd}, None

    return run


def _rsp(x, sfreq, seg, opts):
    out, err = _run_nk(_nk().rsp_process, x, sfreq)
    if out is None:
        return None, err
    signals, info = out
    breaths = np.sort(np.asarray(info["RSP_Peaks"], dtype=np.int64))
    rate, mean_ms, sd_ms, _ = _rate(signals["RSP_Rate"].to_numpy(), breaths, sfreq, seg)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = sd_ms / mean_ms
    return {"resp_rate_bpm": rate, "resp_amplitude": seg_mean(signals["RSP_Amplitude"].to_numpy(),
                                                              seg.start, seg.stop),
            "resp_irregularity": cv}, None


def _temperature(x, sfreq, seg, opts):
    return {"temp_mean": seg_mean(x, seg.start, seg.stop),
            "temp_slope_per_s": seg_slope(x, seg.start, seg.stop, sfreq)}, None


def _emg(x, sfreq, seg, opts):
    if sfreq >= _EMG_CLEAN_MIN_SFREQ:
        clean, err = _run_nk(_nk().emg_clean, x, sfreq)
        if clean is None:
            return None, err
        x = np.asarray(clean, dtype=float)
    return {"emg_rms": seg_rms(x, seg.start, seg.stop)}, None


def _eog(x, sfreq, seg, opts):
    out, err = _run_nk(_nk().eog_process, x, sfreq)
    if out is None:
        return None, err
    blinks = np.sort(np.asarray(out[1]["EOG_Blinks"], dtype=np.int64))
    lo, hi = seg_events(blinks, seg.start, seg.stop)
    count = (hi - lo).astype(float)
    return {"blink_count": count, "blink_rate_per_min": count / seg.minutes(sfreq)}, None


def _ecg_rate(signal, sampling_rate):
    """``ecg_process`` without the QRS delineation and cardiac phases (slow, and unused here).

    The same calls as neurokit2's ``ecg_process``: ``ecg_clean``, ``ecg_peaks`` with artefact
    correction, ``signal_rate``; so ``ECG_R_Peaks`` and ``ECG_Rate`` are identical to it.
    """
    nk = _nk()
    clean = nk.ecg_clean(signal, sampling_rate=sampling_rate)
    _, info = nk.ecg_peaks(ecg_cleaned=clean, sampling_rate=sampling_rate, correct_artifacts=True)
    rate = nk.signal_rate(info, sampling_rate=sampling_rate, desired_length=len(clean))
    return pd.DataFrame({"ECG_Rate": rate}), info


def _processor(kind):
    nk = _nk()
    return {"gsr": _eda, "ecg": _heart(_ecg_rate, "ECG", "ECG_R_Peaks"),
            "bio": _heart(nk.ppg_process, "PPG", "PPG_Peaks"), "resp": _rsp, "temperature": _temperature,
            "emg": _emg, "eog": _eog}[kind]


# ----------------------------------------------------------------------- orchestration
class _Issues:
    """Problems collected over trials and channels, warned once each with a count."""

    def __init__(self, n_trials: int):
        self.n_trials = n_trials
        self.items: dict[str, set] = {}

    def add(self, message: str, trials) -> None:
        self.items.setdefault(message, set()).update(trials)

    def emit(self) -> None:
        for message, trials in self.items.items():
            listed = sorted(trials)
            shown = ", ".join(str(t) for t in listed[:5]) + (", ..." if len(listed) > 5 else "")
            _warn(message.replace("{n}", f"{len(listed)} of {self.n_trials} trials ({shown})"))


def _channels(trials: Trials) -> list[tuple[str, int, str]]:
    """(kind, channel index, column suffix) of the channels used; warns about missing kinds."""
    out = []
    ecg = list(trials.picks("ecg"))
    for kind, human in PHYSIO_KINDS.items():
        idx = list(trials.picks(kind))
        if kind == "ecg" and not idx:
            continue  # said together with PPG below
        if kind == "bio" and ecg:
            if idx:
                logger.info("heart rate of subject %s from ECG channel %r; PPG channel %r not used",
                            trials.subject or "?", trials.ch_names[ecg[0]], trials.ch_names[idx[0]])
            continue
        if not idx:
            what = "ECG or PPG channel (channel type 'ecg' or 'bio')" if kind == "bio" else \
                f"{human} channel (channel type {kind!r})"
            _warn(f"No {what} in the trials of subject {trials.subject or '?'}; its physio_ features are absent.")
            continue
        if kind == "emg":
            out += [(kind, i, f"_{trials.ch_names[i]}") for i in idx]
            continue
        if kind == "eog":
            vertical = [i for i in idx if trials.ch_names[i].lower().startswith("v")]
            idx = vertical or idx
        out.append((kind, idx[0], ""))
    return out


def _session_signals(session: Session, trials: Trials, names: list[str]) -> dict[str, np.ndarray]:
    """The named channels of the session over the whole recording, in Trials units and rate."""
    validate_type(session, Session, "session")
    raw = session.raw
    missing = [n for n in names if n not in raw.ch_names]
    if missing:
        raise NeuromerError(f"The session has no channel {missing[0]!r} of the trials; pass the session "
                            "the trials were cut from.")
    types = dict(zip(raw.ch_names, raw.get_channel_types()))
    out = {}
    ratio = trials.sfreq / session.sfreq
    for name in names:
        x = raw.get_data(picks=[name])[0] * (1e6 if types[name] in MICROVOLT_TYPES else 1.0)
        if abs(ratio - 1.0) > 1e-9:
            # each finite stretch on its own: an FFT resampler would spread one NaN over everything
            import mne

            y = np.full(int(round(x.size * ratio)), np.nan)
            for a, b in zip(*finite_runs(x)):
                part = mne.filter.resample(x[a:b], up=ratio, npad="auto", verbose="error") if b - a > 1 \
                    else x[a:b]
                start = int(round(a * ratio))
                y[start:start + part.size] = part[:max(0, y.size - start)]
            x = y
        out[name] = x
    return out


def _contexts(starts, stops, n_samples, context_s, sfreq) -> _Segments:
    """Segments with the context of their interval measures: ``context_s`` centred on each segment
    (and at least the segment), clipped to the trial's samples ``[0, n_samples)``."""
    half = context_s * sfreq / 2.0
    centre = (starts + stops) / 2.0
    ctx_start = np.clip(np.minimum(starts, np.floor(centre - half)), 0, n_samples).astype(np.int64)
    ctx_stop = np.clip(np.maximum(stops, np.ceil(centre + half)), 0, n_samples).astype(np.int64)
    return _Segments(starts, stops, ctx_start, ctx_stop)


def _trial_origins(trials: Trials) -> np.ndarray:
    """Sample of the session at which each trial's first (baseline) sample lies."""
    onset = trials.metadata["onset_s"].to_numpy(float)
    if not np.isfinite(onset).all():
        raise NeuromerError("The trials' 'onset_s' column has missing values; physio features need each "
                            "trial's onset in the session to cut the continuous signals.")
    return np.round(onset * trials.sfreq).astype(np.int64) - int(round(trials.baseline_s * trials.sfreq))


def _process_span(x, sfreq, seg: _Segments, process, opts):
    """Process each finite stretch of one span that holds segments.

    Yields ``(mask of seg rows, values dict or None, reason or None)``; rows touching a NaN/inf
    sample (or outside the span) come first with the reason ``"nan"``.
    """
    run_lo, run_hi = finite_runs(x)
    r = np.searchsorted(run_lo, seg.start, "right") - 1
    inside = (r >= 0) & (seg.start >= 0) & (seg.stop <= np.where(r >= 0, run_hi[np.maximum(r, 0)], -1))
    if (~inside).any():
        yield ~inside, None, "nan"
    for run in np.unique(r[inside]):
        at = inside & (r == run)
        lo, hi = int(run_lo[run]), int(run_hi[run])
        part = seg.subset(at, lo)
        part.ctx_start = np.clip(part.ctx_start, 0, hi - lo)
        part.ctx_stop = np.clip(part.ctx_stop, 0, hi - lo)
        values, err = process(x[lo:hi], sfreq, part, opts)
        yield at, values, err


def _segment_features(trials: Trials, seg_trial: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                      n_rows: int, *, session: Session | None, min_scr_amplitude_us: float,
                      context_s: float, rows_name: str) -> pd.DataFrame:
    """Features for segments ``[starts, stops)`` (samples of each trial) of trials ``seg_trial``."""
    opts = {"min_scr_amplitude_us": check_positive(min_scr_amplitude_us, "min_scr_amplitude_us",
                                                   allow_zero=True)}
    context_s = check_positive(context_s, "context_s", allow_zero=True)
    sf, n = trials.sfreq, trials.n_samples
    valid = (stops <= n) & (stops > starts) & (starts >= 0)
    rel = _contexts(starts, stops, n, context_s, sf)
    labels = trials.metadata["trial"].to_numpy()
    chans = _channels(trials)
    if session is not None and len(trials.metadata):
        offset = _trial_origins(trials)[seg_trial]  # segment positions in the session
        continuous = _session_signals(session, trials, [trials.ch_names[ch] for _, ch, _ in chans])
    issues = _Issues(trials.n_trials)
    columns: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for kind, ch, suffix in chans:
        name = trials.ch_names[ch]
        done = np.zeros(n_rows, bool)
        feats = {f"physio_{key}{suffix}": np.full(n_rows, np.nan) for key in FEATURE_KEYS[kind]}
        sources.update({col: f"{PHYSIO_KINDS[kind]} channel {name!r}" for col in feats})
        if session is None:  # each trial is its own span
            spans = [(trials.data[i, ch].astype(np.float64), np.flatnonzero((seg_trial == i) & valid), 0)
                     for i in range(trials.n_trials)]
        elif n_rows:
            rows = np.flatnonzero(valid)
            spans = [(continuous[name], rows, offset[rows])]
        else:
            spans = []
        process = _processor(kind)
        for x, rows, shift in spans:
            if rows.size == 0:
                continue
            for at, values, err in _process_span(x, sf, rel.subset(rows, -shift), process, opts):
                where = labels[seg_trial[rows[at]]]
                if err == "nan":
                    issues.add(f"Channel {name!r} has NaN or infinite samples (or no samples) in {rows_name} of "
                               f"{{n}}; those {rows_name} are NaN.", where)
                elif values is None:
                    issues.add(f"Channel {name!r}: {err}, in {{n}}; their {PHYSIO_KINDS[kind]} features are NaN.",
                               where)
                else:
                    for key, v in values.items():
                        feats[f"physio_{key}{suffix}"][rows[at]] = v
                    done[rows[at]] = True
        for key, reason in _UNDEFINED.items():
            col = f"physio_{key}{suffix}"
            bad = done & ~np.isfinite(feats[col]) if col in feats else np.zeros(0, bool)
            if bad.any():
                _warn(f"{col} is NaN in {bad.sum()} of {done.sum()} {rows_name}: {reason} "
                      f"({context_s:g} s around each, within its trial).")
        columns.update(feats)
    issues.emit()
    table = pd.DataFrame(columns, index=range(n_rows))
    table.attrs["physio_sources"] = sources
    table.attrs["physio_span"] = "trial" if session is None else "session"
    logger.info("physio features of subject %s: signals processed per %s", trials.subject or "?",
                table.attrs["physio_span"])
    return table


def physio_window_features(trials: Trials, *, grid: WindowGrid = WindowGrid(), session: Session | None = None,
                           min_scr_amplitude_us: float = MIN_SCR_AMPLITUDE_US,
                           context_s: float = CONTEXT_S) -> pd.DataFrame:
    """Physiological features of every window of every trial's stimulus period.

    Parameters
    ----------
    trials : Trials
        Physiological channels are found by type: ``gsr``, ``ecg``, ``bio`` (PPG), ``resp``,
        ``temperature``, ``emg``, ``eog``; native units (EMG/EOG/ECG in µV).
    grid : WindowGrid
        The shared window grid.
    session : Session | None
        The recording the trials were cut from (:func:`~neuromer.make_trials`): its signals are
        processed over the whole recording, then cut. ``None`` processes each trial on its own
        (all a DEAP file allows). The trials' ``onset_s`` must be onsets in this session.
    min_scr_amplitude_us : float
        SCRs smaller than this (µS, the EDA channel's units) are not counted.
    context_s : float
        Length in seconds of the context, centred on each window and clipped to its trial, over
        which HRV, respiration irregularity and fallback rates are computed.

    Returns
    -------
    DataFrame
        :data:`~neuromer.windows.KEY_COLUMNS` then ``physio_*`` columns (see the module
        docstring), one row per (trial, window); ``attrs["physio_sources"]`` names the channel
        of each column.

    Examples
    --------
    >>> table = physio_window_features(trials, session=session)  # doctest: +SKIP
    >>> table[["t_start", "physio_hr_bpm", "physio_scr_count"]].head()  # doctest: +SKIP
    """
    validate_type(trials, Trials, "trials")
    validate_type(grid, WindowGrid, "grid")
    keys = grid.table(trials.metadata, trials.subject)
    pos = {t: i for i, t in enumerate(trials.metadata["trial"].astype(int))}
    seg_trial = keys["trial"].map(pos).to_numpy(int) if len(keys) else np.zeros(0, int)
    n_win, _ = grid.samples(trials.sfreq)
    starts = np.round((trials.baseline_s + keys["t_start"].to_numpy(float)) * trials.sfreq).astype(np.int64)
    feats = _segment_features(trials, seg_trial, starts, starts + n_win, len(keys), session=session,
                              min_scr_amplitude_us=min_scr_amplitude_us, context_s=context_s, rows_name="windows")
    table = pd.concat([keys.reset_index(drop=True), feats], axis=1)
    table.attrs.update(feats.attrs)
    return table


def physio_trial_features(trials: Trials, *, session: Session | None = None,
                          min_scr_amplitude_us: float = MIN_SCR_AMPLITUDE_US,
                          context_s: float = CONTEXT_S) -> pd.DataFrame:
    """The same physiological measures over each trial's whole stimulus period.

    Parameters are those of :func:`physio_window_features`; the context of interval measures
    spans at least the stimulus period.

    Returns
    -------
    DataFrame
        ``subject, trial, stimulus_id`` then ``physio_*`` columns, one row per trial. The period
        is ``duration_s`` from stimulus onset, cut at the end of the data held.
    """
    validate_type(trials, Trials, "trials")
    meta = trials.metadata
    first = int(round(trials.baseline_s * trials.sfreq))
    starts = np.full(trials.n_trials, first, dtype=np.int64)
    dur = np.nan_to_num(meta["duration_s"].to_numpy(float), nan=trials.stimulus_s)
    stops = np.minimum(first + np.round(dur * trials.sfreq).astype(np.int64), trials.n_samples)
    feats = _segment_features(trials, np.arange(trials.n_trials), starts, stops, trials.n_trials, session=session,
                              min_scr_amplitude_us=min_scr_amplitude_us, context_s=context_s, rows_name="trials")
    keys = pd.DataFrame({"subject": trials.subject, "trial": meta["trial"].astype(int).to_numpy(),
                         "stimulus_id": meta["stimulus_id"].astype(str).to_numpy()})
    table = pd.concat([keys, feats], axis=1)
    table.attrs.update(feats.attrs)
    return table


__all__ = ["CONTEXT_S", "FEATURE_KEYS", "MIN_SCR_AMPLITUDE_US", "PHYSIO_KINDS", "physio_trial_features",
           "physio_window_features"]
