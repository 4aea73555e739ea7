"""Clip and window summaries of the audio features, cached per file content.

For every window of the shared grid (``window_s``, ``hop_s``, from the start of the audio) and for
the whole clip, every frame feature (each MFCC, delta, chroma and contrast band included) is
summarised by ``mean``, ``std``, ``p10``, ``p50``, ``p90`` and ``slope`` (per second). Properties of a stretch of music are added: tempo, pulse clarity and tempo stability
(from the tempogram), onset rate (onsets per second), key, mode, key clarity and mode strength
(Krumhansl-Schmuckler), the harmony/dissonance/timbre-shape statistics of
:mod:`neuromer.audio._timbre_stats`, the melody/expressive features of :mod:`neuromer.audio.melody`, and the
default audio-emotion predictions (:mod:`neuromer.audio.emotion`). Every column is prefixed
``audio_``.

Key, mode and tempo need more music than a 1 s window holds. Tempo is computed over a context of
``context_s`` seconds centred on the window (clipped to the clip). Key and mode are read from the
chroma around the window, weighted by a triangle reaching ``KEY_CONTEXT_S / 2`` either side, and
decoded jointly over the windows so that the key changes only where the music supports it for a
while (:func:`window_keys`). That is stated in the column docs of the report and keeps them
comparable between windows.

A file longer than 2 min (twice ``block_s``) is decoded as a stream and analysed in blocks
(:mod:`neuromer.audio.blockwise`), in bounded memory and with the same table.

Results are cached in ``cache_dir`` under the SHA-256 of the audio file's bytes plus the analysis
settings (:func:`cache_file`), so a stimulus heard by 32 subjects is analysed once, an edited file is
re-analysed, and ``neuromer audio train``/``predict`` reuse what ``neuromer audio features`` cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings

import numpy as np
import pandas as pd

from .._checks import check_file, ensure_dir
from .._logging import logger
from ..errors import NeuromerError
from ..windows import WindowGrid
from .features import (PITCH_CLASSES, SR, FrameFeatures, frame_features, key_chroma, key_correlations, key_mode,
                       load_audio, tempo_from_tempogram)

#: Bumped whenever a change alters the numbers, so stale cache entries are not reused.
CACHE_VERSION = 8
_NO_STATS = ("tempo_bpm", "pulse_clarity")  # summarised from the tempogram instead
#: Full width (s) of the triangular weighting of the chroma around a window for its key and mode.
KEY_CONTEXT_S = 16.0
#: Cost of a key change when the key is decoded over the windows (profile correlation x seconds).
KEY_CHANGE_PENALTY = 1.0
_AUDIBLE_DB = -60.0  # frames quieter than this carry no key evidence


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: Windows summarised at once by :func:`_window_stats` (its temporaries are features x windows x
#: frames per window: ~30 MB for 250 one-second windows).
_STATS_CHUNK = 250


def _window_stats(ff: FrameFeatures, wins) -> pd.DataFrame:
    """Statistics of every frame feature in every window, vectorised over features and windows."""
    names = [k for k in ff.values if k not in _NO_STATS]
    mat = np.vstack([ff.values[k] for k in names])  # (n_features, n_frames)
    wins = np.asarray(wins, dtype=float).reshape(-1, 2)
    # in runs of windows: memory stays bounded on an hour of audio (thousands of windows)
    parts = [_stats_of(ff, names, mat, wins[a: a + _STATS_CHUNK]) for a in range(0, len(wins), _STATS_CHUNK)]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _stats_of(ff: FrameFeatures, names: list[str], mat: np.ndarray, wins: np.ndarray) -> pd.DataFrame:
    bounds = np.searchsorted(ff.times, wins)
    i0 = np.minimum(bounds[:, 0], len(ff.times) - 1)
    i1 = np.minimum(np.maximum(bounds[:, 1], i0 + 1), len(ff.times))  # >= 1 frame per window
    width = int((i1 - i0).max())
    idx = i0[:, None] + np.arange(width)[None, :]  # (n_windows, width)
    valid = idx < i1[:, None]
    idx = np.minimum(idx, len(ff.times) - 1)
    x = np.where(valid[None], mat[:, idx], np.nan)  # (n_features, n_windows, width)
    t = np.where(valid, ff.times[idx], np.nan)[None]
    t = np.where(np.isfinite(x), t, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN, as documented
        mean = np.nanmean(x, axis=-1)
        stats = {"mean": mean, "std": np.nanstd(x, axis=-1)}
        stats["p10"], stats["p50"], stats["p90"] = _nan_percentiles(x, (10, 50, 90))
        dt = t - np.nanmean(t, axis=-1, keepdims=True)
        stats["slope"] = np.nansum(dt * (x - mean[..., None]), axis=-1) / np.nansum(dt ** 2, axis=-1)
    # the frame a dict of ~500 columns made, without pandas' per-column checks: columns name-major,
    # held as one C-ordered (n_columns, n_windows) float64 block, as pandas stacked those columns
    block = np.empty((len(names), len(stats), len(wins)))
    for i, arr in enumerate(stats.values()):
        block[:, i] = arr
    block = block.reshape(-1, len(wins))  # (n_features * n_stats, n_windows), C-ordered
    return pd.DataFrame(block.T, columns=[f"{name}_{stat}" for name in names for stat in stats], copy=False)


def _nan_percentiles(x: np.ndarray, qs) -> list[np.ndarray]:
    """``np.nanpercentile(x, q, axis=-1)`` (linear interpolation) for each q, without its Python loop."""
    srt = np.sort(x, axis=-1)  # NaNs sort last
    n = np.isfinite(x).sum(axis=-1)
    out = []
    for q in qs:
        pos = np.maximum(n - 1, 0) * (q / 100.0)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        a = np.take_along_axis(srt, lo[..., None], axis=-1)[..., 0]
        b = np.take_along_axis(srt, hi[..., None], axis=-1)[..., 0]
        out.append(np.where(n > 0, a + (pos - lo) * (b - a), np.nan))
    return out


def _chroma_matrix(ff: FrameFeatures) -> np.ndarray:
    return np.vstack([ff.values[f"chroma_{name}"] for name in PITCH_CLASSES])


def _clip_key(ff: FrameFeatures) -> pd.DataFrame:
    """Key of the whole clip: :func:`key_mode` of its audible frames."""
    audible = ff.values["rms_db"] > _AUDIBLE_DB
    km = key_mode(_chroma_matrix(ff)[:, audible]) if audible.any() else key_mode(np.zeros(12))
    return pd.DataFrame([km])


def window_keys(ff: FrameFeatures, wins, *, context_s: float = KEY_CONTEXT_S,
                penalty: float = KEY_CHANGE_PENALTY) -> pd.DataFrame:
    """Key, mode, key clarity and mode strength of each window, decoded over the windows.

    Parameters
    ----------
    ff : FrameFeatures
        Frame features of the clip.
    wins : sequence of (t_start_s, t_end_s)
        Windows, in seconds.
    context_s : float
        Full width (seconds) of the triangular weighting of the frames around each window's centre.
    penalty : float
        Cost of a key change, in profile correlation x seconds; 0 takes each window's best key.

    Returns
    -------
    DataFrame
        One row per window: ``key``, ``mode``, ``key_clarity``, ``mode_strength`` as in
        :func:`~neuromer.audio.features.key_mode`; NaN where the context is silent.

    Notes
    -----
    The evidence of a window is the correlation of the 24 key profiles with the mean compressed
    chroma (:func:`~neuromer.audio.features.key_chroma`) of the audible frames, weighted by a
    triangle of full width ``context_s`` centred on the window (truncated at the clip's ends);
    ``key_clarity`` (best correlation) and ``mode_strength`` (best major minus best minor) are read
    from it. ``key`` and ``mode`` are the Viterbi path over the 24 keys through the windows in time
    order that maximises the evidence of its keys, each window weighted by the seconds it stands for
    (the spacing of window centres), minus ``penalty`` per key change: a new key must be favoured by
    a correlation margin ``d`` for about ``penalty / d`` seconds. A few seconds of chords that fit the
    relative major better (the minor's iv-v, say) no longer flip the mode, while a modulation that
    lasts is followed; the decoding sees both sides, so the change lands within a few seconds of
    where it happens (bench/key_mode.py). Where the path's key is not the window's own best, ``key``
    and ``key_clarity`` / ``mode_strength`` can disagree: the latter describe the window's context.
    """
    from scipy.ndimage import uniform_filter1d

    wins = np.asarray(wins, dtype=float).reshape(-1, 2)
    cols = ("key", "mode", "key_clarity", "mode_strength")
    if len(wins) == 0:
        return pd.DataFrame(columns=list(cols), dtype=float)
    audible = (ff.values["rms_db"] > _AUDIBLE_DB).astype(float)
    dt = ff.hop_length / ff.sr
    # a triangle of half-width L frames is a box of L frames convolved with itself
    box = 2 * int(round(context_s / 2 / dt / 2)) + 1
    weighted = np.vstack([key_chroma(_chroma_matrix(ff)) * audible, audible])
    for _ in range(2):
        weighted = uniform_filter1d(weighted, size=box, axis=1, mode="constant")
    centre = wins.mean(axis=1)
    idx = np.clip(np.rint(centre / dt).astype(int), 0, weighted.shape[1] - 1)
    norm = weighted[12, idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = weighted[:12, idx] / np.where(norm > 1e-9, norm, np.nan)
    r = key_correlations(mean.T)  # (n_windows, 24), NaN rows without evidence
    has = np.isfinite(r).all(axis=1)
    order = np.argsort(centre, kind="stable")
    seconds = np.gradient(centre[order]) if len(order) > 1 else np.ones(1)
    evidence = np.where(has[order, None], r[order], 0.0) * np.maximum(seconds, 0.0)[:, None]
    path = np.empty(len(wins), dtype=int)
    path[order] = _viterbi(evidence, penalty)
    out = pd.DataFrame({"key": (path % 12).astype(float), "mode": (path < 12).astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["key_clarity"] = np.nanmax(r, axis=1)
        out["mode_strength"] = np.nanmax(r[:, :12], axis=1) - np.nanmax(r[:, 12:], axis=1)
    out.loc[~has, list(cols)] = np.nan
    return out


def _viterbi(evidence: np.ndarray, penalty: float) -> np.ndarray:
    """State path maximising the summed evidence (n_steps, n_states) minus ``penalty`` per change."""
    n, m = evidence.shape
    score = evidence[0].copy()
    back = np.empty((n, m), dtype=np.intp)
    stay = np.arange(m)
    for i in range(1, n):
        best = int(np.argmax(score))
        keep = score >= score[best] - penalty
        back[i] = np.where(keep, stay, best)
        score = np.where(keep, score, score[best] - penalty) + evidence[i]
    path = np.empty(n, dtype=np.intp)
    path[-1] = int(np.argmax(score))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def _context_stats(ff: FrameFeatures, t0: float, t1: float, context_s: float) -> dict[str, float]:
    centre = 0.5 * (t0 + t1)
    half = max(context_s, t1 - t0) / 2
    c0, c1 = max(0.0, centre - half), min(ff.duration_s, centre + half)
    i0, i1 = np.searchsorted(ff.times, [c0, c1])
    i1 = max(i1, i0 + 1)
    out = {}
    tempo, clarity = tempo_from_tempogram(ff.tempogram[:, i0:i1], ff.tempogram_bpm)
    out["tempo_bpm"], out["pulse_clarity"] = tempo, clarity
    local = ff.values["tempo_bpm"][i0:i1]
    local = local[np.isfinite(local)]
    # share of frames whose local tempo agrees (within 4 %) with the context tempo
    out["tempo_stability"] = float(np.mean(np.abs(local / tempo - 1) < 0.04)) if len(local) and tempo > 0 else np.nan
    n_on = np.sum((ff.onsets_s >= t0) & (ff.onsets_s < t1))
    out["onset_rate"] = float(n_on / (t1 - t0)) if t1 > t0 else np.nan
    return out


def summarize(y: np.ndarray, sr: int = SR, *, windows=None, melody: bool = True, vocal: bool = False,
              emotion: bool = True, context_s: float = 4.0) -> pd.DataFrame:
    """Summarise a clip per window (or as a whole).

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono signal.
    sr : int
        Sampling rate in Hz.
    windows : sequence of (t_start_s, t_end_s) | None
        Windows in seconds from the start of the audio; ``None`` summarises the whole clip as one row.
    melody : bool
        Add the melody/expressive/texture features (``audio_melody_*``, ``audio_texture_*``, ...).
    vocal : bool
        Also compute the melody features on the separated vocal part (``audio_vocal_*``).
    emotion : bool
        Add the default predictor's ``audio_pred_valence``, ``audio_pred_arousal``, ``audio_pred_quadrant``.
    context_s : float
        Context (seconds, centred on the window) for tempo; key and mode: see :func:`window_keys`.

    Returns
    -------
    DataFrame
        One row per window: ``t_start``, ``t_end`` and ``audio_*`` columns.
    """
    ff = frame_features(y, sr)
    contour = vocal_contour = None
    if melody or vocal:
        from .melody import f0_contour

        contour = f0_contour(y, sr) if melody else None
        if vocal:
            from .separation import separate_vocals

            vocal_contour = f0_contour(separate_vocals(y, sr)[0], sr)
    return summarize_frames(ff, windows=windows, contour=contour, vocal_contour=vocal_contour, emotion=emotion,
                            context_s=context_s)


def summarize_frames(ff: FrameFeatures, *, windows=None, contour=None, vocal_contour=None, emotion: bool = True,
                     context_s: float = 4.0) -> pd.DataFrame:
    """:func:`summarize` from frame features and pitch contours computed beforehand.

    Parameters
    ----------
    ff : FrameFeatures
        Frame features of the clip (:func:`~neuromer.audio.features.frame_features`, or joined from
        blocks by :mod:`neuromer.audio.blockwise`).
    windows : sequence of (t_start_s, t_end_s) | None
        As in :func:`summarize`.
    contour, vocal_contour : Contour | None
        Pitch contour of the mix (``audio_melody_*`` ... columns) and of the separated vocals
        (``audio_vocal_*``); None leaves those columns out.
    emotion : bool
        Add the default predictor's columns.
    context_s : float
        As in :func:`summarize`.

    Returns
    -------
    DataFrame
        As :func:`summarize`.
    """
    clip = windows is None
    wins = [(0.0, ff.duration_s)] if clip else [(float(a), float(b)) for a, b in windows]
    context = pd.DataFrame([_context_stats(ff, t0, t1, ff.duration_s if clip else context_s) for t0, t1 in wins])
    context = pd.concat([_clip_key(ff) if clip else window_keys(ff, wins), context], axis=1)
    from ._timbre_stats import timbre_window_stats

    table = pd.concat([pd.DataFrame({"t_start": [w[0] for w in wins], "t_end": [w[1] for w in wins]}),
                       _window_stats(ff, wins), timbre_window_stats(ff, wins), context], axis=1)
    if contour is not None:
        table = _add_melody(table, contour, wins, prefix="")
    if vocal_contour is not None:
        table = _add_melody(table, vocal_contour, wins, prefix="vocal_")
    table = table.rename(columns={c: f"audio_{c}" for c in table.columns if c not in ("t_start", "t_end")})
    if emotion:
        from .emotion import predict_default

        table = pd.concat([table, predict_default(table)], axis=1)
    return table


def _add_melody(table: pd.DataFrame, contour, wins, prefix: str) -> pd.DataFrame:
    from .melody import melody_features

    mel = melody_features(contour=contour, windows=wins)
    if isinstance(mel, dict):
        mel = pd.DataFrame([mel])
    mel = mel.drop(columns=[c for c in ("t_start", "t_end", "window") if c in mel]).reset_index(drop=True)
    return pd.concat([table, mel.add_prefix(prefix)], axis=1)


def audio_features(source, *, window_s: float | None = None, hop_s: float | None = None,
                   melody: bool = True, vocal: bool = False, emotion: bool = True,
                   cache_dir: str | os.PathLike | None = None, block_s: float | None = None) -> pd.DataFrame:
    """Audio features of one file, per clip or per window of the grid, cached by content.

    A file longer than ``2 * block_s`` is decoded and analysed block by block in bounded memory
    (:mod:`neuromer.audio.blockwise`; ``vocal=True`` excepted), with the same results.

    Parameters
    ----------
    source : path-like | (ndarray, int)
        Audio file, or ``(samples, sample_rate)``.
    window_s, hop_s : float | None
        Window grid; ``None`` (both) gives one row for the whole clip.
    melody, vocal, emotion : bool
        See :func:`summarize`.
    cache_dir : path-like | None
        Folder of cached tables (files only; arrays are never cached).
    block_s : float | None
        Seconds of audio per block for long files (default
        :data:`neuromer.audio.blockwise.BLOCK_S`, 60 s); ``math.inf`` analyses every file whole.
        Not part of the cache key: both paths give the same table.

    Returns
    -------
    DataFrame
        ``window`` (0.. or -1 for the clip row), ``t_start``, ``t_end``, ``duration_s`` and
        ``audio_*`` columns.
    """
    windowed = window_s is not None or hop_s is not None
    grid = WindowGrid(window_s if window_s is not None else 1.0, hop_s if hop_s is not None else 0.5)
    name = str(source) if isinstance(source, (str, os.PathLike)) else "audio array"
    cache = cache_file(source, cache_dir, window_s=window_s, hop_s=hop_s, melody=melody, vocal=vocal)
    table = _cached_table(cache) if cache is not None else None
    if table is not None:
        logger.info("audio features of %s from cache %s", source, cache.name)
        # the predictions are recomputed on every read: cheap, and current with the predictor's version
        table = table.drop(columns=[c for c in table.columns if c.startswith("audio_pred_")])
    else:
        # one BLAS/OpenMP thread, as in a Dask worker process: a multi-threaded BLAS sums in another
        # order (last-bit differences in e.g. MFCC means), and results must not depend on where a
        # clip was computed (`neuromer audio features --workers N` is bit for bit the in-process run)
        from ._fast import one_thread

        with one_thread():  # threadpool_limits(limits=1) without re-scanning the libraries every clip
            table, duration = _compute(source, name, grid, windowed, melody, vocal, block_s)
        table.insert(3, "duration_s", duration)
        if cache is not None:
            # stored with the default predictions, so a reader of any version finds a complete table
            from ._cache import write_entry
            from .emotion import predict_default

            write_entry(pd.concat([table, predict_default(table, warn=False)], axis=1), cache)
    if emotion:
        from .emotion import predict_default

        table = pd.concat([table, predict_default(table, source=name)], axis=1)
    return table


def _compute(source, name: str, grid: WindowGrid, windowed: bool, melody: bool, vocal: bool,
             block_s: float | None = None):
    """(feature table, duration in s) of one clip: the uncached part of :func:`audio_features`."""
    from .blockwise import use_blocks

    if not vocal and use_blocks(source, block_s):
        return _compute_blocks(source, name, grid, windowed, melody, block_s)
    y, sr = load_audio(source)
    duration = len(y) / sr
    if windowed:
        starts = grid.starts(duration)
        if len(starts) == 0:
            logger.warning("%s is %.2f s long, shorter than one %.2f s window: no windows.",
                           name, duration, grid.window_s)
        table = summarize(y, sr, windows=[(s, s + grid.window_s) for s in starts], melody=melody,
                          vocal=vocal, emotion=False) if len(starts) else pd.DataFrame(columns=["t_start", "t_end"])
        table.insert(0, "window", np.arange(len(table)))
    else:
        table = summarize(y, sr, windows=None, melody=melody, vocal=vocal, emotion=False)
        table.insert(0, "window", -1)
    return table, duration


def _compute_blocks(source, name: str, grid: WindowGrid, windowed: bool, melody: bool, block_s: float | None):
    """:func:`_compute` of a long file, block by block (:mod:`neuromer.audio.blockwise`)."""
    from .blockwise import block_frames

    logger.info("%s: long audio, analysed in blocks", name)
    ff, contour = block_frames(source, block_s=block_s, melody=melody)
    duration = ff.duration_s  # a long file is never padded to one frame
    if windowed:
        starts = grid.starts(duration)
        table = summarize_frames(ff, windows=[(s, s + grid.window_s) for s in starts], contour=contour,
                                 emotion=False)
        table.insert(0, "window", np.arange(len(table)))
    else:
        table = summarize_frames(ff, windows=None, contour=contour, emotion=False)
        table.insert(0, "window", -1)
    return table, duration


def _cached_table(cache) -> pd.DataFrame | None:
    """The table of cache entry ``cache`` (``.npz``), else of the entry an earlier version wrote as
    Parquet under the same key; ``None`` if neither is there or the entry is unreadable (warned:
    e.g. cut short by a system crash, as entries are not fsynced; it is then recomputed).
    """
    from ._cache import UnreadableEntry, read_entry

    legacy = cache.with_suffix(".parquet")
    try:
        if cache.is_file():
            return read_entry(cache)
        if legacy.is_file():
            return pd.read_parquet(legacy)
    except (UnreadableEntry, OSError, ValueError) as exc:  # pyarrow's errors are ValueErrors/OSErrors
        logger.warning("audio feature cache entry unreadable, recomputed: %s", exc)
    return None


def cache_file(source, cache_dir, *, window_s: float | None = None, hop_s: float | None = None,
               melody: bool = True, vocal: bool = False):
    """The cache entry of :func:`audio_features` for these settings (``None`` without a cache or a file).

    One key serves every caller (``neuromer audio features``, ``train``, ``predict``, ``run``): the
    SHA-256 of the file's bytes plus the analysis settings (cache version, window grid, melody,
    vocal). Whether the caller wants the default predictions is not part of it: they are stored in
    the entry and recomputed on reading. The ``"emotion": true`` field stays in the hashed settings
    so that entries written before the key was unified (by ``audio features``) keep their name.

    Returns
    -------
    pathlib.Path | None
        ``cache_dir / "<32 hex digits>.npz"`` (the folder is created; see
        :mod:`neuromer.audio._cache`). Entries that earlier versions wrote as
        ``<32 hex digits>.parquet`` under the same key are still read.
    """
    if cache_dir is None or not isinstance(source, (str, os.PathLike)):
        return None
    windowed = window_s is not None or hop_s is not None
    grid = WindowGrid(window_s if window_s is not None else 1.0, hop_s if hop_s is not None else 0.5)
    path = check_file(source, "audio file")
    settings = {"v": CACHE_VERSION, "grid": [grid.window_s, grid.hop_s] if windowed else None,
                "melody": melody, "vocal": vocal, "emotion": True}
    key = hashlib.sha256((content_hash(path) + json.dumps(settings, sort_keys=True)).encode()).hexdigest()
    return ensure_dir(cache_dir, "cache folder") / f"{key[:32]}.npz"


def stimulus_table(stimuli: dict, *, window_s: float = 1.0, hop_s: float = 0.5,
                   cache_dir: str | os.PathLike | None = None, melody: bool = True,
                   vocal: bool = False, progress=None, on_error: str = "raise",
                   errors: dict | None = None) -> pd.DataFrame:
    """Window-level audio features and audio-emotion predictions of every stimulus.

    Parameters
    ----------
    stimuli : dict of str -> path-like
        Stimulus id -> audio file.
    window_s, hop_s : float
        The shared window grid.
    cache_dir : path-like | None
        Cache folder (see :func:`audio_features`).
    melody, vocal : bool
        See :func:`summarize`.
    progress : callable | None
        Called as ``progress(stimulus_id)`` after each stimulus.
    on_error : ``"raise"`` | ``"warn"``
        A stimulus whose audio cannot be read (missing, corrupt, NaN samples): raise, or log a
        warning naming it and leave it out (its trials then get NaN ``audio_`` columns in
        :func:`neuromer.align.align`, which warns too).
    errors : dict | None
        With ``on_error="warn"``, filled with ``{stimulus_id: error message}``.

    Returns
    -------
    DataFrame
        ``stimulus_id``, ``window``, ``t_start``, ``t_end``, ``duration_s`` and ``audio_*``
        columns, one row per stimulus window, ready for :func:`neuromer.align.align`.
    """
    from .._checks import check_option

    check_option(on_error, ("raise", "warn"), "on_error")
    parts = []
    for sid, path in stimuli.items():
        try:
            table = audio_features(path, window_s=window_s, hop_s=hop_s, melody=melody, vocal=vocal,
                                   cache_dir=cache_dir)
        except NeuromerError as exc:
            if on_error == "raise":
                raise
            logger.warning("stimulus %s: no audio features (%s)", sid, exc)
            if errors is not None:
                errors[str(sid)] = str(exc)
        else:
            parts.append(table.assign(stimulus_id=str(sid)))
        if progress is not None:
            progress(sid)
    if not parts:
        return pd.DataFrame(columns=["stimulus_id", "window", "t_start", "t_end"])
    out = pd.concat(parts, ignore_index=True)
    return out[["stimulus_id"] + [c for c in out.columns if c != "stimulus_id"]]
