"""Command-line sub-commands for features and alignment (registered by :mod:`neuromer.cli`).

``neuromer features eeg|physio TRIALS --out F.parquet`` and
``neuromer align TRIALS --audio AUDIO.parquet --out F.parquet``. Outputs are written atomically.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._logging import logger
from .errors import DataFormatError, NeuromerError

if TYPE_CHECKING:  # pandas loads only in the commands that use it (start-up time)
    import pandas as pd


def _keep_freed_memory(mmap_threshold_bytes: int = 32 << 20, trim_threshold_bytes: int = 128 << 20) -> bool:
    """Let this process reuse the memory it frees rather than return it at once (glibc only).

    The features are computed a few trials at a time, and each chunk's temporaries (a few MB)
    are freed before the next. By default glibc gives blocks above its (adaptive) mmap threshold
    and the top of the heap back to the system after such frees, so every chunk touches fresh
    pages again: ~20000 page faults, about 0.05 s of system CPU for a DEAP subject (5 % of
    ``neuromer features eeg``). Serving blocks below ``mmap_threshold_bytes`` from the heap and
    keeping up to ``trim_threshold_bytes`` of freed heap (``mallopt(M_MMAP_THRESHOLD)`` and
    ``mallopt(M_TRIM_THRESHOLD)``, the ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``
    settings) leaves ~3000 faults. Both are needed: either alone fixes the adaptive threshold
    at its current value and can make things worse. Set by these one-shot commands only when
    they are the program (``python -m neuromer``, the console script; see
    :func:`neuromer.cli.main`), never by the library or a ``main(argv)`` call from Python code:
    the process ends soon after and returns the memory at exit. A no-op elsewhere (other C
    libraries).

    Returns
    -------
    bool
        Whether the settings were applied.
    """
    import os

    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):  # raises or is empty where the C library is not glibc
            return False
    except (ValueError, OSError, AttributeError):
        return False
    import ctypes

    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    try:
        mallopt = ctypes.CDLL(None).mallopt
        return bool(mallopt(m_mmap_threshold, int(mmap_threshold_bytes))
                    and mallopt(m_trim_threshold, int(trim_threshold_bytes)))
    except (OSError, AttributeError):
        return False


def _grid(args):
    from .windows import WindowGrid

    return WindowGrid(args.window_s, args.hop_s)


def _write(table: pd.DataFrame, path: str, overwrite: bool) -> None:
    from .io._atomic import write_table

    write_table(table, path, overwrite=overwrite)
    logger.info("wrote %s (%d rows x %d columns)", path, *table.shape)


def _read_table(path: str, what: str, prefix: str = "") -> pd.DataFrame:
    import pandas as pd

    from ._checks import check_file

    path = check_file(path, what)
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise DataFormatError(f"{path}: not a readable Parquet {what} table ({type(exc).__name__}: {exc}).") from None
    if prefix and not any(str(c).startswith(prefix) for c in table.columns):
        raise DataFormatError(f"{path}: the {what} table has no {prefix}* feature columns (wrong table?).")
    return table


def _read_trials(path: str):
    from ._checks import check_file
    from .io import read_trials

    return read_trials(check_file(path, "TRIALS"))


def _write_columns(columns: dict, path: str, overwrite: bool) -> tuple[int, int]:
    """Write a table given as numpy columns: Parquet with pyarrow alone (no pandas), CSV with pandas."""
    n_rows, n_cols = len(next(iter(columns.values()))), len(columns)
    if path.lower().endswith(".parquet"):
        from .io._parquet import write_parquet_columns

        write_parquet_columns(columns, path, overwrite=overwrite)
        logger.info("wrote %s (%d rows x %d columns)", path, n_rows, n_cols)
    else:
        import pandas as pd

        _write(pd.DataFrame(columns), path, overwrite)
    return n_rows, n_cols


def _cmd_features(args) -> int:
    trials = _read_trials(args.trials)
    grid = _grid(args)
    if args.kind == "eeg":  # computed as numpy columns and written without pandas (start-up time)
        from .eeg import eeg_trial_columns, eeg_window_columns

        baseline = None if args.baseline == "none" else args.baseline
        columns = (eeg_trial_columns(trials, grid=grid) if args.per_trial
                   else eeg_window_columns(trials, grid=grid, baseline=baseline))
        n_rows, n_cols = _write_columns(columns, args.out, args.overwrite)
        print(f"{args.out}: {n_rows} rows x {n_cols} columns")
        return 0
    else:
        from .physio import physio_trial_features, physio_window_features

        if args.baseline != "none":
            raise NeuromerError("--baseline applies to EEG features only; use it with 'features eeg'.")
        opts = {"min_scr_amplitude_us": args.min_scr_amplitude_us, "context_s": args.context_s}
        table = (physio_trial_features(trials, **opts) if args.per_trial
                 else physio_window_features(trials, grid=grid, **opts))
    _write(table, args.out, args.overwrite)
    print(f"{args.out}: {len(table)} rows x {len(table.columns)} columns")
    return 0


def _cmd_align(args) -> int:
    from .align import align

    trials = _read_trials(args.trials)
    audio = _read_table(args.audio, "--audio", "audio_") if args.audio else None
    eeg = False if args.no_eeg else (_read_table(args.eeg, "--eeg", "eeg_") if args.eeg else None)
    physio = False if args.no_physio else (_read_table(args.physio, "--physio", "physio_") if args.physio else None)
    table = align(trials, audio, eeg=eeg, physio=physio, grid=_grid(args), audio_latency_s=args.audio_latency_s)
    _write(table, args.out, args.overwrite)
    print(f"{args.out}: {len(table)} windows x {len(table.columns)} columns")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("trials", metavar="TRIALS", help="trials file: DEAP .dat/.mat or MNE -epo.fif")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--window-s", type=float, default=1.0, help="window length in seconds (default 1.0)")
    p.add_argument("--hop-s", type=float, default=0.5, help="step between windows in seconds (default 0.5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def add_feature_commands(subparsers) -> None:
    """Register ``features eeg|physio`` and ``align`` on an argparse sub-parser collection."""
    p = subparsers.add_parser("features", help="EEG or physiological features per window (Parquet)",
                              description="Compute features on the shared window grid (one row per trial "
                                          "and window) or per trial, and write them as Parquet.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, text in (("eeg", "band power, relative power, DE, asymmetry, FAA, Hjorth, spectral entropy"),
                       ("physio", "EDA/SCR, heart rate and HRV, respiration, temperature, EMG, blinks")):
        k = kinds.add_parser(kind, help=text, description=f"{kind.upper()} features: {text}.")
        _common(k)
        k.add_argument("--baseline", choices=["subtract", "ratio", "none"], default="none",
                       help="correct against the pre-stimulus baseline (EEG only; default none)")
        k.add_argument("--per-trial", action="store_true",
                       help="one row per trial over the whole stimulus (DEAP's feature set for EEG)")
        if kind == "physio":
            k.add_argument("--min-scr-amplitude-us", type=float, default=0.01,
                           help="smallest SCR counted, in the EDA channel's units, µS (default 0.01)")
            k.add_argument("--context-s", type=float, default=30.0,
                           help="context centred on each window for HRV and breathing irregularity, "
                                "within its trial (default 30 s)")
        k.set_defaults(func=_cmd_features, kind=kind)

    p = subparsers.add_parser("align", help="join EEG, physio and audio features on the window grid",
                              description="Build the aligned table: one row per (subject, trial, window) with "
                                          "eeg_, physio_ and audio_ columns. Audio windows are matched by "
                                          "stimulus id and time: the window starting at t_start after the onset "
                                          "marker gets the audio window starting at t_start - latency.")
    _common(p)
    p.add_argument("--audio", help="per-stimulus audio feature table (Parquet: stimulus_id, t_start, audio_*)")
    p.add_argument("--audio-latency-s", type=float, default=0.0,
                   help="delay from the onset marker to the sound in seconds (default 0)")
    p.add_argument("--eeg", help="precomputed EEG window table (default: computed from TRIALS)")
    p.add_argument("--physio", help="precomputed physio window table (default: computed from TRIALS)")
    p.add_argument("--no-eeg", action="store_true", help="leave EEG features out")
    p.add_argument("--no-physio", action="store_true", help="leave physiological features out")
    p.set_defaults(func=_cmd_align)


__all__ = ["add_feature_commands"]
