"""Audio features of many clips at once: one task per clip, in-process or on Dask.

``neuromer audio features|train|predict --workers N`` (or ``--scheduler ADDRESS``) run the clips
on the same Dask setup as ``neuromer run`` (:func:`neuromer._cluster.run_tasks`). Each clip is one
task; workers share the content-addressed cache folder, whose entries are written atomically (a
temporary file renamed over the entry), so two workers computing the same clip both leave a whole
entry and a reader never sees half a file. Results come back in input order and are the same bit
for bit whatever the number of workers: every clip is computed by the same code with one BLAS
thread (:func:`neuromer.audio.audio_features` limits it in-process too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from .._logging import logger
from ..errors import NeuromerError


def clip_table(path: str, window_s: float | None, hop_s: float | None, melody: bool, vocal: bool,
               emotion: bool, cache_dir: str | None, packed: bool = False):
    """One task: :func:`neuromer.audio.audio_features` of one file (module level so Dask can send it).

    With ``packed`` the table is returned as :func:`neuromer.audio._cache.pack` packs it (a JSON
    header and numeric blocks; :func:`clip_tables` unpacks it bit for bit): a Dask worker measures
    the size of every result it holds and sends, which for a DataFrame of ~500 columns cost ~45 ms
    of CPU per clip on its event loop (bench/audio_catalog.py), and microseconds for the packed form.
    """
    from .summary import audio_features

    table = audio_features(path, window_s=window_s, hop_s=hop_s, melody=melody, vocal=vocal, emotion=emotion,
                           cache_dir=cache_dir)
    if packed:
        from ._cache import pack

        return pack(table)
    return table


def warm_up() -> None:
    """Import the feature libraries and load their compiled code in this process (a Dask worker).

    A fresh process spends seconds importing librosa/scipy and loading numba's cached kernels on
    its first clip; done once per worker before the clips, so that cost is not charged to a clip.
    """
    import numpy as np

    from .summary import audio_features

    t = np.arange(int(2.0 * 22050)) / 22050
    audio_features((np.sin(2 * np.pi * 220 * t).astype(np.float32), 22050), emotion=False)


def clip_tables(files: Sequence[str | os.PathLike], *, window_s: float | None = None, hop_s: float | None = None,
                melody: bool = True, vocal: bool = False, emotion: bool = True,
                cache_dir: str | os.PathLike | None = None, workers: int = 1, scheduler: str | None = None,
                memory_limit: str = "4GiB", progress: Callable[[str], None] | None = None,
                announce: Callable[[str], None] = logger.info) -> tuple[list[pd.DataFrame | None], dict[str, str]]:
    """Audio features of every file, one task per file; a failed file does not stop the others.

    Parameters
    ----------
    files : sequence of path-like
        Audio files.
    window_s, hop_s, melody, vocal, emotion, cache_dir
        As for :func:`neuromer.audio.audio_features` (the cache folder must be shared by all
        workers when a remote ``scheduler`` is used).
    workers, scheduler, memory_limit
        As for :func:`neuromer._cluster.run_tasks` (``workers=1``: in the calling process).
    progress : callable | None
        Called with the file name as each file finishes (in completion order).
    announce : callable
        Called with the Dask dashboard address.

    Returns
    -------
    (list, dict)
        The table of each file in input order (``None`` for a failed file), and
        ``{file: one-line error}`` of the failed files. In-process only neuromer's own input errors
        (unreadable, corrupt, silent-NaN audio) are caught; on a cluster any error of a task is.
    """
    from .._cluster import run_tasks

    files = [str(f) for f in files]
    cache = str(cache_dir) if cache_dir is not None else None
    packed = bool(scheduler) or workers > 1  # in-process the DataFrame is not measured nor sent
    args = [(f, window_s, hop_s, melody, vocal, emotion, cache, packed) for f in files]
    keys = [f"clip-{i}-{Path(f).name[:40]}" for i, f in enumerate(files)]
    tables: list[pd.DataFrame | None] = [None] * len(files)
    errors: dict[str, str] = {}
    for i, table, exc in run_tasks(clip_table, args, keys=keys, workers=workers, scheduler=scheduler,
                                   memory_limit=memory_limit, announce=announce, retries=0,
                                   catch=(NeuromerError,), warm_up=warm_up, costs=[_size(f) for f in files]):
        if exc is None:
            if packed:
                from ._cache import unpack

                table = unpack(*table, where=files[i])
            tables[i] = table
        else:
            msg = str(exc) if isinstance(exc, NeuromerError) else f"{type(exc).__name__}: {exc}"
            errors[files[i]] = msg if msg.startswith(files[i]) else f"{files[i]}: {msg}"
        if progress is not None:
            progress(files[i])
    return tables, {f: errors[f] for f in files if f in errors}


def _size(path: str) -> int:
    """File size in bytes, the cost estimate of a clip (longer clips are bigger); 0 if unreadable."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
