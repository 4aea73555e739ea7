"""``neuromer run CONFIG.toml``: ingest -> preprocess -> trials -> features -> align -> models ->
compare -> report, over many sessions, resumable, in-process or on Dask.

Config file (all sections optional except ``[study]``; paths relative to the config file)::

    [study]
    inputs = ["study/xdf/*.xdf"]       # globs: XDF, DEAP .dat/.mat/.bdf, BIDS, EDF/BDF/FIF/..., -epo.fif
    protocol = "study/protocol.toml"  # or a shipped name ("deap")
    out = "run"                       # the run folder
    events = "events/{stem}.tsv"      # optional: an events CSV/TSV per recording ({stem}: its file
                                      # name without extension, {subject}: its subject id)
    xdf_streams = {EEG = "id=3"}      # optional: of several XDF streams with one name, the one to use
                                      # (id=N, source_id or uid; as `--xdf-stream NAME=SELECTOR`)
    [preprocess]                      # enabled, sfreq, l_freq, h_freq, reference, eog
    [windows]                         # window_s, hop_s
    [features]                        # eeg, physio, audio (true/false), audio_latency_s, eeg_baseline,
                                      # audio_melody (melody/expressive features), audio_vocal (also on the voice),
                                      # physio_min_scr_amplitude_us (0.01), physio_context_s (30: HRV/breath context)
    [models]                          # targets, feature_sets, estimator, cv, n_permutations, threshold, seed
    [execution]                       # workers, scheduler, memory_limit
    [align]                           # refine_onsets (channel/stream of the recorded sound), refine_search_s,
                                      # refine_min_confidence (see neuromer.onsets)
    [trf]                             # enabled, features, lags_s, backward_lags_s, lambdas, folds, n_null,
                                      # backward (see neuromer.trf, neuromer.trf_stage)

Run folder: ``run.json`` (config, package versions, input hashes, per-subject status and errors),
``subjects/sub-XX/`` (``trials-epo.fif``, ``eeg.parquet``, ``physio.parquet``, ``aligned.parquet``,
``status.json``), ``audio/`` (per-stimulus features, cached by content hash), ``group/`` (metrics,
predictions, comparison tables), ``models/`` (skops files) and ``report.html``.

A subject is one task. Its outputs are written atomically and its ``status.json`` last, holding
the hash of its input file and of the configuration that shapes it; a rerun skips subjects whose
hashes match, so a killed run resumes where it stopped. Failing subjects are recorded with their
error and the rest completes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import re
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ._checks import ensure_dir, read_toml
from ._logging import logger
from .analysis import load_aligned  # noqa: F401  (public here too: pipeline.load_aligned)
from .errors import NeuromerError
from .io._atomic import atomic_path, write_table

DEFAULTS: dict[str, dict[str, Any]] = {
    "study": {"inputs": [], "protocol": None, "out": "run", "name": "", "events": "", "xdf_streams": {}},
    "preprocess": {"enabled": True, "sfreq": 128.0, "l_freq": 4.0, "h_freq": 45.0,
                   "reference": "average", "eog": "regression"},
    "windows": {"window_s": 1.0, "hop_s": 0.5},
    "features": {"eeg": True, "physio": True, "audio": True, "audio_latency_s": 0.0, "eeg_baseline": "none",
                 "audio_melody": True, "audio_vocal": False, "physio_min_scr_amplitude_us": 0.01,
                 "physio_context_s": 30.0},
    "models": {"targets": ["valence", "arousal"], "feature_sets": [["eeg"], ["physio"], ["eeg", "physio"], ["audio"]],
               "estimator": "logreg", "cv": "trial", "n_permutations": 100, "threshold": "fixed", "seed": 0,
               "n_jobs": 1, "shuffle_labels": False, "k_best": 0},
    "execution": {"workers": 1, "scheduler": "", "memory_limit": "4GiB"},
    "align": {"refine_onsets": "", "refine_search_s": [-0.1, 0.3], "refine_min_confidence": 1.5},
    "trf": {"enabled": False, "features": ["envelope", "flux", "note_onsets", "pitch"], "lags_s": [-0.1, 0.5],
            "backward_lags_s": [-0.25, 0.0], "lambdas": [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0],
            "folds": 5, "n_null": 200, "backward": True},
}
PACKAGES = ("neuromer", "mne", "numpy", "scipy", "pandas", "scikit-learn", "xgboost", "librosa", "neurokit2",
            "pyxdf", "dask", "distributed", "skops")


@dataclass
class RunConfig:
    """A validated run configuration (see the module docstring)."""

    sections: dict[str, dict[str, Any]]
    path: Path | None = None
    inputs: list[Path] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def out(self) -> Path:
        return (self.root / self.sections["study"]["out"]).resolve()

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self.sections[key]

    def protocol(self):
        from .protocol import read_protocol

        ref = self.sections["study"]["protocol"]
        if not ref:
            return None
        cand = self.root / ref
        return read_protocol(cand if cand.suffix else ref)

    def events_for(self, path: Path) -> Path | None:
        """The events file of one input (``study.events`` filled in), or ``None``."""
        template = self.sections["study"].get("events") or ""
        if not template:
            return None
        stem = re.sub(r"(-epo)?\.(fif|xdf|dat|mat|bdf|edf|vhdr|set|gdf)(\.gz)?$", "", path.name, flags=re.I)
        return (self.root / template.format(stem=stem, subject=subject_id(path))).resolve()

    def subject_hash(self) -> str:
        """Hash of everything that shapes a subject's outputs (not models/execution)."""
        keyed = {k: self.sections[k] for k in ("preprocess", "windows", "features", "align", "trf")}
        keyed["protocol"] = _protocol_fingerprint(self)
        if self.sections["study"].get("xdf_streams"):  # only when set: older run folders keep their hash
            keyed["xdf_streams"] = self.sections["study"]["xdf_streams"]
        return _hash_text(json.dumps(keyed, sort_keys=True, default=str))


