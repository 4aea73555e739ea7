"""Preprocessing of a :class:`~neuromer.session.Session`, with a DEAP-like default.

The default follows the DEAP preprocessed release (Koelstra et al. 2012): down-sample to 128 Hz,
band-pass the EEG 4-45 Hz, average reference, remove EOG artefacts. Steps, in order:

0. ``bad_samples``: NaN/infinite samples stay local (:func:`~neuromer.badsamples.repair_nonfinite`):
   runs up to 50 ms are interpolated linearly, longer runs are annotated ``BAD_nonfinite`` (and
   NaN again in the trials), filled with a straight line only so that filters can run.
1. ``bad_channels``: find EEG channels that are flat, more than half NaN/inf, or whose log
   standard deviation is a robust outlier (> 5 scaled MADs from the median).
2. ``resample`` to ``sfreq`` (MNE's FFT resampling with its anti-alias filter).
3. ``filter``: FIR band-pass ``l_freq``-``h_freq`` of the EEG and EOG channels (EOG is filtered
   with the EEG so that the regression weights apply to like signals).
4. ``interpolate_bads``: spherical-spline interpolation of the bad channels (needs positions;
   otherwise they stay marked bad, with a warning).
5. ``reference``: common average reference of the EEG.
6. ``eog_regression`` (:class:`mne.preprocessing.EOGRegression`, EOG channels as regressors) or
   ``eog_ica`` (:class:`mne.preprocessing.ICA`, components matching the EOG excluded).
7. ``physio_clean``: neurokit2 cleaning of GSR (``eda_clean``), PPG (``ppg_clean``), respiration
   (``rsp_clean``), ECG (``ecg_clean``) and EMG (``emg_clean``, at >= 250 Hz only).

Each step that runs is recorded with its parameters by :meth:`Session.add_step`.
"""

from __future__ import annotations

import warnings

import mne
import numpy as np

from ._checks import check_option, check_positive, validate_type
from ._logging import logger
from .errors import NeuromerError
from .badsamples import BAD_NONFINITE, repair_nonfinite
from .session import Session

_MAX_NONFINITE_FRACTION = 0.5  # a channel with more NaN/inf samples than this is a bad channel
_ROBUST_Z = 5.0  # scaled MADs of log-SD beyond which a channel is called noisy
_EMG_CLEAN_MIN_SFREQ = 250.0  # neurokit2's emg_clean high-passes at 100 Hz


