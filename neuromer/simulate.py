"""Synthetic music-emotion studies with planted, known effects.

:func:`simulate_study` writes, deterministically from a seed (same seed, byte-identical files):

- ``stimuli/*.wav``: music synthesised with controlled tempo, mode, loudness, brightness,
  articulation, percussion, distortion, rhythmic density, register and dissonance, rendered as a
  produced mix (drum kit, bass, pad, room, noise; :func:`synthesize_music` with ``realism=True``)
  so that its audio cues lie near those of real recordings. Each stimulus has a planted valence
  and arousal (1-9) and Russell quadrant; the cues follow music psychology (Gabrielsson & Lindström
  2010; Juslin & Laukka 2004): arousal raises tempo, loudness, brightness, percussion and
  distortion and shortens notes (staccato); valence picks major vs minor, and positive valence
  adds denser, bouncier, higher and more staccato playing, negative valence dissonance and a rough
  timbre. The default audio-emotion predictor (fitted on real music) reads the planted emotion
  (``bench/sim_realism.py``).
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

Neural tracking (for :mod:`neuromer.onsets` and :mod:`neuromer.trf`): the sound of each stimulus
starts ``onset_offset_s`` (uniform 5-80 ms, per trial) *after* its ``stimulus_on`` marker, as
with software markers and audio output latency; the XDF holds the played sound as a ``StimAudio``
stream (type ``Audio``, ``audio_sfreq`` Hz, on the local clock); and the EEG carries a response
to the sound's envelope (:func:`~neuromer.onsets.sound_envelope`, z-scored over each stimulus)
through the kernel :data:`TRF_KERNEL` -- P1/N1/P2-like peaks at 50/100/180 ms -- weighted by
:data:`TRF_CHANNEL_WEIGHTS` (fronto-central), scaled by ``trf_gain``. ``ground_truth.csv``
gives ``onset_s`` (the marker) and ``sound_onset_s`` (where the sound really starts).
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
#: planted response kernel: (latency s, amplitude, Gaussian SD s); the amplitude is the weight of
#: a TRF sampled at 128 Hz, in µV per SD of the envelope (at another rate it is scaled by 128 / rate)
TRF_KERNEL = ((0.050, 0.8, 0.010), (0.100, -1.2, 0.014), (0.180, 0.8, 0.022))
#: planted kernel weight per EEG channel (fronto-central maximum; 0 elsewhere)
TRF_CHANNEL_WEIGHTS = {"Fz": 1.0, "FC1": 0.9, "FC2": 0.9, "Cz": 0.85, "F3": 0.7, "F4": 0.7, "AF3": 0.5,
                       "AF4": 0.5, "C3": 0.5, "C4": 0.5, "CP1": 0.35, "CP2": 0.35, "FC5": 0.3, "FC6": 0.3}
MARKER_JITTER_S = (0.005, 0.080)  # the sound starts this long after its marker (uniform)
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
                   faa_gain: float = 0.35, trf_gain: float = 1.0, audio_sfreq: float = 1024.0,
                   overwrite: bool = False) -> Study:
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
    trf_gain : float
        Scale of the planted envelope response :data:`TRF_KERNEL` (0: none).
    audio_sfreq : float
        Rate in Hz of the ``StimAudio`` stream holding the played sound (0: no such stream).

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
    trf_gain = check_positive(trf_gain, "trf_gain", allow_zero=True)
    audio_sfreq = check_positive(audio_sfreq, "audio_sfreq", allow_zero=True)
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
    sounds = {}
    for _, st in stim_table.iterrows():
        path = root / "stimuli" / f"{st.stimulus_id}.wav"
        y = synthesize_music(duration_s=stimulus_s, seed=int(st.audio_seed), realism=True, **_cues(st))
        _write_wav(path, y)
        study.stimuli.append(path)
        sounds[st.stimulus_id] = _read_wav(path)  # what is played: the 16-bit file
    protocol = _protocol(stim_table, study, stimulus_s, baseline_s)
    with atomic_path(study.protocol) as tmp:
        tmp.write_text(protocol.dumps(), encoding="utf-8")

    truth = []
    for s in range(1, n_subjects + 1):
        sub_rng = np.random.default_rng([seed, s])
        # a separate stream of random numbers, so the emotion effects are those of earlier versions
        tracking = _Tracking(sounds, np.random.default_rng([seed, s, 14]), trf_gain, audio_sfreq)
        rows, xdf_path, dat_path = _simulate_subject(root, f"{s:02d}", protocol, stim_table, sub_rng,
                                                     faa_gain=faa_gain, tracking=tracking)
        truth += rows
        study.xdf.append(xdf_path)
        study.deap.append(dat_path)
        logger.info("simulated subject %02d", s)
    study.ground_truth = root / "ground_truth.csv"
    pd.DataFrame(truth).to_csv(study.ground_truth, index=False, float_format="%.10g")
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


#: The :func:`synthesize_music` controls of each study stimulus, listed in its protocol entry.
STIMULUS_CONTROLS = ("tempo_bpm", "mode", "loudness_db", "brightness", "articulation", "percussion",
                     "distortion", "density", "dissonance", "roughness", "register")


def _cues(st) -> dict:
    """The controls of :func:`synthesize_music` that plant a stimulus' valence and arousal.

    Arousal (``u`` = 0..1 over 1-9) raises tempo, loudness, brightness, percussion and distortion
    and shortens the notes; valence picks the mode, and the further it is from 5 the more the
    music is either dense, bouncy, higher and more staccato (positive) or dissonant and loose in
    time (negative). Negative valence also roughens the timbre and adds overdrive, the more so the
    higher the arousal (anger: harsh; sadness: dull). Directions from Juslin & Laukka (2004) and Gabrielsson &
    Lindström (2010); the weights were chosen with ``bench/sim_realism.py`` so that the default
    audio predictor reads the planted emotion.
    """
    a = float(st["arousal"])
    u = (a - 1) / 8  # 0..1
    v = float(st["valence"])
    neg = float(np.clip((5 - v) / 3.5, 0, 1))  # 0 at valence 5 .. 1 at 1.5
    pos = float(np.clip((v - 5) / 3.5, 0, 1))  # 0 at valence 5 .. 1 at 8.5
    return {"tempo_bpm": round(60 + 100 * u, 2), "mode": "major" if v > 5 else "minor",
            "loudness_db": round(-26 + 18 * u, 2), "brightness": round(0.15 + 0.8 * u, 3),
            "articulation": round(float(np.clip(0.95 - 0.55 * u - 0.3 * pos, 0.3, 0.95)), 3),
            "percussion": round(0.1 + 0.85 * u, 3),
            "distortion": round(float(np.clip(0.6 * u + 0.5 * neg * u, 0, 1)), 3),
            "density": round(0.6 * pos, 3), "dissonance": round(neg, 3), "register": int(round(5 * pos)),
            "roughness": round(neg * (0.25 + 0.75 * u), 3)}


def synthesize_music(*, duration_s: float, tempo_bpm: float, mode: str, loudness_db: float,
                     brightness: float, articulation: float, seed: int = 0, sr: int = AUDIO_SR,
                     realism: bool = False, percussion: float = 0.5, dissonance: float = 0.0,
                     distortion: float = 0.0, density: float = 0.0, register: int = 0,
                     roughness: float = 0.0) -> np.ndarray:
    """Synthesise a melody with triad accompaniment and a beat.

    Two renderings of the same score (a random-walk melody, one note a beat, over I-IV-V-I or
    i-iv-v-i, one chord a bar of four beats, in a key drawn from A3..C#4 by ``seed``):

    - ``realism=False`` (default): clean additive tones and a 60 Hz thump per beat, nothing else.
      Its tempo, key, mode and note lengths are exact and easy to measure, which the known-answer
      tests of the audio features rely on; but its spectrum is unlike a recording's (its spectral
      contrast lies 4-10 standard deviations above that of the 4QAED recordings), so the default
      audio-emotion predictor, fitted on real music, reads it badly (arousal near 1 throughout).
    - ``realism=True``: a produced mix, used for the stimuli of :func:`simulate_study`. The melody
      has vibrato and partials that decay faster the higher they are; a chord pad of slightly
      detuned voices and a bass line accompany it; a drum kit plays kick, snare and hi-hat noise
      bursts; timing and velocity are human (8 ms jitter, accents, bar-to-bar dynamics); every
      part carries shimmer noise around its partials (bow, breath), the accompaniment goes through
      an overdrive, the mix through a synthetic room (early reflections and a 0.8-1.6 s tail), a
      soft saturation, a noise floor 50 dB down and a limiter. The extra controls below act only
      here. On the demo's study its cues lie within about 1 standard deviation of 4QAED's on
      average (``bench/sim_realism.py`` prints them) and the default predictor reads the planted
      emotion.

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    tempo_bpm : float
        Beats per minute; the melody plays one note per beat (or two, see ``density``).
    mode : ``"major"`` | ``"minor"``
        Scale and chords (I-IV-V-I or i-iv-v-i, one chord a bar of four beats).
    loudness_db : float
        RMS level in dB full scale.
    brightness : float
        0..1: spectral tilt of the harmonics (1 = bright, many strong harmonics).
    articulation : float
        Fraction of each beat a note sounds (0.4 staccato .. 0.95 legato).
    seed : int
        Seed of the melody's random walk (and, with ``realism``, of the performance and the room).
    sr : int
        Sampling rate in Hz.
    realism : bool
        Render as a produced recording (see above) rather than as clean tones.
    percussion : float
        0..1, ``realism`` only: level and density of the drum kit (kick on beats 1 and 3; from
        0.35 a snare on 2 and 4; from 0.5 eighth-note hi-hats and a bass note every beat; from
        0.85 sixteenth-note hi-hats and a second kick). A higher value also shortens the room.
    dissonance : float
        0..1, ``realism`` only: chromatic (out-of-key) melody notes with probability 0.45 x this,
        pad voices up to 28 cents out of tune with each other and looser timing (jitter
        8 + 20 x this ms).
    roughness : float
        0..1, ``realism`` only: a rough, noisy timbre above 700 Hz (shimmer noise of amplitude
        :data:`ROUGHNESS` x this around every partial there).
    distortion : float
        0..1, ``realism`` only: overdrive of the accompaniment (a tanh curve, drive 1 + 12 x this).
    density : float
        0..1, ``realism`` only: share of beats the melody splits into two eighth notes, and the
        probability that the pad chord is struck again on beats 2-4 (bouncy) instead of held.
    register : int
        Semitones the melody is transposed by (``realism`` only).

    Returns
    -------
    ndarray, shape (n_samples,)
        Mono float64 signal at ``sr`` Hz, peak below 1.
    """
    if mode not in ("major", "minor"):
        raise NeuromerError(f"mode must be 'major' or 'minor', got {mode!r}.")
    if realism:
        for name, value in (("percussion", percussion), ("dissonance", dissonance), ("distortion", distortion),
                            ("density", density), ("roughness", roughness)):
            if not 0.0 <= float(value) <= 1.0:
                raise NeuromerError(f"{name} must be within 0..1, got {value!r}.")
        return _produced_music(duration_s=duration_s, tempo_bpm=tempo_bpm, mode=mode, loudness_db=loudness_db,
                               brightness=brightness, articulation=articulation, seed=seed, sr=sr,
                               percussion=float(percussion), dissonance=float(dissonance),
                               distortion=float(distortion), density=float(density), register=int(register),
                               roughness=float(roughness))
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


def _produced_music(*, duration_s: float, tempo_bpm: float, mode: str, loudness_db: float, brightness: float,
                    articulation: float, seed: int, sr: int, percussion: float, dissonance: float,
                    distortion: float, density: float, register: int, roughness: float) -> np.ndarray:
    """The ``realism=True`` rendering of :func:`synthesize_music` (see there)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    scale = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10)
    root = 57 + int(rng.integers(0, 5))  # A3..C#4, drawn as the pure rendering draws it
    # one random stream per part: changing one control leaves the other parts' draws alone
    r_mel, r_perf, r_drum, r_room = (np.random.default_rng([seed, 9, k]) for k in range(4))
    beat = 60.0 / tempo_bpm
    bar = 4 * beat
    n_beats = int(np.ceil(duration_s / beat))
    n_bars = int(np.ceil(duration_s / bar))
    mix = np.zeros(n + int(sr))  # melody; a second of room for tails, cut at the end
    acc = np.zeros_like(mix)  # accompaniment (pad, bass): the overdriven "guitar" bus
    kit = np.zeros_like(mix)  # drums
    # bar-to-bar dynamics: a slow random walk of about +-2 dB
    bar_db = np.cumsum(r_perf.normal(0, 1.0, n_bars + 1))
    bar_gain = 10 ** ((bar_db - bar_db.mean()) / 20)

    jitter_s = 0.008 + 0.02 * dissonance

    def when(s):  # human timing: +-8 ms around the score (and loose, rubato, when dissonant)
        return max(0.0, s + r_perf.normal(0, jitter_s))

    def vel(b_pos):  # velocity: bar dynamics x a little random accent
        return bar_gain[min(int(b_pos // 4), n_bars)] * r_perf.uniform(0.85, 1.1)

    tilt = 3.0 - 2.4 * brightness  # as the pure rendering: harmonic k has amplitude k**-tilt
    # melody: a random walk on the scale, a beat split into two eighths with probability ``density``;
    # chromatic neighbours with probability ~ ``dissonance``
    degree = 7
    for b in range(n_beats):
        split = 2 if r_mel.uniform() < density else 1
        for h in range(split):
            degree = int(np.clip(degree + r_mel.choice([-2, -1, 1, 2]), 0, 13))
            midi = root + 12 + register + 12 * (degree // 7) + scale[degree % 7]
            if r_mel.uniform() < 0.45 * dissonance:
                midi += int(r_mel.choice([-1, 1]))
            _voice(mix, sr, when((b + h / split) * beat), articulation * beat / split, midi, 0.5 * vel(b),
                   tilt=tilt, n_harm=16, decay_s=0.25 + 0.9 * articulation, vibrato_cents=18.0, rng=r_mel)
    # chord pad (voices a little out of tune: their beating fills the spectrum between partials), bass
    chords = (0, 3, 4, 0)  # I IV V I (scale degrees)
    detune = 6.0 + 22.0 * dissonance  # cents
    for b in range(n_bars):
        d = chords[b % 4]
        notes = [root - 12 + 12 * ((d + step) // 7) + scale[(d + step) % 7] for step in (0, 2, 4)]
        # the chord is struck again on a beat with probability ``density`` (a bouncy, strummed
        # accompaniment) and otherwise held (a sustained pad)
        strikes = [0] + [h for h in (1, 2, 3) if r_perf.uniform() < density]
        ends = strikes[1:] + [4]
        for j, midi in enumerate(notes):
            level = 0.17 * bar_gain[b]
            cents = detune * (r_mel.uniform() - 0.5)
            for h0, h1 in zip(strikes, ends):
                held = len(strikes) == 1
                _voice(acc, sr, when(b * bar + h0 * beat) if h0 else b * bar,
                       (h1 - h0) * beat * (0.97 if held else articulation), midi + cents / 100, level,
                       tilt=tilt + 0.6, n_harm=10, decay_s=3.0 if held else 0.8, attack_s=0.08 if held else 0.01,
                       release_s=0.3 if held else 0.08, rng=r_mel)
        bass = root - 24 + 12 * (d // 7) + scale[d % 7]
        hits = (0, 1, 2, 3) if percussion >= 0.5 else (0, 2)
        for h in hits:
            _voice(acc, sr, when(b * bar + h * beat), 0.9 * beat * max(articulation, 0.5), bass,
                   0.35 * vel(4 * b + h), tilt=1.6, n_harm=8, decay_s=0.35, rng=r_mel)
    if percussion > 0:
        _drums(kit, sr, n_beats, beat, percussion, when, vel, r_drum)
    if distortion > 0:
        # overdrive: a tanh curve whose drive grows with ``distortion``, at the bus' level before
        drive = 1 + 12 * distortion
        peak = np.max(np.abs(acc)) or 1.0
        rms0 = np.sqrt(np.mean(acc ** 2))
        acc = np.tanh(drive * acc / peak)
        acc *= rms0 / (np.sqrt(np.mean(acc ** 2)) or 1.0)
    # shimmer, bow and breath noise: every note carries noise that follows its partials
    mix = _shimmer(mix + acc, sr, r_room, SHIMMER)
    if roughness > 0:  # a rough, noisy timbre above 700 Hz
        hi = scipy.signal.sosfilt(scipy.signal.butter(2, 700.0, btype="high", fs=sr, output="sos"), mix)
        mix += _shimmer(hi, sr, r_room, ROUGHNESS * roughness) - hi
    mix += KIT_GAIN * kit
    y = _room(mix, sr, r_room, rt60_s=1.6 - 0.8 * percussion, wet=0.35)[:n]
    y = np.tanh(1.5 * y / (np.max(np.abs(y)) or 1.0))  # soft saturation, as of a mix bus
    # noise floor (pink-ish hiss of a recording chain), 50 dB below the music
    hiss = scipy.signal.lfilter([1.0], [1.0, -0.95], r_room.normal(size=n))
    rms = np.sqrt(np.mean(y ** 2)) or 1.0
    y = y + hiss / (np.sqrt(np.mean(hiss ** 2)) or 1.0) * rms * 10 ** (-50 / 20)
    return _master(y, loudness_db)


#: ``realism`` mix: level of the drum kit against the tonal parts (amplitude); shimmer noise on
#: every part and its extra above 700 Hz per unit of ``roughness`` (amplitude, relative to the
#: music); bandwidth (Hz) of the shimmer around each partial. Chosen with bench/sim_realism.py so
#: the cues fall near real recordings' (4QAED) and the default predictor reads the planted emotion.
KIT_GAIN, SHIMMER, ROUGHNESS, SHIMMER_HZ = 3.0, 0.25, 2.0, 100.0


def _shimmer(bus: np.ndarray, sr: int, rng: np.random.Generator, level: float) -> np.ndarray:
    """``bus`` with a noisy amplitude (shimmer, bow and breath noise): each partial gets noise sidebands.

    The bus is multiplied by ``1 + level * n(t)``, ``n`` unit-variance noise low-passed at
    :data:`SHIMMER_HZ`: the noise follows the music's own spectrum and envelope, ``level``
    (amplitude) relative to it, spread within :data:`SHIMMER_HZ` of each partial.
    """
    if level <= 0:
        return bus
    sos = scipy.signal.butter(2, SHIMMER_HZ, fs=sr, output="sos")
    noise = scipy.signal.sosfilt(sos, rng.normal(size=len(bus)))
    return bus * (1 + level * noise / (np.std(noise) or 1.0))


def _master(y: np.ndarray, loudness_db: float) -> np.ndarray:
    """RMS to ``loudness_db`` dB FS, then a soft limiter keeping peaks below 0.98."""
    for _ in range(3):  # the limiter lowers the RMS a little: re-aim
        y = y * 10 ** (loudness_db / 20) / (np.sqrt(np.mean(y ** 2)) or 1.0)
        over = np.abs(y) > 0.7
        y = np.where(over, np.sign(y) * (0.7 + 0.28 * np.tanh((np.abs(y) - 0.7) / 0.28)), y)
    return y


def _voice(out: np.ndarray, sr: int, start_s: float, length_s: float, midi: float, level: float, *,
           tilt: float, n_harm: int, decay_s: float, rng: np.random.Generator, vibrato_cents: float = 0.0,
           attack_s: float = 0.008, release_s: float = 0.06) -> None:
    """Add one note: harmonics whose amplitude ``k**-tilt`` decays faster the higher they are."""
    i0 = int(round(start_s * sr))
    m = min(len(out) - i0, int((length_s + release_s) * sr))
    if m <= 0:
        return
    tt = np.arange(m) / sr
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    # vibrato at 5.5 Hz fading in over 0.3 s
    inst = f0 * 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * 5.5 * tt) * np.minimum(1, tt / 0.3))
    phase = 2 * np.pi * np.cumsum(inst) / sr + rng.uniform(0, 2 * np.pi)
    n_k = int(min(n_harm, np.ceil(sr / 2.2 / f0) - 1))
    # sin(k phase) by the Chebyshev recursion and the decays exp(-t (1 + 0.35 (k - 1)) / decay_s) as
    # powers: products instead of a sine and an exponential per partial (the simulator's hot loop)
    s_prev, s_k = np.zeros(m), np.sin(phase)
    two_cos = 2 * np.cos(phase)
    dec = np.exp(-tt / decay_s)
    ratio = np.exp(-0.35 * tt / decay_s)  # high partials die first
    wave = np.zeros(m)
    for k in range(1, n_k + 1):
        wave += (k ** -tilt) * dec * s_k
        s_prev, s_k = s_k, two_cos * s_k - s_prev
        dec = dec * ratio
    gate = np.clip((length_s - tt) / release_s + 1, 0, 1) if release_s > 0 else (tt < length_s)
    env = np.minimum(1, tt / attack_s) * gate
    out[i0:i0 + m] += level * env * wave


def _drums(out: np.ndarray, sr: int, n_beats: int, beat: float, percussion: float, when, vel,
           rng: np.random.Generator) -> None:
    """Kick, snare and hi-hat noise bursts on a rock pattern whose density follows ``percussion``."""
    def burst(lo_hz, hi_hz, dur_s, tau_s):
        m = int(dur_s * sr)
        sos = scipy.signal.butter(2, [lo_hz, min(hi_hz, 0.45 * sr)], btype="band", fs=sr, output="sos")
        noise = scipy.signal.sosfilt(sos, rng.normal(size=m))
        return noise / (np.std(noise) or 1.0) * np.exp(-np.arange(m) / (tau_s * sr))

    tk = np.arange(int(0.35 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(48 + 110 * np.exp(-tk / 0.025)) / sr) * np.exp(-tk / 0.11)
    kick[: int(0.004 * sr)] += 0.5 * burst(1000, 6000, 0.004, 0.002)
    ts = np.arange(int(0.25 * sr)) / sr
    snares = [0.8 * burst(1200, 9000, 0.25, 0.06) + 0.6 * np.sin(2 * np.pi * 185 * ts) * np.exp(-ts / 0.05)
              for _ in range(3)]
    hats = [burst(6500, 10500, 0.07, 0.018) for _ in range(4)]
    level = 0.25 + 0.75 * percussion

    def hit(sample, t_s, gain):
        i0 = int(round(when(t_s) * sr))
        m = min(len(sample), len(out) - i0)
        if m > 0:
            out[i0:i0 + m] += gain * sample[:m]

    sub = 4 if percussion >= 0.85 else 2 if percussion >= 0.5 else 1
    for b in range(n_beats):
        pos = b % 4
        t0 = b * beat
        if pos in (0, 2):
            hit(kick, t0, 0.9 * level * vel(b))
        if percussion >= 0.85 and pos == 2:
            hit(kick, t0 + beat / 2, 0.6 * level * vel(b))
        if percussion >= 0.35 and pos in (1, 3):
            hit(snares[b % 3], t0, 0.45 * level * vel(b))
        for s_ in range(sub):
            hit(hats[(b * sub + s_) % 4], t0 + s_ * beat / sub, (0.22 if s_ == 0 else 0.14) * level * vel(b))


def _room(y: np.ndarray, sr: int, rng: np.random.Generator, *, rt60_s: float, wet: float) -> np.ndarray:
    """A synthetic room: early reflections plus an exponentially decaying, darkening noise tail."""
    m = int(rt60_s * sr)
    t = np.arange(m) / sr
    tail = rng.normal(size=m) * np.exp(-6.9 * t / rt60_s)
    tail = scipy.signal.lfilter([0.35], [1.0, -0.65], tail)  # air absorbs the highs
    tail[: int(0.02 * sr)] = 0.0  # 20 ms pre-delay
    for d_s, g in ((0.011, 0.5), (0.017, 0.4), (0.023, 0.3)):
        tail[int(d_s * sr)] += g
    tail /= np.sqrt(np.sum(tail ** 2))
    return y + wet * scipy.signal.fftconvolve(y, tail)[: len(y)]


def _write_wav(path: Path, y: np.ndarray, sr: int = AUDIO_SR) -> None:
    import io

    import soundfile as sf

    # encode in memory, then write the bytes ourselves: libsndfile reports a full disk only as
    # "System error", a plain file write raises the OSError that names the cause
    buf = io.BytesIO()
    sf.write(buf, y, sr, subtype="PCM_16", format="WAV")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def _read_wav(path: Path) -> np.ndarray:
    import soundfile as sf

    return sf.read(path, dtype="float64")[0]


def trf_kernel(sfreq: float, tmax_s: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """The planted response kernel sampled at ``sfreq`` Hz.

    Returns
    -------
    lags_s : ndarray, shape (n_lags,)
        0 .. ``tmax_s`` in steps of 1 / ``sfreq``.
    kernel : ndarray, shape (n_lags,)
        µV per SD of the envelope.
    """
    lags = np.arange(int(round(tmax_s * sfreq)) + 1) / sfreq
    k = sum(a * np.exp(-0.5 * ((lags - lat) / sd) ** 2) for lat, a, sd in TRF_KERNEL)
    return lags, k


@dataclass
class _Tracking:
    """What a subject's neural-tracking simulation needs: the sounds, its own random numbers."""

    sounds: dict
    rng: np.random.Generator
    gain: float
    audio_sfreq: float


def _envelope_response(t, sound_onsets, stims, tracking: _Tracking, stimulus_s: float) -> np.ndarray:
    """EEG (n_times, 32) in µV: the planted kernel convolved with each stimulus' z-scored envelope."""
    from .onsets import sound_envelope

    sr = round(1.0 / (t[1] - t[0]), 6)
    drive = np.zeros(len(t))
    for on, sid in zip(sound_onsets, stims.stimulus_id):
        i0 = int(np.floor(on * sr))
        # the fractional part of the onset as leading zeros at the audio rate (45 µs resolution)
        lead = int(round((on * sr - i0) * AUDIO_SR / sr))
        y = np.concatenate([np.zeros(lead), tracking.sounds[sid]])
        n_stim = int(round(stimulus_s * sr))
        env = sound_envelope(y, AUDIO_SR, sr)[:n_stim + 1]
        after = np.arange(len(env)) >= lead * sr / AUDIO_SR  # samples at or after the onset
        body = env[after]
        z = np.where(after, (env - body.mean()) / (body.std() or 1.0), 0.0)
        stop = min(len(drive), i0 + len(z))
        drive[i0:stop] += z[:stop - i0]
    _, kernel = trf_kernel(sr)
    response = scipy.signal.fftconvolve(drive, kernel)[:len(t)] * tracking.gain * 128.0 / sr
    w = np.array([TRF_CHANNEL_WEIGHTS.get(c, 0.0) for c in EEG_CHANNELS])
    return response[:, None] * w[None, :]


def _recorded_sound(total_s: float, sound_onsets, stims, tracking: _Tracking) -> np.ndarray:
    """The played sound as an audio channel at ``tracking.audio_sfreq`` Hz, exact to the sub-sample."""
    from .onsets import resample_audio

    fs = tracking.audio_sfreq
    out = np.zeros(int(total_s * fs))
    for on, sid in zip(sound_onsets, stims.stimulus_id):
        y = resample_audio(tracking.sounds[sid], AUDIO_SR, fs)
        i0 = int(np.floor(on * fs))
        frac = on * fs - i0
        n = int(2 ** np.ceil(np.log2(len(y) + 64)))
        f = np.fft.rfftfreq(n)
        # band-limited fractional delay by a phase ramp
        shifted = np.fft.irfft(np.fft.rfft(y, n) * np.exp(-2j * np.pi * f * frac), n)[:len(y) + 32]
        stop = min(len(out), i0 + len(shifted))
        out[i0:stop] += shifted[:stop - i0]
    return 0.5 * out + tracking.rng.normal(0, 2e-3, len(out))  # a line input: gain and a little noise


def _protocol(stim_table: pd.DataFrame, study: Study, stimulus_s: float, baseline_s: float) -> Protocol:
    stimuli = tuple(
        Stimulus(r.stimulus_id, (study.root / "stimuli" / f"{r.stimulus_id}.wav").resolve(),
                 {k: (r[k].item() if hasattr(r[k], "item") else r[k])
                  for k in ("quadrant", "valence", "arousal", *STIMULUS_CONTROLS)})
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
                      rng: np.random.Generator, *, faa_gain: float, tracking: _Tracking):
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
    sound_offsets = tracking.rng.uniform(*MARKER_JITTER_S, n_trials)
    sound_onsets = onsets + sound_offsets  # the marker comes first, the sound a little later

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
    if tracking.gain > 0:
        eeg += _envelope_response(t_fine, sound_onsets, stims, tracking, tm.stimulus_s)

    # ---- XDF: EEG on a remote clock (offset + jitter), others on the local clock
    lsl0 = 4000.0 + 37.0 * int(sub)
    eeg_offset = 0.25  # local = remote + offset
    xdf_path = root / "xdf" / f"sub-{sub}.xdf"
    xdf_path.parent.mkdir(exist_ok=True)
    with XdfWriter(xdf_path) as w:
        streams = [("EEG", "EEG", EEG_CHANNELS, ("eeg",) * 32, 512.0, "microvolts", eeg, -eeg_offset)]
        streams += [(n, ty, ch, k, sr, unit, None, 0.0) for n, ty, ch, k, sr, unit in PHYSIO_STREAMS]
        if tracking.audio_sfreq > 0:
            streams.append(("StimAudio", "Audio", ("StimAudio",), ("misc",), tracking.audio_sfreq, "au",
                            _recorded_sound(total_s, sound_onsets, stims, tracking)[:, None], 0.0))
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
             "onset_s": onsets[k], "sound_onset_s": sound_onsets[k], "onset_offset_s": sound_offsets[k],
             **{n: ratings[n][k] for n in ratings}} for k in range(n_trials)]
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