def read_config(path: str | os.PathLike, **overrides: Any) -> RunConfig:
    """Read and validate a run configuration TOML; ``overrides`` are ``section__key=value``."""
    path = Path(path)
    if not path.is_file():
        raise NeuromerError(f"{path}: config file not found.")
    raw = read_toml(path)
    return make_config(raw, path=path.resolve(), **overrides)


def make_config(raw: dict, *, path: Path | None = None, **overrides: Any) -> RunConfig:
    """Validate a configuration given as a dict (same layout as the TOML file)."""
    where = str(path) if path else "config"
    sections = {k: dict(v) for k, v in DEFAULTS.items()}
    for name, table in raw.items():
        if name not in DEFAULTS:
            raise NeuromerError(f"{where}: unknown section [{name}] (allowed: {', '.join(DEFAULTS)}).")
        if not isinstance(table, dict):
            raise NeuromerError(f"{where}: [{name}] must be a table.")
        for key, value in table.items():
            if key not in DEFAULTS[name]:
                raise NeuromerError(f"{where}: unknown key '{name}.{key}' "
                                    f"(allowed: {', '.join(DEFAULTS[name])}).")
            sections[name][key] = value
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if value is not None:
            sections[section][name] = value
    inputs = sections["study"]["inputs"]
    if isinstance(inputs, str):
        inputs = [inputs]
        sections["study"]["inputs"] = inputs
    _check_texts(sections, where)  # before the globbing and path joins that take them as text
    cfg = RunConfig(sections, path)
    files: list[Path] = []
    for pattern in inputs:
        matches = sorted(glob.glob(str(cfg.root / pattern)))
        if not matches:
            raise NeuromerError(f"{where}: 'study.inputs' pattern {pattern!r} matches no file.")
        files += [Path(m).resolve() for m in matches]
    if not files:
        raise NeuromerError(f"{where}: 'study.inputs' lists no input files.")
    cfg.inputs = list(dict.fromkeys(files))
    ids: dict[str, Path] = {}
    for f in cfg.inputs:
        other = ids.setdefault(subject_id(f), f)
        if other != f:  # their outputs would overwrite each other
            raise NeuromerError(f"{where}: inputs {other} and {f} both read as subject {subject_id(f)!r}; "
                                "rename one or narrow 'study.inputs'.")
    _check_values(sections, where)
    _check_choices(sections, where)
    _check_events(cfg, where)
    _check_xdf_streams(sections, where)
    from .trf_stage import check_config

    check_config(sections, where)
    if sections["execution"]["workers"] < 1:
        raise NeuromerError(f"{where}: 'execution.workers' must be >= 1.")
    return cfg