def _warn(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def find_bad_channels(raw: mne.io.BaseRaw) -> dict[str, list[str]]:
    """EEG channels that are flat, non-finite or robust outliers in log standard deviation.

    The outlier test looks at the signal above 15 Hz, so that blinks and slow drifts, which are
    largest on good frontal channels, do not make those channels look bad.

    Returns
    -------
    dict
        ``{"flat": [...], "nonfinite": [...], "noisy": [...]}`` channel names.
    """
    picks = mne.pick_types(raw.info, eeg=True, exclude=[])
    names = [raw.ch_names[i] for i in picks]
    data = raw.get_data(picks=picks)
    finite = np.isfinite(data).all(axis=1)
    with np.errstate(invalid="ignore"):
        sd = np.nanstd(data, axis=1)
    flat = finite & (sd <= 1e-12)  # volts: below any real EEG amplifier's noise floor
    ok = finite & ~flat
    noisy = np.zeros(len(names), bool)
    sfreq = raw.info["sfreq"]
    if ok.sum() >= 4 and sfreq > 2 * 16.0:
        high = mne.filter.filter_data(data[ok], sfreq, 15.0, None, verbose="error")
        log_sd = np.log(np.maximum(high.std(axis=1), 1e-30))
        med = np.median(log_sd)
        mad = 1.4826 * np.median(np.abs(log_sd - med))
        if mad > 0:
            noisy[np.flatnonzero(ok)[np.abs(log_sd - med) / mad > _ROBUST_Z]] = True
    return {"flat": [n for n, f in zip(names, flat) if f],
            "nonfinite": [n for n, f in zip(names, finite) if not f],
            "noisy": [n for n, f in zip(names, noisy) if f]}


def _has_positions(raw, names) -> bool:
    locs = {ch["ch_name"]: ch["loc"][:3] for ch in raw.info["chs"]}
    good = [n for n in raw.ch_names if n not in names and n in locs]
    return all(np.isfinite(locs[n]).all() and np.any(locs[n] != 0) for n in names) and bool(good)


def _physio_clean(raw: mne.io.BaseRaw) -> dict[str, str]:
    import neurokit2 as nk

    sfreq = raw.info["sfreq"]
    cleaners = {"gsr": ("eda_clean", nk.eda_clean), "bio": ("ppg_clean", nk.ppg_clean),
                "resp": ("rsp_clean", nk.rsp_clean), "ecg": ("ecg_clean", nk.ecg_clean)}
    if sfreq >= _EMG_CLEAN_MIN_SFREQ:
        cleaners["emg"] = ("emg_clean", nk.emg_clean)
    done = {}
    for name, kind in zip(raw.ch_names, raw.get_channel_types()):
        if kind not in cleaners:
            continue
        label, func = cleaners[kind]
        x = raw.get_data(picks=[name])[0]
        if not np.isfinite(x).all() or np.ptp(x) == 0:
            _warn(f"Channel {name!r} is flat or has NaN samples; left uncleaned.")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clean = np.asarray(func(x, sampling_rate=int(round(sfreq))), dtype=float)
        except Exception as exc:  # neurokit2 raises many types on signals it cannot handle
            _warn(f"neurokit2 {label} failed on channel {name!r} ({type(exc).__name__}: {exc}); left uncleaned.")
            continue
        raw._data[raw.ch_names.index(name)] = clean
        done[name] = label
    return done


def _forget_bad_spans(raw: mne.io.BaseRaw, channels: list[str]) -> None:
    """Drop BAD_nonfinite annotations that only concern channels rebuilt from their neighbours."""
    ann = raw.annotations
    drop = [i for i, (d, chs) in enumerate(zip(ann.description, ann.ch_names))
            if d == BAD_NONFINITE and len(chs) and set(chs) <= set(channels)]
    if drop:
        ann.delete(drop)


def preprocess(session: Session, *, sfreq: float | None = 128.0, l_freq: float | None = 4.0,
               h_freq: float | None = 45.0, reference: str | None = "average",
               eog: str | None = "regression", bad_channels="auto", physio: bool = True,
               random_state: int | None = 0) -> Session:
    """Clean a session's signals; returns a new :class:`Session` (the input is untouched).

    Parameters
    ----------
    session : Session
    sfreq : float | None
        Target sampling rate in Hz (``None`` keeps the rate).
    l_freq, h_freq : float | None
        EEG band-pass edges in Hz (``None`` leaves that edge open). ``h_freq`` at or above the
        Nyquist frequency of the target rate is dropped with a warning.
    reference : {"average", None}
        EEG reference.
    eog : {"regression", "ica", None}
        EOG artefact handling; skipped with a warning when there is no EOG channel.
    bad_channels : "auto" | list of str | None
        ``"auto"`` detects bad EEG channels (:func:`find_bad_channels`), a list names them,
        ``None`` skips detection. Bad channels are interpolated.
    physio : bool
        Clean physiological channels with neurokit2.
    random_state : int | None
        Seed of the ICA (``eog="ica"``).

    Returns
    -------
    Session
        With the processed :class:`mne.io.Raw` and every step in ``provenance["steps"]``.
    """
    validate_type(session, Session, "session")
    check_option(reference, ["average", None], "reference")
    check_option(eog, ["regression", "ica", None], "eog")
    if sfreq is not None:
        sfreq = check_positive(sfreq, "sfreq")
    for name, val in (("l_freq", l_freq), ("h_freq", h_freq)):
        if val is not None:
            check_positive(val, name)
    if l_freq is not None and h_freq is not None and l_freq >= h_freq:
        raise NeuromerError(f"Invalid band-pass: l_freq={l_freq} must be below h_freq={h_freq}.")
    if not (bad_channels in ("auto", None) or isinstance(bad_channels, (list, tuple))):
        check_option(bad_channels, ["auto", None, "a list of channel names"], "bad_channels")

    out = session.copy()
    raw = out.raw.load_data()
    has_eeg = "eeg" in raw.get_channel_types()

    # 0. NaN/inf samples stay local: short runs interpolated, long ones annotated BAD_nonfinite
    # (made NaN again in the trials); a channel more than half non-finite is a bad channel
    nonfinite_fraction = 1.0 - np.isfinite(raw._data).mean(axis=1)
    mostly_nonfinite = [n for n, f in zip(raw.ch_names, nonfinite_fraction) if f > _MAX_NONFINITE_FRACTION]
    source = (session.provenance.get("source_files") or [""])[0] or session.subject
    report = repair_nonfinite(raw, source=str(source))
    if report["n_nonfinite"]:
        out.add_step("bad_samples", **report)

    # 1. bad channels (before anything mixes channels)
    if bad_channels == "auto" and has_eeg:
        found = find_bad_channels(raw)
        eeg_names = set(np.asarray(raw.ch_names)[mne.pick_types(raw.info, eeg=True, exclude=[])])
        found["nonfinite"] = [n for n in mostly_nonfinite if n in eeg_names]
        bads = found["flat"] + found["nonfinite"] + found["noisy"]
        raw.info["bads"] = sorted(set(raw.info["bads"]) | set(bads))
        out.add_step("bad_channels", method="auto", bads=list(raw.info["bads"]), **found)
    elif isinstance(bad_channels, (list, tuple)):
        unknown = [c for c in bad_channels if c not in raw.ch_names]
        if unknown:
            raise NeuromerError(f"bad_channels names channel(s) {unknown} not in the recording.")
        raw.info["bads"] = sorted(set(raw.info["bads"]) | set(bad_channels))
        out.add_step("bad_channels", method="given", bads=list(raw.info["bads"]))

    # 2. resample
    if sfreq is not None and abs(sfreq - raw.info["sfreq"]) > 1e-9:
        old = raw.info["sfreq"]
        raw.resample(sfreq, verbose="error")
        out.add_step("resample", sfreq=sfreq, from_sfreq=old)

    # 3. band-pass
    nyquist = raw.info["sfreq"] / 2.0
    if h_freq is not None and h_freq >= nyquist:
        _warn(f"h_freq={h_freq} Hz is not below the Nyquist frequency ({nyquist} Hz); low-pass skipped.")
        h_freq = None
    types = [t for t in ("eeg", "eog") if t in raw.get_channel_types()]
    if types and (l_freq is not None or h_freq is not None):
        raw.filter(l_freq, h_freq, picks=types, method="fir", phase="zero", verbose="error")
        out.add_step("filter", l_freq=l_freq, h_freq=h_freq, picks=types, method="fir", phase="zero")

    # 4. interpolate bad EEG channels
    bads = [b for b in raw.info["bads"] if b in raw.ch_names and raw.get_channel_types([b])[0] == "eeg"]
    if bads:
        if _has_positions(raw, bads):
            raw.interpolate_bads(reset_bads=True, verbose="error")
            out.add_step("interpolate_bads", channels=bads, method="spline")
            _forget_bad_spans(raw, bads)
        else:
            _warn(f"Bad channel(s) {bads} have no electrode positions; left marked bad, not interpolated.")

    # 5. reference
    if reference == "average" and has_eeg:
        raw.set_eeg_reference("average", projection=False, verbose="error")
        out.add_step("reference", reference="average")

    # 6. EOG artefacts
    eog_chs = [n for n, t in zip(raw.ch_names, raw.get_channel_types()) if t == "eog"]
    if eog is not None and has_eeg:
        if not eog_chs:
            _warn(f"eog={eog!r} but the recording has no EOG channel; EOG artefacts not removed.")
        elif eog == "regression":
            model = mne.preprocessing.EOGRegression(picks="eeg", picks_artifact="eog", proj=False)
            model.fit(raw).apply(raw, copy=False)
            out.add_step("eog_regression", method="EOGRegression", regressors=eog_chs)
        else:
            n_good = len(mne.pick_types(raw.info, eeg=True, exclude="bads"))
            ica = mne.preprocessing.ICA(n_components=max(1, min(15, n_good - 1)), random_state=random_state,
                                        max_iter="auto", verbose="error")
            ica.fit(raw, picks="eeg", verbose="error")
            excluded, _ = ica.find_bads_eog(raw, ch_name=eog_chs, verbose="error")
            ica.exclude = list(excluded)
            ica.apply(raw, verbose="error")
            out.add_step("eog_ica", method="ICA", n_components=int(ica.n_components_),
                         excluded=[int(i) for i in excluded], regressors=eog_chs, random_state=random_state)

    # 7. physiological channels
    if physio:
        cleaned = _physio_clean(raw)
        if cleaned:
            out.add_step("physio_clean", channels=cleaned, package="neurokit2")
    logger.info("preprocessed %s: %s", session.subject or "session",
                ", ".join(s["step"] for s in out.provenance["steps"][len(session.provenance["steps"]):]))
    return out


__all__ = ["find_bad_channels", "preprocess"]
