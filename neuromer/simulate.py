"""Synthetic music-emotion studies with planted, known effects.

:func:`simulate_study` writes, deterministically from a seed (same seed, byte-identical files):

- ``stimuli/*.wav``: music synthesised with controlled tempo, mode, loudness, brightness and
  articulation. Each stimulus has a planted valence and arousal (1-9) and Russell quadrant; the
  cues follow music psychology (Gabrielsson & Lindström 2010; Juslin & Laukka 2004): arousal
  raises tempo, loudness, brightness and shortens notes (staccato); valence picks major vs minor.
- ``protocol.toml``: the protocol of the study (stimuli, timing, markers, streams).
- ``xdf/sub-XX.xdf``: per subject an LSL-style recording: EEG (32 channels in DEAP names at
  512 Hz, on a remote clock with a known offset and small timestamp jitter), ExG (hEOG, vEOG,
  zEMG, tEMG at 512 Hz), GSR (32 Hz), PPG (128 Hz), respiration (32 Hz), temperature (4 Hz) and a
  string marker stream following the protocol.
- ``deap/sXX.dat``: the same data in the DEAP preprocessed layout (128 Hz, 3 s baseline, 40
  channels in the Geneva order, trials sorted by stimulus id as in DEAP).
- ``ground_truth.csv``: what was planted, per subject and trial.

Planted effects during each stimulus: frontal alpha asymmetry ``ln P_alpha(right) - ln
P_alpha(left) = faa_gain * (valence - 5)`` on the six frontal pairs; beta/gamma (13-45 Hz)
amplitude ``x exp(0.15 * (arousal - 5))``; skin-conductance responses at ``2 + 10 * (arousal - 1)
/ 8`` per minute; heart rate ``+2.5 bpm`` per arousal point; blinks in EOG and frontal EEG.
Ratings are noisy readings (SD 1) of the planted valence and arousal, rounded to the 1-9 scale.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.signal

from ._checks import check_positive, validate_type
from ._logging import logger
from .errors import NeuromerError
from .io._atomic import atomic_path
from .protocol import Markers, Protocol, RatingScales, Stimulus, StreamSpec, Timing
from .session import Trials

EEG_CHANNELS = ("Fp1 AF3 F3 F7 FC5 FC1 C3 T7 CP5 CP1 P3 P7 PO3 O1 Oz Pz "
                "Fp2 AF4 Fz F4 F8 FC6 FC2 Cz C4 T8 CP6 CP2 P4 P8 PO4 O2").split()
LEFT_FRONTAL = ("Fp1", "AF3", "F3", "F7", "FC5", "FC1")
RIGHT_FRONTAL = ("Fp2", "AF4", "F4", "F8", "FC6", "FC2")
#: (stream name, LSL type, channels, MNE kinds, rate in Hz, unit)
PHYSIO_STREAMS = (
    ("ExG", "EXG", ("hEOG", "vEOG", "zEMG", "tEMG"), ("eog", "eog", "emg", "emg"), 512.0, "microvolts"),
    ("GSR", "GSR", ("GSR",), ("gsr",), 32.0, "microsiemens"),
    ("Resp", "RESP", ("Respiration belt",), ("resp",), 32.0, "au"),
    ("PPG", "PPG", ("Plethysmograph",), ("bio",), 128.0, "au"),
    ("Temp", "Temperature", ("Temperature",), ("temperature",), 4.0, "celsius"),
)
DEAP_PERIPHERAL = ("hEOG", "vEOG", "zEMG", "tEMG", "GSR", "Respiration belt", "Plethysmograph", "Temperature")
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")  # Russell: Q1 +A+V, Q2 +A-V, Q3 -A-V, Q4 -A+V
AUDIO_SR = 22050
LEAD_S = 5.0  # rest before the first and after the last trial


@dataclass
class Study:
    """Paths of a simulated study."""

    root: Path
    protocol: Path
    stimuli: list[Path] = field(default_factory=list)
    xdf: list[Path] = field(default_factory=list)
    deap: list[Path] = field(default_factory=list)
    ground_truth: Path | None = None

    def __repr__(self) -> str:
        return f"<Study {self.root} | {len(self.xdf)} subjects, {len(self.stimuli)} stimuli>"


def simulate_study(out_dir: str | os.PathLike, *, n_subjects: int = 4, n_trials: int = 8,
                   stimulus_s: float = 15.0, baseline_s: float = 3.0, seed: int = 0,
                   faa_gain: float = 0.35, overwrite: bool = False) -> Study:
    """Write a whole synthetic study (see the module docstring for what is planted).

    Parameters
    ----------
    out_dir : path-like
        Folder to create. An existing non-empty folder is refused unless ``overwrite``.
    n_subjects : int
        Number of subjects (>= 1).
    n_trials : int
        Trials per subject = number of stimuli (>= 1); every subject hears every stimulus once,
        in a subject-specific order.
    stimulus_s, baseline_s : float
        Stimulus and pre-stimulus baseline durations in seconds.
    seed : int
        Random seed; the same seed writes byte-identical files.
    faa_gain : float
        Planted frontal alpha asymmetry (log power ratio) per valence point.

    Returns
    -------
    Study
    """
    validate_type(n_subjects, int, "n_subjects")
    validate_type(n_trials, int, "n_trials")
    validate_type(seed, int, "seed")
    if n_subjects < 1 or n_trials < 1:
        raise NeuromerError(f"n_subjects and n_trials must be >= 1, got {n_subjects} and {n_trials}.")
    stimulus_s = check_positive(stimulus_s, "stimulus_s")
    baseline_s = check_positive(baseline_s, "baseline_s", allow_zero=True)
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise NeuromerError(f"{root}: folder exists and is not empty; refusing to overwrite it.")
        shutil.rmtree(root)
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    stim_table = _plan_stimuli(n_trials, rng)
    study = Study(root=root, protocol=root / "protocol.toml")
    for _, st in stim_table.iterrows():
        path = root / "stimuli" / f"{st.stimulus_id}.wav"
        _write_wav(path, synthesize_music(duration_s=stimulus_s, seed=int(st.audio_seed), **_cues(st)))
        study.stimuli.append(path)
    protocol = _protocol(stim_table, study, stimulus_s, baseline_s)
    with atomic_path(study.protocol) as tmp:
        tmp.write_text(protocol.dumps(), encoding="utf-8")

    truth = []
    for s in range(1, n_subjects + 1):
        sub_rng = np.random.default_rng([seed, s])
        rows, xdf_path, dat_path = _simulate_subject(root, f"{s:02d}", protocol, stim_table, sub_rng,
                                                     faa_gain=faa_gain)
        truth += rows
        study.xdf.append(xdf_path)
        study.deap.append(dat_path)
        logger.info("simulated subject %02d", s)
    study.ground_truth = root / "ground_truth.csv"
    pd.DataFrame(truth).to_csv(study.ground_truth, index=False, float_format="%.6g")
    return study


# ----------------------------------------------------------------------------- stimuli
def _plan_stimuli(n: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for i in range(n):
        q = QUADRANTS[i % 4]
        high_a, pos_v = q in ("Q1", "Q2"), q in ("Q1", "Q4")
        # spread stimuli over each quadrant so arousal has a full ranking, not four ties
        arousal = (6.0 if high_a else 1.5) + 2.5 * rng.uniform()
        valence = (6.0 if pos_v else 1.5) + 2.5 * rng.uniform()
        rows.append({"stimulus_id": f"stim{i + 1:02d}", "quadrant": q, "valence": round(valence, 3),
                     "arousal": round(arousal, 3), "audio_seed": int(rng.integers(2**31))})
    df = pd.DataFrame(rows)
    cues = pd.DataFrame([_cues(r) for _, r in df.iterrows()])
    return pd.concat([df, cues], axis=1)


def _cues(st) -> dict:
    a = float(st["arousal"])
    u = (a - 1) / 8  # 0..1
    return {"tempo_bpm": round(60 + 100 * u, 2), "mode": "major" if float(st["valence"]) > 5 else "minor",
            "loudness_db": round(-26 + 18 * u, 2), "brightness": round(0.15 + 0.8 * u, 3),
            "articulation": round(0.95 - 0.55 * u, 3)}


def synthesize_music(*, duration_s: float, tempo_bpm: float, mode: str, loudness_db: float,
                     brightness: float, articulation: float, seed: int = 0, sr: int = AUDIO_SR) -> np.ndarray:
    """Synthesise a melody with triad accompaniment and a beat.

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    tempo_bpm : float
        Beats per minute; the melody plays one note per beat, the beat a click per beat.
    mode : ``"major"`` | ``"minor"``
        Scale and chords (I-IV-V-I or i-iv-v-i, one chord a bar of four beats).
    loudness_db : float
        RMS level in dB full scale (about).
    brightness : float
        0..1: spectral tilt of the harmonics (1 = bright, many strong harmonics).
    articulation : float
        Fraction of each beat a note sounds (0.4 staccato .. 0.95 legato).
    seed : int
        Seed of the melody's random walk.

    Returns
    -------
    ndarray, shape (n_samples,)
        Mono float64 signal at ``sr`` Hz, peak below 1.
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    t = np.arange(n) / sr
    y = np.zeros(n)
    scale = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10)
    root = 57 + int(rng.integers(0, 5))  # A3..C#4
    beat = 60.0 / tempo_bpm
    n_beats = int(np.ceil(duration_s / beat))
    tilt = 3.0 - 2.4 * brightness  # harmonic k has amplitude k**-tilt
    harmonics = np.arange(1, 9)
    amps = harmonics ** -tilt

    def tone(midi, start, length, level):
        i0, i1 = int(start * sr), min(n, int((start + length) * sr))
        if i1 <= i0:
            return
        tt = t[i0:i1] - start
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        keep = harmonics * f0 < sr / 2.2
        wave = (amps[keep, None] * np.sin(2 * np.pi * f0 * harmonics[keep, None] * tt)).sum(0)
        env = np.minimum(1, tt / 0.01) * np.minimum(1, (length - tt) / 0.02)  # click-free gate
        y[i0:i1] += level * env * wave

    degree = 7
    for b in range(n_beats):
        degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, 13))
        midi = root + 12 + 12 * (degree // 7) + scale[degree % 7]
        tone(midi, b * beat, articulation * beat, 0.5)
        # a short noise burst (kick-like) marks the beat
        i0 = int(b * beat * sr)
        k = np.arange(min(int(0.03 * sr), n - i0))
        y[i0:i0 + len(k)] += 0.4 * np.exp(-k / (0.006 * sr)) * np.sin(2 * np.pi * 60 * k / sr)
    chords = (0, 3, 4, 0)  # I IV V I (scale degrees)
    bar = 4 * beat
    for b in range(int(np.ceil(duration_s / bar))):
        d = chords[b % 4]
        for step in (0, 2, 4):
            midi = root - 12 + 12 * ((d + step) // 7) + scale[(d + step) % 7]
            tone(midi, b * bar, bar * 0.98, 0.18)
    rms = np.sqrt(np.mean(y ** 2)) or 1.0
    y *= 10 ** (loudness_db / 20) / rms
    peak = np.max(np.abs(y))
    return y / peak * 0.98 if peak > 0.98 else y


def _write_wav(path: Path, y: np.ndarray, sr: int = AUDIO_SR) -> None:
    import io

    import soundfile as sf

    # encode in memory, then write the bytes ourselves: libsndfile reports a full disk only as
    # "System error", a plain file write raises the OSError that names the cause
    buf = io.BytesIO()
    sf.write(buf, y, sr, subtype="PCM_16", format="WAV")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def _protocol(stim_table: pd.DataFrame, study: Study, stimulus_s: float, baseline_s: float) -> Protocol:
    stimuli = tuple(
        Stimulus(r.stimulus_id, (study.root / "stimuli" / f"{r.stimulus_id}.wav").resolve(),
                 {k: (r[k].item() if hasattr(r[k], "item") else r[k])
                  for k in ("quadrant", "valence", "arousal", "tempo_bpm", "mode", "loudness_db",
                            "brightness", "articulation")})
        for _, r in stim_table.iterrows())
    streams = (StreamSpec("EEG", "EEG", tuple(EEG_CHANNELS), ("eeg",) * 32),
               *(StreamSpec(t, n, ch, k) for n, t, ch, k, _, _ in PHYSIO_STREAMS),
               StreamSpec("Markers", "Markers"))
    return Protocol(name="simulated_music", description="Simulated music-listening study (neuromer.simulate)",
                    timing=Timing(baseline_s, stimulus_s, 5.0, 2.0), markers=Markers(),
                    ratings=RatingScales(), streams=streams, stimuli=stimuli,
                    path=study.protocol.resolve())


# ----------------------------------------------------------------------------- subjects
def _simulate_subject(root: Path, sub: str, protocol: Protocol, stim_table: pd.DataFrame,
                      rng: np.random.Generator, *, faa_gain: float):
    from .io.deap import write_deap
    from .io.xdf import XdfWriter, stream_info_xml

    tm = protocol.timing
    trial_s = tm.baseline_s + tm.stimulus_s + tm.rating_s + tm.inter_trial_s
    order = rng.permutation(len(stim_table))
    n_trials = len(order)
    total_s = 2 * LEAD_S + n_trials * trial_s
    starts = LEAD_S + np.arange(n_trials) * trial_s  # trial (= baseline) starts, s from session start
    onsets = starts + tm.baseline_s
    stims = stim_table.iloc[order].reset_index(drop=True)

    # ratings: noisy readings of the planted emotion
    def rate(x):
        return np.clip(np.round(x + rng.normal(0, 1.0, n_trials)), 1, 9)
    ratings = {"valence": rate(stims.valence.to_numpy()), "arousal": rate(stims.arousal.to_numpy())}
    ratings["dominance"] = rate(0.6 * stims.arousal.to_numpy() + 2.0)
    ratings["liking"] = rate(0.7 * stims.valence.to_numpy() + 1.5)

    # emotion time courses: the stimulus' value while it plays, neutral (5) elsewhere
    fine_sr = 512.0
    t_fine = np.arange(int(total_s * fine_sr)) / fine_sr
    in_stim = np.zeros_like(t_fine)
    val_t, aro_t = np.full_like(t_fine, 5.0), np.full_like(t_fine, 5.0)
    for k in range(n_trials):
        sel = (t_fine >= onsets[k]) & (t_fine < onsets[k] + tm.stimulus_s)
        in_stim[sel], val_t[sel], aro_t[sel] = 1.0, stims.valence[k], stims.arousal[k]
    ramp = np.hanning(int(0.5 * fine_sr)); ramp /= ramp.sum()  # 0.5 s transitions, no steps
    val_t, aro_t = (np.convolve(x - 5, ramp, "same") + 5 for x in (val_t, aro_t))

    eeg = _eeg(t_fine, val_t, aro_t, rng, faa_gain=faa_gain * rng.uniform(0.8, 1.2))
    blinks = _blinks(total_s, rng)
    physio_fns = _physio(aro_t, t_fine, rng, onsets, stims.arousal.to_numpy(), tm.stimulus_s)
    exg = _exg(t_fine, aro_t, blinks, rng)
    eeg += _blink_leak(t_fine, blinks)

    # ---- XDF: EEG on a remote clock (offset + jitter), others on the local clock
    lsl0 = 4000.0 + 37.0 * int(sub)
    eeg_offset = 0.25  # local = remote + offset
    xdf_path = root / "xdf" / f"sub-{sub}.xdf"
    xdf_path.parent.mkdir(exist_ok=True)
    with XdfWriter(xdf_path) as w:
        streams = [("EEG", "EEG", EEG_CHANNELS, ("eeg",) * 32, 512.0, "microvolts", eeg, -eeg_offset)]
        streams += [(n, ty, ch, k, sr, unit, None, 0.0) for n, ty, ch, k, sr, unit in PHYSIO_STREAMS]
        sid = 0
        for name, stype, chans, kinds, sr, unit, arr, shift in streams:
            sid += 1
            w.add_stream(sid, stream_info_xml(
                name=name, type=stype, channel_count=len(chans), nominal_srate=sr, channel_format="float32",
                source_id=f"neuromer-sim-{sub}-{name}", uid=f"sim-{sub}-{sid}", created_at=lsl0,
                channels=[{"label": c, "type": k.upper(), "unit": unit} for c, k in zip(chans, kinds)]))
            t_true = np.arange(int(total_s * sr)) / sr
            if arr is None:
                arr = exg if name == "ExG" else physio_fns[name](t_true)[:, None]
            ts = lsl0 + t_true + shift + rng.normal(0, 5e-5, len(t_true)) * (sr > 10)
            step = int(5 * sr)
            for i in range(0, len(t_true), step):
                w.write_samples(sid, ts[i:i + step], np.asarray(arr[i:i + step], dtype=np.float32))
            if shift:
                for ct in np.arange(0, total_s, 5.0):
                    w.write_clock_offset(sid, lsl0 + ct + shift, -shift)
            w.write_footer(sid, first_timestamp=float(ts[0]), last_timestamp=float(ts[-1]),
                           sample_count=len(ts), clock_offsets=[(lsl0 + ct + shift, -shift)
                                                                for ct in np.arange(0, total_s, 5.0)] if shift else None)
        sid += 1
        w.add_stream(sid, stream_info_xml(name="Markers", type="Markers", channel_count=1, nominal_srate=0,
                                          channel_format="string", source_id=f"neuromer-sim-{sub}-markers",
                                          uid=f"sim-{sub}-{sid}", created_at=lsl0))
        m_t, m_s = _markers(protocol, starts, stims.stimulus_id.tolist(), ratings)
        w.write_samples(sid, lsl0 + np.asarray(m_t), m_s)
        w.write_footer(sid, first_timestamp=lsl0 + m_t[0], last_timestamp=lsl0 + m_t[-1], sample_count=len(m_t))

    # ---- DEAP layout: 128 Hz, baseline + stimulus, Geneva order, trials by stimulus id
    sr_d = 128.0
    n_base, n_stim = int(round(tm.baseline_s * sr_d)), int(round(tm.stimulus_s * sr_d))
    eeg_d = scipy.signal.resample_poly(eeg, 1, 4, axis=0)
    exg_d = scipy.signal.resample_poly(exg, 1, 4, axis=0)
    t_d = np.arange(eeg_d.shape[0]) / sr_d
    phys_d = np.column_stack([exg_d] + [physio_fns[n](t_d) for n in ("GSR", "Resp", "PPG", "Temp")])
    full = np.column_stack([eeg_d, phys_d])  # Geneva EEG + DEAP peripheral order
    by_stim = np.argsort(stims.stimulus_id.to_numpy(), kind="stable")
    data = np.empty((n_trials, 40, n_base + n_stim))
    for j, k in enumerate(by_stim):
        i0 = int(round(onsets[k] * sr_d)) - n_base
        data[j] = full[i0:i0 + n_base + n_stim].T
    meta = pd.DataFrame({"trial": by_stim + 1, "stimulus_id": stims.stimulus_id.to_numpy()[by_stim],
                         "onset_s": onsets[by_stim], "duration_s": tm.stimulus_s,
                         **{k: v[by_stim] for k, v in ratings.items()}})
    trials = Trials(data, sr_d, EEG_CHANNELS + list(DEAP_PERIPHERAL), baseline_s=tm.baseline_s,
                    metadata=meta, subject=sub)
    dat_path = root / "deap" / f"s{sub}.dat"
    write_deap(trials, dat_path, overwrite=False)

    rows = [{"subject": sub, "trial": k + 1, "stimulus_id": stims.stimulus_id[k], "quadrant": stims.quadrant[k],
             "planted_valence": stims.valence[k], "planted_arousal": stims.arousal[k],
             "planted_faa": faa_gain * (stims.valence[k] - 5),
             "planted_beta_gain": float(np.exp(0.15 * (stims.arousal[k] - 5))),
             "planted_scr_per_min": 2 + 10 * (stims.arousal[k] - 1) / 8,
             "onset_s": onsets[k], **{n: ratings[n][k] for n in ratings}} for k in range(n_trials)]
    return rows, xdf_path, dat_path


def _markers(protocol: Protocol, starts, stim_ids, ratings):
    tm, mk = protocol.timing, protocol.markers
    times, texts = [], []
    for k, (t0, sid) in enumerate(zip(starts, stim_ids)):
        on = t0 + tm.baseline_s
        off = on + tm.stimulus_s
        events = [(t0, mk.format("trial_start")), (t0, mk.format("baseline_start")),
                  (on, mk.format("stimulus_on", stimulus_id=sid)), (off, mk.format("stimulus_off", stimulus_id=sid))]
        for j, scale in enumerate(("valence", "arousal", "dominance", "liking")):
            events.append((off + 1.0 + j, mk.format("rating", scale=scale, value=f"{ratings[scale][k]:g}")))
        times += [e[0] for e in events]
        texts += [e[1] for e in events]
    return times, texts


def _band_noise(n: int, sr: float, lo: float, hi: float, rng, n_ch: int, *, pink: bool = False) -> np.ndarray:
    """Gaussian noise with a flat (or 1/f) spectrum between lo and hi Hz, unit variance per channel."""
    spec = rng.normal(size=(n // 2 + 1, n_ch)) + 1j * rng.normal(size=(n // 2 + 1, n_ch))
    f = np.fft.rfftfreq(n, 1 / sr)
    gain = ((f >= lo) & (f <= hi)).astype(float)
    if pink:
        gain /= np.sqrt(np.maximum(f, lo))
    x = np.fft.irfft(spec * gain[:, None], n, axis=0)
    return x / x.std(axis=0, keepdims=True)


def _eeg(t, val_t, aro_t, rng, *, faa_gain: float) -> np.ndarray:
    n, sr = len(t), 512.0
    # 1/f background, alpha rhythm (stronger posteriorly) and beta/gamma, all below 45 Hz like
    # DEAP's band-passed data, so any resampler gives the same 128 Hz signal
    x = 8.0 * _band_noise(n, sr, 1.0, 45.0, rng, 32, pink=True)
    alpha = _band_noise(n, sr, 8.5, 11.5, rng, 32)
    posterior = np.array([c.startswith(("P", "O")) for c in EEG_CHANNELS])
    alpha_amp = np.where(posterior, 9.0, 6.0) * rng.uniform(0.85, 1.15, 32)
    gain = np.ones((n, 32))
    half = faa_gain * (val_t - 5) / 4  # amplitude; power ratio right/left = exp(faa_gain*(v-5))
    for c, ch in enumerate(EEG_CHANNELS):
        if ch in LEFT_FRONTAL:
            gain[:, c] = np.exp(-half)
        elif ch in RIGHT_FRONTAL:
            gain[:, c] = np.exp(half)
    x += alpha * alpha_amp * gain
    fast = _band_noise(n, sr, 13.0, 45.0, rng, 32) * 3.0
    x += fast * np.exp(0.15 * (aro_t - 5))[:, None]
    return x


def _blinks(total_s: float, rng) -> np.ndarray:
    n = rng.poisson(total_s * 15 / 60)
    return np.sort(rng.uniform(1, total_s - 1, n))


def _blink_shape(t, blinks):
    out = np.zeros_like(t)
    for b in blinks:
        sel = np.abs(t - b) < 0.5
        out[sel] += np.exp(-0.5 * ((t[sel] - b) / 0.08) ** 2)
    return out


def _blink_leak(t, blinks) -> np.ndarray:
    shape = 150.0 * _blink_shape(t, blinks)
    leak = {"Fp1": 0.5, "Fp2": 0.5, "AF3": 0.3, "AF4": 0.3, "F7": 0.2, "F8": 0.2, "F3": 0.15, "Fz": 0.15, "F4": 0.15}
    return np.column_stack([shape * leak.get(c, 0.0) for c in EEG_CHANNELS])


def _exg(t, aro_t, blinks, rng) -> np.ndarray:
    n = len(t)
    veog = 150.0 * _blink_shape(t, blinks) + 5 * _band_noise(n, 512.0, 0.5, 20, rng, 1)[:, 0]
    saccades = np.cumsum(rng.normal(0, 1, n) * (rng.uniform(size=n) < 0.5 / 512)) * 30
    heog = scipy.signal.lfilter([0.05], [1, -0.95], saccades) + 5 * _band_noise(n, 512.0, 0.5, 20, rng, 1)[:, 0]
    emg = _band_noise(n, 512.0, 20.0, 200.0, rng, 2) * (4.0 * np.exp(0.1 * (aro_t - 5)))[:, None]
    return np.column_stack([heog, veog, emg])


def _physio(aro_t, t_fine, rng, onsets, arousal, stimulus_s):
    """Analytic physio signals: functions of time (s) so every rate samples the same truth."""
    total_s = t_fine[-1]
    events = [rng.uniform(0, total_s, rng.poisson(total_s / 60))]  # spontaneous SCRs
    for on, a in zip(onsets, arousal):
        rate = (2 + 10 * (a - 1) / 8) / 60
        events.append(on + rng.uniform(0, stimulus_s, rng.poisson(rate * stimulus_s)))
    scr_t = np.sort(np.concatenate(events))
    scr_amp = rng.uniform(0.2, 0.6, len(scr_t))
    tonic0 = rng.uniform(2, 6)
    hr0, rr0 = rng.uniform(62, 75), rng.uniform(0.22, 0.28)
    hr_phase = np.cumsum((hr0 + 2.5 * (aro_t - 5)) / 60) / 512.0
    rr_phase = np.cumsum(rr0 + 0.02 * (aro_t - 5)) / 512.0
    temp_fine = 33.0 + 0.3 * np.sin(2 * np.pi * t_fine / 400) - 0.02 * np.cumsum(aro_t - 5) / 512.0 / 60

    def gsr(t):
        lag = t[None, :] - scr_t[:, None] - 1.5
        resp = np.where(lag > 0, np.exp(-np.clip(lag, 0, None) / 3.0) - np.exp(-np.clip(lag, 0, None) / 0.7), 0)
        return tonic0 + 0.2 * np.sin(2 * np.pi * t / 300) + (scr_amp[:, None] * resp / 0.55).sum(0)

    def ppg(t):
        ph = np.interp(t, t_fine, hr_phase) % 1.0
        return np.exp(-0.5 * ((ph - 0.2) / 0.07) ** 2) + 0.35 * np.exp(-0.5 * ((ph - 0.5) / 0.1) ** 2)

    def resp(t):
        return np.sin(2 * np.pi * np.interp(t, t_fine, rr_phase))

    def temp(t):
        return np.interp(t, t_fine, temp_fine)

    return {"GSR": gsr, "PPG": ppg, "Resp": resp, "Temp": temp}