def _check_events(cfg: RunConfig, where: str) -> None:
    """``study.events``: a path template whose file exists for every recording."""
    template = cfg.sections["study"]["events"]
    if template in (None, ""):
        return
    if not isinstance(template, str):
        raise NeuromerError(f"{where}: 'study.events' must be a path (template), got {template!r}.")
    from .io import is_trials_file

    for path in cfg.inputs:
        if is_trials_file(path):
            raise NeuromerError(f"{where}: 'study.events' is set, but input {path.name} holds trials already.")
        try:
            events = cfg.events_for(path)
        except (KeyError, IndexError, ValueError) as exc:
            raise NeuromerError(f"{where}: 'study.events' = {template!r} is not a valid template ({exc!r}; "
                                "use {stem} and {subject}).") from None
        if not events.is_file():
            raise NeuromerError(f"{where}: 'study.events' = {template!r}: no events file {events} for input "
                                f"{path.name}.")


def _check_xdf_streams(sections: dict[str, dict[str, Any]], where: str) -> None:
    """``study.xdf_streams``: a table of stream name -> selector (both text)."""
    choice = sections["study"]["xdf_streams"]
    if not isinstance(choice, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in choice.items()):
        raise NeuromerError(f"{where}: 'study.xdf_streams' must be a table of stream name = selector (id=N, "
                            f"source_id or uid), e.g. {{EEG = \"id=3\"}}, got {choice!r}.")


#: Longest duration a setting in seconds may have (as the protocol's limit): a bigger one is a typo.
MAX_DURATION_S = 86400.0


def _check_texts(sections: dict[str, dict[str, Any]], where: str) -> None:
    """Settings that must be text (or lists of text): a number or table there is a typo."""
    inputs = sections["study"]["inputs"]
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise NeuromerError(f"{where}: 'study.inputs' must be a file pattern or a list of them, got {inputs!r}.")
    texts = [("study", "out"), ("study", "name"), ("study", "events"), ("features", "eeg_baseline"),
             ("models", "estimator"), ("models", "cv"), ("models", "threshold"), ("execution", "scheduler"),
             ("execution", "memory_limit"), ("preprocess", "reference"), ("preprocess", "eog")]
    for name, key in texts + [("study", "protocol")]:
        value = sections[name][key]
        if not isinstance(value, str) and not (key in ("protocol", "reference", "eog") and value is None):
            raise NeuromerError(f"{where}: '{name}.{key}' must be text, got {value!r}.")


def _check_choices(sections: dict[str, dict[str, Any]], where: str) -> None:
    """Settings with a fixed set of values: an unknown one is refused before any work is done
    (inside the run it would only skip a model with a warning)."""
    from .models.estimators import FAMILIES, TARGETS
    from .models.evaluation import CV_SCHEMES

    def choose(name: str, key: str, value, allowed) -> None:
        if value not in allowed:
            raise NeuromerError(f"{where}: '{name}.{key}' must be one of {', '.join(map(repr, allowed))}, "
                                f"got {value!r}.")

    m = sections["models"]
    targets, feature_sets = m["targets"], m["feature_sets"]
    if not isinstance(targets, (list, tuple)) or not targets:
        raise NeuromerError(f"{where}: 'models.targets' must be a non-empty list, e.g. [\"valence\"], got {targets!r}.")
    for t in targets:
        choose("models", "targets", t, tuple(TARGETS))
    # a set is a list of families, or one family as text (as the group stage reads them)
    if not isinstance(feature_sets, (list, tuple)) or not feature_sets or not all(
            isinstance(fs, str) or (isinstance(fs, (list, tuple)) and fs and all(isinstance(f, str) for f in fs))
            for fs in feature_sets):
        raise NeuromerError(f"{where}: 'models.feature_sets' must be a list of lists of feature families, "
                            f"e.g. [[\"eeg\"], [\"eeg\", \"physio\"]], got {feature_sets!r}.")
    for fs in feature_sets:
        for family in [fs] if isinstance(fs, str) else fs:
            choose("models", "feature_sets", family, FAMILIES)
    choose("models", "cv", m["cv"], CV_SCHEMES)
    choose("models", "threshold", m["threshold"], ("fixed", "median"))
    choose("features", "eeg_baseline", sections["features"]["eeg_baseline"], ("none", "subtract", "ratio"))
    for name, key in (("windows", "window_s"), ("windows", "hop_s"), ("features", "audio_latency_s"),
                      ("features", "physio_context_s")):
        if sections[name][key] > MAX_DURATION_S:
            raise NeuromerError(f"{where}: '{name}.{key}' = {sections[name][key]!r} s is over one day; a typo?")


