"""``neuromer audio features|train|predict|separate`` (registered by :mod:`neuromer.cli`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .._logging import logger

if TYPE_CHECKING:  # pandas loads only in the commands that use it (start-up time)
    import pandas as pd


def _write_table(table: pd.DataFrame, path: str, overwrite: bool) -> None:
    from ..io._atomic import write_table

    write_table(table, path, overwrite=overwrite)
    logger.info("wrote %s (%d rows x %d columns)", path, *table.shape)


def _progress(total: int, what: str, quiet: bool):
    state = {"done": 0}

    def tick(item) -> None:
        state["done"] += 1
        if not quiet:
            print(f"\r{what}: {state['done']}/{total} {Path(str(item)).name[:40]:<40}", end="",
                  file=sys.stderr, flush=True)
            if state["done"] == total:
                print(file=sys.stderr)
    return tick


def _cmd_features(args) -> int:
    import pandas as pd

    from .summary import audio_features

    if (args.window_s is None) != (args.hop_s is None):
        args.hop_s = args.hop_s if args.hop_s is not None else args.window_s / 2
        args.window_s = args.window_s if args.window_s is not None else 2 * args.hop_s
    tick = _progress(len(args.audio), "audio features", args.quiet)
    parts = []
    for f in args.audio:
        table = audio_features(f, window_s=args.window_s, hop_s=args.hop_s, melody=not args.no_melody,
                               vocal=args.vocal, cache_dir=args.cache)
        parts.append(table.assign(file=str(f)))
        tick(f)
    table = pd.concat(parts, ignore_index=True)
    table = table[["file"] + [c for c in table.columns if c != "file"]]
    _write_table(table, args.out, args.overwrite)
    print(f"{args.out}: {len(table)} rows x {table.shape[1]} columns")
    return 0


def _cmd_train(args) -> int:
    from ..errors import NeuromerError
    from .emotion_model import train_audio_model

    if args.report and not args.overwrite and Path(args.report).exists():  # before minutes of training
        raise NeuromerError(f"{args.report}: file exists; refusing to overwrite it (pass --overwrite).")
    report = train_audio_model(args.annotations, out=args.out, n_splits=args.folds,
                               random_state=args.seed, cache_dir=args.cache, overwrite=args.overwrite)
    print(report.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.report:
        _write_table(report, args.report, args.overwrite)
    print(f"model: {args.out}")
    return 0


def _cmd_predict(args) -> int:
    from .emotion_model import predict_audio

    table = predict_audio(args.model, args.audio, cache_dir=args.cache)
    if args.out:
        _write_table(table, args.out, args.overwrite)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    return 0


def _cmd_separate(args) -> int:
    import soundfile as sf

    from .._checks import ensure_dir
    from ..io._atomic import atomic_path
    from .features import load_audio
    from .separation import separate_vocals

    out = ensure_dir(args.out_dir, "--out-dir folder")
    for f in args.audio:
        y, sr = load_audio(f)
        parts = dict(zip(("vocals", "accompaniment"), separate_vocals(y, sr)))
        for name, sig in parts.items():
            dest = out / f"{Path(f).stem}.{name}.wav"
            with atomic_path(dest, overwrite=args.overwrite) as tmp:
                sf.write(tmp, sig, sr, format="WAV", subtype="FLOAT")
            print(dest)
    return 0


def add_audio_commands(sub) -> None:
    """Add ``neuromer audio ...`` to the top-level sub-parsers."""
    p = sub.add_parser("audio", help="music features, separation and audio emotion models",
                       description="Music features of audio files, voice/accompaniment separation, and "
                                   "perceived-emotion models.")
    asub = p.add_subparsers(dest="audio_command", metavar="{features,train,predict,separate}")
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])

    f = asub.add_parser("features", help="audio features per clip or per window",
                        description="Frame features summarised per clip (default) or per window of the "
                                    "grid, melody/expressive features and default emotion predictions, "
                                    "as a Parquet/CSV table with audio_ columns.")
    f.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG, MP3 where supported)")
    f.add_argument("--out", required=True, help="output table (.parquet or .csv)")
    f.add_argument("--window-s", type=float, help="window length in seconds (per-window rows)")
    f.add_argument("--hop-s", type=float, help="hop between windows in seconds")
    f.add_argument("--no-melody", action="store_true", help="skip the melody/expressive features")
    f.add_argument("--vocal", action="store_true", help="also compute melody features on the separated voice")
    f.add_argument("--cache", help="cache folder (features are reused by file content)")
    f.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress")
    f.set_defaults(func=_cmd_features)

    t = asub.add_parser("train", help="train an audio-emotion model from annotations",
                        description="Fit XGBoost and a linear baseline on clip features of an annotations "
                                    "CSV (audio path + valence/arousal, or quadrant); print cross-validated "
                                    "scores; save the XGBoost model (skops, no pickle).")
    t.add_argument("annotations", help="CSV with an audio/path column and valence+arousal or quadrant")
    t.add_argument("--out", required=True, help="model file to write (.skops)")
    t.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--report", help="also write the scores table (.csv/.parquet)")
    t.add_argument("--cache", help="cache folder for clip features")
    t.add_argument("--overwrite", action="store_true", help="replace an existing --out model or --report file")
    t.set_defaults(func=_cmd_train)

    q = asub.add_parser("predict", help="predict emotion of audio files with a trained model",
                        description="Predict valence/arousal or quadrant of audio files with a model "
                                    "from `neuromer audio train`.")
    q.add_argument("model", help="model file (.skops) from `neuromer audio train`")
    q.add_argument("audio", nargs="+", help="audio files")
    q.add_argument("--out", help="also write the predictions (.csv/.parquet)")
    q.add_argument("--cache", help="cache folder for clip features")
    q.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    q.set_defaults(func=_cmd_predict)

    s = asub.add_parser("separate", help="split audio into vocals and accompaniment",
                        description="REPET-SIM soft-mask separation; writes NAME.vocals.wav and "
                                    "NAME.accompaniment.wav.")
    s.add_argument("audio", nargs="+", help="audio files")
    s.add_argument("--out-dir", required=True, help="output folder")
    s.add_argument("--overwrite", action="store_true", help="replace existing output files")
    s.set_defaults(func=_cmd_separate)