def _check_values(sections: dict[str, dict[str, Any]], where: str) -> None:
    """Type and range checks of the settings whose defaults are booleans or numbers."""
    for name, defaults in DEFAULTS.items():
        for key, default in defaults.items():
            value = sections[name][key]
            if isinstance(default, bool):
                ok, kind = isinstance(value, bool), "true or false"
            elif isinstance(default, int):
                ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
            elif isinstance(default, float):
                ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                      and bool(np.isfinite(value)))
                kind = "a finite number"
            else:
                continue
            if not ok:
                raise NeuromerError(f"{where}: '{name}.{key}' must be {kind}, got {value!r}.")
    positive = [("windows", "window_s"), ("windows", "hop_s"), ("preprocess", "sfreq")]
    non_negative = [("features", "audio_latency_s"), ("models", "n_permutations"), ("models", "k_best"),
                    ("features", "physio_min_scr_amplitude_us"), ("features", "physio_context_s")]
    for name, key in positive + non_negative:
        value = sections[name][key]
        if value < 0 or (value == 0 and (name, key) in positive):
            kind = "> 0" if (name, key) in positive else ">= 0"
            raise NeuromerError(f"{where}: '{name}.{key}' must be {kind}, got {value!r}.")
    if sections["models"]["n_jobs"] == 0:
        raise NeuromerError(f"{where}: 'models.n_jobs' must be >= 1 (or negative: all CPUs but N-1), got 0.")
    from .models.estimators import ESTIMATORS

    names = list(dict.fromkeys(n for group in ESTIMATORS.values() for n in group))
    if sections["models"]["estimator"] not in names:
        raise NeuromerError(f"{where}: 'models.estimator' must be one of {', '.join(names)}, "
                            f"got {sections['models']['estimator']!r}.")


# --------------------------------------------------------------------------- hashing / ids
def _hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (first 16 hex digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _protocol_fingerprint(cfg: RunConfig) -> str:
    ref = cfg.sections["study"]["protocol"]
    if not ref:
        return ""
    cand = cfg.root / ref
    if cand.is_file():
        return file_hash(cand)
    return str(ref)


def subject_id(path: Path) -> str:
    """Subject id from a file name.

    ``sub-07_...`` -> ``"07"`` (BIDS: ``sub-07_ses-2_run-1_...`` -> ``"07_ses-2_run-1"``, so
    sessions and runs of one subject stay apart), DEAP ``s07.dat`` -> ``"07"``, else the stem.
    """
    name = path.name
    m = re.search(r"sub-([A-Za-z0-9]+)", name)
    if m:
        extra = re.findall(r"_((?:ses|run)-[A-Za-z0-9]+)", name)
        return "_".join([m.group(1), *extra])
    m = re.fullmatch(r"s(\d+)\.(?:dat|mat|bdf)", name, re.I)
    return m.group(1) if m else re.sub(r"(-epo)?\.(fif|xdf|dat|mat|bdf|edf|vhdr|set)(\.gz)?$", "", name, flags=re.I)


# --------------------------------------------------------------------------- per-subject task
def process_subject(input_path: str, config: dict, run_dir: str, audio_table_path: str | None) -> dict:
    """Run the per-subject stages for one input file; returns its status record.

    Top-level and argument-only so that Dask can ship it to any worker. Never raises for a bad
    input: the error is returned in the status (``"status": "failed"``).
    """
    t0 = time.perf_counter()
    path = Path(input_path)
    sub = subject_id(path)
    cfg = RunConfig(config["sections"], Path(config["path"]) if config.get("path") else None)
    out = Path(run_dir) / "subjects" / f"sub-{sub}"
    events = cfg.events_for(path)
    status = {"subject": sub, "input": str(path), "input_hash": file_hash(path) if path.exists() else None,
              "events_hash": file_hash(events) if events is not None and events.is_file() else None,
              "config_hash": cfg.subject_hash(),
              "audio_hash": file_hash(Path(audio_table_path)) if audio_table_path else None}
    try:
        status["outputs"], status["dropped"], bad = _subject_stages(path, sub, cfg, out, audio_table_path)
        if bad:
            status["bad_samples"] = bad
        status["status"] = "done"
    except Exception as exc:  # recorded, not raised: one bad subject must not stop the study
        status["status"] = "failed"
        status["error"] = f"{type(exc).__name__}: {exc}"
        logger.warning("subject %s failed: %s", sub, status["error"])
    status["seconds"] = round(time.perf_counter() - t0, 3)
    if status["status"] == "done":
        _write_json(out / "status.json", status)
    return status


def _subject_stages(path: Path, sub: str, cfg: RunConfig, out: Path,
                    audio_table_path: str | None) -> tuple[dict, list, dict]:
    from .epochs import make_trials
    from .io import is_trials_file, read_session, read_trials, write_trials
    from .session import LABEL_NAMES
    from .windows import WindowGrid

    pre, feats = cfg["preprocess"], cfg["features"]
    grid = WindowGrid(cfg["windows"]["window_s"], cfg["windows"]["hop_s"])
    protocol = cfg.protocol()
    session = None  # a trials file holds nothing between trials: physio is processed per trial
    if is_trials_file(path):
        if cfg["align"]["refine_onsets"]:
            raise NeuromerError(f"{path}: align.refine_onsets needs a continuous recording, not a trials file.")
        trials = read_trials(path)
        bad = nonfinite_qc(path, trials.data.transpose(1, 0, 2).reshape(len(trials.ch_names), -1),
                           trials.ch_names, trials.ch_types, need_eeg=bool(feats["eeg"]))
        if protocol is not None:
            trials.check_ratings(protocol.ratings.min, protocol.ratings.max, source=str(path))
    else:
        choice = cfg["study"]["xdf_streams"] if path.suffix.lower() == ".xdf" else None
        session = read_session(path, protocol=protocol, subject=sub, events=cfg.events_for(path),
                               xdf_streams=choice or None)
        # QC of the recording as read, before any step repairs or fills its samples
        bad = nonfinite_qc(path, session.raw.get_data(), session.raw.ch_names, session.raw.get_channel_types(),
                           need_eeg=bool(feats["eeg"]))
        if cfg["align"]["refine_onsets"]:
            from .onsets import refine_session_onsets

            session = refine_session_onsets(session, cfg["align"]["refine_onsets"],
                                            search_s=tuple(cfg["align"]["refine_search_s"]),
                                            min_confidence=cfg["align"]["refine_min_confidence"])
        if pre["enabled"]:
            from .preprocess import preprocess

            session = preprocess(session, sfreq=pre["sfreq"], l_freq=pre["l_freq"], h_freq=pre["h_freq"],
                                 reference=pre["reference"], eog=pre["eog"] or None)
        trials = make_trials(session, protocol=protocol, sfreq=pre["sfreq"])
    trials.subject = sub
    if trials.n_trials == 0:
        raise NeuromerError(f"{path}: no usable trials.")
    outputs = {"trials": str(write_trials(trials, out / "trials-epo.fif", overwrite=True)),
               "quality": _write_table(signal_quality(trials, bad.get("nonfinite_fraction")), out / "quality.csv")}
    dropped = trials.dropped.assign(trial=lambda d: d["trial"].astype(int)).to_dict("records")
    eeg = physio = None
    if feats["eeg"] and len(trials.picks("eeg")):
        from .eeg.features import eeg_window_features

        baseline = None if feats["eeg_baseline"] in (None, "none") else feats["eeg_baseline"]
        eeg = eeg_window_features(trials, grid=grid, baseline=baseline)
        outputs["eeg"] = _write_table(eeg, out / "eeg.parquet")
    if feats["physio"] and len(trials.picks(["gsr", "ecg", "bio", "resp", "temperature", "emg", "eog"])):
        from .physio.features import physio_window_features

        # the continuous recording, so that SCRs, beats and breaths are found over the whole of it
        physio = physio_window_features(trials, grid=grid, session=session,
                                        min_scr_amplitude_us=feats["physio_min_scr_amplitude_us"],
                                        context_s=feats["physio_context_s"])
        outputs["physio"] = _write_table(physio, out / "physio.parquet")
    from .align import align

    audio = pd.read_parquet(audio_table_path) if audio_table_path else None
    aligned = align(trials, audio, eeg=eeg if eeg is not None else False,
                    physio=physio if physio is not None else False, grid=grid,
                    audio_latency_s=feats["audio_latency_s"])
    # self-report travels with every window of its trial
    labels = trials.metadata[["trial", *LABEL_NAMES]]
    aligned = aligned.drop(columns=[c for c in LABEL_NAMES if c in aligned]).merge(labels, on="trial", how="left")
    outputs["aligned"] = _write_table(aligned, out / "aligned.parquet")
    if cfg["trf"]["enabled"]:
        from .trf_stage import trf_subject_stage

        outputs.update(trf_subject_stage(trials, protocol, cfg, out))
    return outputs, dropped, bad


#: a subject whose every EEG channel is more than this fraction NaN/inf has nothing to analyse
_MAX_EEG_NONFINITE = 0.5


def nonfinite_qc(path: Path, data: np.ndarray, ch_names: list[str], ch_types: list[str], *,
                 need_eeg: bool = True) -> dict:
    """NaN/inf counts of a recording as read (before any repair), and a failure if no EEG is left.

    Parameters
    ----------
    path : Path
        Named in the error.
    data : ndarray, shape (n_channels, n_samples)
    ch_names, ch_types : list of str
    need_eeg : bool
        Raise when every EEG channel is more than half NaN/infinite (EEG features are wanted).

    Returns
    -------
    dict
        ``{}`` for a clean recording, else ``n_nonfinite`` (samples) and ``nonfinite_fraction``
        per channel that has any (0-1), as recorded in the subject's ``run.json`` entry.

    Raises
    ------
    NeuromerError
        Every EEG channel is more than half NaN/infinite and ``need_eeg``.
    """
    counts = (~np.isfinite(data)).sum(axis=1)
    frac = counts / max(data.shape[1], 1)
    eeg = np.array([t == "eeg" for t in ch_types], bool)
    if need_eeg and eeg.any() and (frac[eeg] > _MAX_EEG_NONFINITE).all():
        raise NeuromerError(f"{path}: every EEG channel is more than {_MAX_EEG_NONFINITE:.0%} NaN or infinite "
                            f"(NaN/inf fraction {frac[eeg].mean():.2f} over {int(eeg.sum())} channels); "
                            "nothing to analyse.")
    if not frac.any():
        return {}
    return {"n_nonfinite": int(counts.sum()),
            "nonfinite_fraction": {n: float(f) for n, f in zip(ch_names, frac) if f > 0}}


def signal_quality(trials, recorded_nonfinite: dict | None = None) -> pd.DataFrame:
    """Per channel: type, SD (µV for EEG/EOG/EMG), NaN fraction and a flag (flat/nan/noisy).

    ``nan_fraction`` is measured in the trials (NaN left where long runs of bad samples were);
    ``nonfinite_recorded`` is the fraction of the channel's samples that were NaN/infinite in the
    recording as read (``recorded_nonfinite``, ``{channel: fraction}`` from :func:`nonfinite_qc`),
    before short runs were interpolated.
    """
    data = trials.data
    with np.errstate(invalid="ignore"):
        sd = np.nanstd(data, axis=(0, 2))
    nan_frac = np.isnan(data).mean(axis=(0, 2))
    types = np.array(trials.ch_types)
    flags = []
    for i, t in enumerate(types):
        same = sd[(types == t) & np.isfinite(sd)]
        ref = np.median(same) if len(same) else np.nan
        if nan_frac[i] > 0:
            flags.append("nan")
        elif not np.isfinite(sd[i]) or sd[i] < 1e-9 * max(ref, 1.0):
            flags.append("flat")
        elif t == "eeg" and ref > 0 and sd[i] > 5 * ref:
            flags.append("noisy")
        else:
            flags.append("")
    recorded = [float((recorded_nonfinite or {}).get(n, 0.0)) for n in trials.ch_names]
    return pd.DataFrame({"subject": trials.subject, "channel": trials.ch_names, "type": types, "std": sd,
                         "nan_fraction": nan_frac, "nonfinite_recorded": recorded, "flag": flags})


def _write_table(df: pd.DataFrame, path: Path) -> str:
    return str(write_table(df, path))


def _write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), encoding="utf-8")


def _is_done(cfg: RunConfig, path: Path, audio_path: str | None = None) -> bool:
    """A subject is done if its input, its config and the stimulus audio table are unchanged."""
    status_file = cfg.out / "subjects" / f"sub-{subject_id(path)}" / "status.json"
    if not status_file.is_file():
        return False
    try:
        st = json.loads(status_file.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    events = cfg.events_for(path)
    events_hash = file_hash(events) if events is not None and events.is_file() else None
    return (st.get("status") == "done" and st.get("input_hash") == file_hash(path)
            and st.get("events_hash") == events_hash
            and st.get("config_hash") == cfg.subject_hash()
            and st.get("audio_hash") == (file_hash(Path(audio_path)) if audio_path else None)
            and all(Path(p).is_file() for p in (st.get("outputs") or {}).values()))


# --------------------------------------------------------------------------- audio (once per stimulus)
def audio_stage(cfg: RunConfig, progress: Callable[[str, int, int], None] | None = None,
                errors: dict | None = None) -> str | None:
    """Audio features + audio emotion per stimulus on the window grid, cached by content hash.

    Runs once, before the per-subject tasks, in the calling process: every subject's alignment
    then reads the same table (a stimulus heard by all subjects is analysed once). A stimulus
    whose audio cannot be read is left out with a warning and recorded in ``errors`` (its
    trials get NaN audio columns); the study goes on.
    """
    if not cfg["features"]["audio"]:
        return None
    protocol = cfg.protocol()
    stimuli = [s for s in (protocol.stimuli if protocol else ()) if s.file is not None and s.file.is_file()]
    if not stimuli:
        logger.info("no stimulus audio files in the protocol; audio features skipped")
        return None
    from .audio import stimulus_table

    count = iter(range(1, len(stimuli) + 1))
    tick = (lambda sid: progress("stimuli", next(count), len(stimuli))) if progress else None
    table = stimulus_table({s.id: s.file for s in stimuli}, window_s=cfg["windows"]["window_s"],
                           hop_s=cfg["windows"]["hop_s"], cache_dir=cfg.out / "audio" / "cache",
                           melody=bool(cfg["features"]["audio_melody"]), vocal=bool(cfg["features"]["audio_vocal"]),
                           progress=tick, on_error="warn", errors=errors)
    if not any(c.startswith("audio_") for c in table.columns):
        logger.warning("no stimulus audio could be analysed; audio features skipped")
        return None
    return _write_table(table, cfg.out / "audio" / "audio_features.parquet")


# --------------------------------------------------------------------------- execution
def run(cfg: RunConfig, *, workers: int | None = None, scheduler: str | None = None,
        progress: Callable[[str, int, int], None] | None = None, report: bool = True,
        announce: Callable[[str], None] | None = None, overwrite: bool = False) -> dict:
    """Run the whole pipeline; returns the ``run.json`` record.

    Parameters
    ----------
    cfg : RunConfig
    workers : int | None
        ``> 1`` starts a local Dask cluster with that many single-threaded worker processes.
    scheduler : str | None
        Address of an existing Dask scheduler (``tcp://host:8786``); overrides ``workers``.
    progress : callable | None
        Called as ``progress(stage, done, total)`` as subjects complete.
    report : bool
        Write ``report.html``.
    announce : callable | None
        Called with messages the user should see (the Dask dashboard address); default: log.
    overwrite : bool
        Write into an existing folder that is not a run folder (no ``run.json``); files with the
        run's names there are replaced. Without it such a folder is refused, so a mistyped
        ``--out`` never replaces a user's files. A run folder itself is always resumed.
    """
    t_start = time.perf_counter()
    workers = workers or cfg["execution"]["workers"]
    scheduler = scheduler if scheduler is not None else cfg["execution"]["scheduler"]
    out = Path(cfg.out)
    if not overwrite and out.is_dir() and not (out / "run.json").is_file() and any(out.iterdir()):
        raise NeuromerError(f"{out}: folder holds files but is not a run folder (no run.json); refusing to "
                            "write the run into it. Choose another run folder or pass --overwrite.")
    out = ensure_dir(cfg.out, "run folder")
    record = {"config": cfg.sections, "config_path": str(cfg.path) if cfg.path else None,
              "versions": _versions(), "python": platform.python_version(),
              "inputs": {str(p): file_hash(p) for p in cfg.inputs}, "subjects": {},
              "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    progress = progress or (lambda stage, done, total: None)
    if not (out / "run.json").is_file():  # the folder is a run folder from now on (resumable)
        _write_json(out / "run.json", record)

    audio_errors: dict = {}
    audio_path = audio_stage(cfg, progress, audio_errors)
    if audio_errors:
        record["audio_failed"] = audio_errors
    todo = [p for p in cfg.inputs if not _is_done(cfg, p, audio_path)]
    for p in cfg.inputs:
        if p not in todo:
            st = json.loads((out / "subjects" / f"sub-{subject_id(p)}" / "status.json").read_text())
            st["skipped"] = True
            record["subjects"][st["subject"]] = st
    if len(todo) < len(cfg.inputs):
        logger.info("skipping %d subject(s) with unchanged inputs and config", len(cfg.inputs) - len(todo))
    payload = {"sections": cfg.sections, "path": str(cfg.path) if cfg.path else None}
    args = [(str(p), payload, str(out), audio_path) for p in todo]
    done = len(cfg.inputs) - len(todo)
    progress("subjects", done, len(cfg.inputs))
    announce = announce or logger.info
    for status in _execute(args, workers=workers, scheduler=scheduler,
                           memory_limit=cfg["execution"]["memory_limit"], announce=announce):
        record["subjects"][status["subject"]] = status
        done += 1
        progress("subjects", done, len(cfg.inputs))
        _write_json(out / "run.json", record)

    ok = [s for s in record["subjects"].values() if s["status"] == "done"]
    record["failed"] = sorted(s["subject"] for s in record["subjects"].values() if s["status"] != "done")
    if ok:
        from .analysis import group_stage

        record["group"] = group_stage(cfg, sorted(ok, key=lambda s: s["subject"]), audio_path)
        if cfg["trf"]["enabled"]:
            from .trf_stage import trf_group_stage

            record["trf"] = trf_group_stage(cfg, sorted(ok, key=lambda s: s["subject"]))
        progress("group", 1, 1)
        if report:
            from .report import make_report

            t_report = time.perf_counter()
            record["report"] = str(make_report(out))
            record["report_seconds"] = round(time.perf_counter() - t_report, 2)
    record["run_seconds"] = round(time.perf_counter() - t_start, 2)
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _write_json(out / "run.json", record)
    return record


def _execute(args: list[tuple], *, workers: int, scheduler: str | None, memory_limit: str = "4GiB",
             announce: Callable[[str], None] = logger.info):
    """Yield subject statuses as they complete: in-process, local cluster or a given scheduler."""
    from ._cluster import run_tasks

    keys = [f"subject-{subject_id(Path(a[0]))}" for a in args]
    for i, status, exc in run_tasks(process_subject, args, keys=keys, workers=workers, scheduler=scheduler,
                                    memory_limit=memory_limit, announce=announce):
        if exc is not None:  # the task itself never raises; this is a lost worker
            status = {"subject": subject_id(Path(args[i][0])), "status": "failed",
                      "error": f"{type(exc).__name__}: {exc}"}
        yield status


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
