"""``neuromer audio features|train|evaluate|predict|separate`` (registered by :mod:`neuromer.cli`)."""

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

    from .catalog import clip_tables

    if (args.window_s is None) != (args.hop_s is None):
        args.hop_s = args.hop_s if args.hop_s is not None else args.window_s / 2
        args.window_s = args.window_s if args.window_s is not None else 2 * args.hop_s
    tables, failed = clip_tables(args.audio, window_s=args.window_s, hop_s=args.hop_s, melody=not args.no_melody,
                                 vocal=args.vocal, cache_dir=args.cache, workers=args.workers or 1,
                                 scheduler=args.scheduler, progress=_progress(len(args.audio), "audio features",
                                                                              args.quiet or len(args.audio) == 1),
                                 announce=_announce(args))
    parts = [t.assign(file=str(f)) for f, t in zip(args.audio, tables) if t is not None]
    if not parts:  # nothing to write: the (first) reason is the error
        from ..errors import NeuromerError

        raise NeuromerError(next(iter(failed.values())))
    table = pd.concat(parts, ignore_index=True)
    table = table[["file"] + [c for c in table.columns if c != "file"]]
    _write_table(table, args.out, args.overwrite)
    print(f"{args.out}: {len(table)} rows x {table.shape[1]} columns")
    return _list_failed(failed, len(args.audio))


def _announce(args):
    return (lambda msg: None) if getattr(args, "quiet", False) else (lambda msg: print(msg, file=sys.stderr))


def _list_failed(failed: dict, total: int) -> int:
    """Name every failed clip on stderr (one line each); exit status 1 when there is one."""
    for msg in failed.values():
        print(f"failed: {msg}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {total} clips failed (listed above); the others are done.", file=sys.stderr)
    return 1 if failed else 0


def _on_dask(args, files, *, window_s=None, hop_s=None, melody=True):
    """With --workers/--scheduler: compute the clips' features as Dask tasks into the (shared) cache.

    The command then reads them from the cache, so its results are those of the in-process run.
    Without --cache a temporary cache folder is used (returned, to be removed by the caller). Failed
    clips are listed first; the command itself then stops at the first of them, as in-process.
    """
    import tempfile

    from .catalog import clip_tables

    tmp = None
    if args.cache is None:
        tmp = tempfile.TemporaryDirectory(prefix="neuromer-audio-cache-")
        args.cache = tmp.name
    files = list(dict.fromkeys(str(f) for f in files))  # a clip annotated twice is computed once
    _, failed = clip_tables(files, window_s=window_s, hop_s=hop_s, melody=melody, emotion=False,
                            cache_dir=args.cache, workers=args.workers or 1, scheduler=args.scheduler,
                            progress=_progress(len(files), "audio features", False), announce=_announce(args))
    for msg in failed.values():
        print(f"failed: {msg}", file=sys.stderr)
    return tmp


def _in_process(args, tmp, command) -> int:
    """Run ``command`` in-process on the cache :func:`_on_dask` filled, then remove a temporary cache."""
    try:
        args.workers, args.scheduler = 1, None
        return command(args)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _parallel(args) -> bool:
    return bool(getattr(args, "scheduler", None)) or (getattr(args, "workers", None) or 1) > 1


def _cmd_train(args) -> int:
    from ..errors import NeuromerError

    if args.report and not args.overwrite and Path(args.report).exists():  # before minutes of training
        raise NeuromerError(f"{args.report}: file exists; refusing to overwrite it (pass --overwrite).")
    if _parallel(args):
        from .emotion_model import read_annotations

        if args.dynamic:
            from .datasets import read_mer_dataset

            files = read_mer_dataset(args.annotations, format=args.format, dynamic=True)["audio_path"].unique()
            window_s = args.window_s if args.window_s is not None else 1.0
            tmp = _on_dask(args, files, window_s=window_s, hop_s=args.hop_s if args.hop_s is not None else window_s / 2)
        else:
            tmp = _on_dask(args, read_annotations(args.annotations, format=args.format)[0]["audio_path"])
        return _in_process(args, tmp, _cmd_train)
    if args.dynamic:
        return _cmd_train_dynamic(args)
    if args.window_s is not None or args.hop_s is not None or args.lag_s:
        raise NeuromerError("--window-s, --hop-s and --lag-s apply to the window-level model: add --dynamic.")
    from .emotion_model import train_audio_model

    report = train_audio_model(args.annotations, out=args.out, n_splits=args.folds,
                               random_state=args.seed, cache_dir=args.cache, overwrite=args.overwrite,
                               format=args.format)
    print(report.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.report:
        _write_table(report, args.report, args.overwrite)
    print(f"model: {args.out}")
    return 0


def _cmd_evaluate(args) -> int:
    from .._checks import ensure_dir
    from .evaluation import ablation, artist_groups, clip_feature_table, evaluate_mer, read_labelled_clips

    clips = read_labelled_clips(args.source, format=args.format)
    if "quadrant" not in clips:
        from ..errors import NeuromerError

        raise NeuromerError(f"{args.source}: `audio evaluate` needs quadrant labels (valence/arousal "
                            "annotations: use `neuromer audio train`).")
    out = ensure_dir(args.out_dir, "--out-dir folder")
    targets = {n: out / f"{n}.{args.table_format}" for n in ("summary", "repeats", "folds", "ablation")}
    if not args.overwrite:
        from ..errors import NeuromerError

        for dest in targets.values():
            if dest.exists():
                raise NeuromerError(f"{dest} exists; pass --overwrite to replace it.")
    if args.segment_s is None and (args.segment_hop_s is not None or args.segment_features):
        from ..errors import NeuromerError

        raise NeuromerError("--segment-hop-s and --segment-features apply to the segment-level model: add --segment-s.")
    if args.segment_s is not None:
        return _evaluate_segments(args, clips, targets)
    tick = _progress(len(clips), "clip features", args.quiet or args.features is not None)
    X = clip_feature_table(clips, features=args.features, cache_dir=args.cache, progress=tick)
    known = clips["artist"].notna()
    groups = artist_groups(clips["artist"]) if known.any() else None
    n_shared = int(clips.loc[known, "artist"].duplicated(keep=False).sum())
    print(f"{len(clips)} clips, {X.shape[1]} features, {int(known.sum())} with a known artist "
          f"({n_shared} share an artist with another clip)")
    rep = _repetition_progress(args)
    res = evaluate_mer(X, clips["quadrant"], groups, classifier=args.classifier, k_best=args.k_best,
                       tune=not args.no_tune, transform=args.transform, k_grid=args.k_grid,
                       n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed, progress=rep)
    _print_mer_summary(res, args, "")
    _write_table(res.summary, targets["summary"], True)
    _write_table(res.repeats, targets["repeats"], True)
    _write_table(res.folds, targets["folds"], True)
    if args.ablation_k:
        abl = ablation(X, clips["quadrant"], groups, k_best=args.ablation_k, classifier=args.classifier,
                       tune=not args.no_tune, transform=args.transform,
                       n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed, progress=rep)
        if not args.quiet:
            print(file=sys.stderr)
        for row in abl.itertuples():
            print(f"ablation ({row.protocol}, {row.k} features from each pool): baseline {row.f1_baseline:.3f}, "
                  f"+ melody/expressive/texture {row.f1_all:.3f}, gain {row.gain:+.3f} "
                  f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}] ({row.level:.0%} CI, bootstrap over artists)")
        _write_table(abl, targets["ablation"], True)
    print(f"tables: {out}")
    return 0



def _repetition_progress(args):
    """A progress callback for the evaluation's repetitions (nothing with ``--quiet``)."""
    def rep(what, r):
        if not args.quiet:
            print(f"\r{what}: repetition {r + 1}/{args.repeats}", end="", file=sys.stderr, flush=True)
    return rep


def _print_mer_summary(res, args, model: str) -> None:
    """End the progress line, then one line per protocol: macro-F1 mean +- sd and accuracy."""
    if not args.quiet:
        print(file=sys.stderr)
    for row in res.summary.itertuples():
        label = {"stratified": "stratified folds (Panda et al. 2018)", "artist": "artist-grouped folds"}[row.protocol]
        print(f"{label}{model}: macro-F1 {row.f1_mean:.3f} +- {row.f1_sd:.3f}, accuracy {row.accuracy_mean:.3f} "
              f"({args.repeats} x {args.folds}-fold, {args.classifier})")

def _evaluate_segments(args, clips, targets) -> int:
    """``audio evaluate --segment-s``: the segment-level model on the same clip folds."""
    from .evaluation import artist_groups
    from .segments import evaluate_mer_segments, segment_feature_table

    tick = _progress(len(clips), "segment features", args.quiet or args.segment_features is not None)
    S, owner = segment_feature_table(clips, segment_s=args.segment_s, hop_s=args.segment_hop_s,
                                     features=args.segment_features, cache_dir=args.cache, progress=tick)
    known = clips["artist"].notna()
    groups = artist_groups(clips["artist"]) if known.any() else None
    hop = args.segment_hop_s if args.segment_hop_s is not None else args.segment_s / 2
    print(f"{len(clips)} clips, {len(S)} segments of {args.segment_s:g} s (hop {hop:g} s), {S.shape[1]} features, "
          f"{int(known.sum())} with a known artist")
    res = evaluate_mer_segments(S, owner, clips["quadrant"], groups, classifier=args.classifier, k_best=args.k_best,
                                tune=not args.no_tune, transform=args.transform, k_grid=args.k_grid,
                                n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed,
                                progress=_repetition_progress(args))
    _print_mer_summary(res, args, ", segment-level")
    for name in ("summary", "repeats", "folds"):
        _write_table(getattr(res, name), targets[name], True)
    print(f"tables: {targets['summary'].parent}")
    return 0


def _cmd_train_dynamic(args) -> int:
    from .._checks import check_positive
    from .dynamic import train_dynamic_model

    window_s = args.window_s if args.window_s is not None else 1.0
    hop_s = args.hop_s if args.hop_s is not None else window_s / 2
    check_positive(window_s, "--window-s")
    check_positive(hop_s, "--hop-s")
    summary, per_song = train_dynamic_model(args.annotations, format=args.format, window_s=window_s, hop_s=hop_s,
                                            lag_s=args.lag_s, n_splits=args.folds, random_state=args.seed,
                                            cache_dir=args.cache, out=args.out, overwrite=args.overwrite)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.report:
        _write_table(per_song, args.report, args.overwrite)
    print(f"model: {args.out}")
    return 0


def _cmd_predict(args) -> int:
    from .emotion_model import predict_audio

    if _parallel(args):
        from ..models.persistence import load_model

        _, meta = load_model(args.model, with_metadata=True)
        grid = ({"window_s": meta["window_s"], "hop_s": meta["hop_s"], "melody": meta.get("melody", True)}
                if meta.get("kind") == "audio-dynamic" else {})
        tmp = _on_dask(args, args.audio, **grid)
        return _in_process(args, tmp, _cmd_predict)

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
    asub = p.add_subparsers(dest="audio_command", metavar="{features,train,evaluate,predict,separate}")
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
    f.add_argument("--workers", type=int, help="compute the clips on a local Dask cluster of N worker processes")
    f.add_argument("--scheduler", help="compute the clips on an existing Dask scheduler, e.g. tcp://host:8786 "
                                       "(give a --cache folder all workers can reach)")
    f.set_defaults(func=_cmd_features)

    t = asub.add_parser("train", help="train an audio-emotion model from annotations",
                        description="Fit XGBoost and a linear baseline on clip features of annotated music "
                                    "(a 4QAED, DEAM or PMEmo folder as downloaded, or a CSV of audio paths "
                                    "with valence+arousal or quadrant); print cross-validated scores; save "
                                    "the XGBoost model (skops, no pickle).")
    t.add_argument("annotations", help="dataset folder (4QAED, DEAM, PMEmo) or CSV with an audio/path "
                                       "column and valence+arousal or quadrant")
    t.add_argument("--format", choices=("auto", "4qaed", "deam", "pmemo", "csv"), default="auto",
                   help="layout of the annotations (default: detected)")
    t.add_argument("--out", required=True, help="model file to write (.skops)")
    t.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--report", help="also write the scores table (.csv/.parquet; per song with --dynamic)")
    t.add_argument("--cache", help="cache folder for clip features")
    t.add_argument("--overwrite", action="store_true", help="replace an existing --out model or --report file")
    t.add_argument("--dynamic", action="store_true",
                   help="train the window-level model on dynamic (time-varying) annotations (DEAM, PMEmo, "
                        "a CSV with time_s); scores per song with song-grouped folds")
    t.add_argument("--window-s", type=float, help="with --dynamic: window length in seconds (default 1)")
    t.add_argument("--hop-s", type=float, help="with --dynamic: hop between windows (default window/2)")
    t.add_argument("--lag-s", type=float, default=0.0,
                   help="with --dynamic: rating lag in seconds (ratings follow the music; default 0)")
    t.add_argument("--workers", type=int, help="compute the clips on a local Dask cluster of N worker processes")
    t.add_argument("--scheduler", help="compute the clips on an existing Dask scheduler, e.g. tcp://host:8786 "
                                       "(give a --cache folder all workers can reach)")
    t.set_defaults(func=_cmd_train)

    e = asub.add_parser("evaluate", help="honest MER evaluation: stratified and artist-grouped folds, ablation",
                        description="Repeated cross-validated macro-F1 of a quadrant classifier on clip "
                                    "features: stratified 10-fold x 20 (Panda et al. 2018) beside folds grouped "
                                    "by artist; feature selection inside the folds; the gain of the melody, "
                                    "expressive and texture features over baseline-only features at equal "
                                    "feature count, with a bootstrap CI. Writes summary, repeats, folds and "
                                    "ablation tables to --out-dir.")
    e.add_argument("source", help="4QAED folder (Q1..Q4 + panda_dataset_taffc_*.csv) or annotations CSV "
                                  "(audio path, quadrant, optional artist)")
    e.add_argument("--format", default="auto", choices=("auto", "4qaed", "deam", "pmemo", "csv"),
                   help="dataset layout (default: detected); quadrant labels are needed")
    e.add_argument("--features", help="reuse a clip table from `neuromer audio features` (column 'file')")
    e.add_argument("--out-dir", required=True, help="folder for the result tables")
    e.add_argument("--table-format", default="csv", choices=("csv", "parquet"), help="table format (default csv)")
    e.add_argument("--classifier", default="svm", choices=("svm", "logreg", "xgboost", "ensemble"),
                   help="classifier (default svm: RBF SVM, C and gamma chosen inside the training folds; "
                        "ensemble: soft vote of SVM, logistic regression and XGBoost)")
    e.add_argument("--transform", default="standard", choices=("standard", "yeo-johnson"),
                   help="feature scaling inside the folds (default standard: z-scores)")
    e.add_argument("--k-grid", type=int, nargs="+",
                   help="numbers of ANOVA-selected features the inner search chooses from (with tuning)")
    e.add_argument("--no-tune", action="store_true",
                   help="fixed C instead of an inner 3-fold search in each training fold (about 10x faster)")
    e.add_argument("--k-best", type=int, help="features kept by the ANOVA F test inside the folds (default all)")
    e.add_argument("--ablation-k", type=int, default=100,
                   help="features selected from each pool in the ablation (default 100; 0 skips it)")
    e.add_argument("--folds", type=int, default=10, help="folds per repetition (default 10)")
    e.add_argument("--repeats", type=int, default=20, help="repetitions (default 20)")
    e.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    e.add_argument("--segment-s", type=float,
                   help="segment-level model: train on segments of this length (s) labelled with their clip, "
                        "predict a clip from the mean of its segments' scores; folds keep every segment with "
                        "its clip (no ablation)")
    e.add_argument("--segment-hop-s", type=float, help="with --segment-s: hop between segments (default half a segment)")
    e.add_argument("--segment-features",
                   help="with --segment-s: reuse a per-window table from `neuromer audio features --window-s S "
                        "--hop-s H`")
    e.add_argument("--cache", help="cache folder for clip features")
    e.add_argument("--overwrite", action="store_true", help="replace existing result tables")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress")
    e.set_defaults(func=_cmd_evaluate)

    q = asub.add_parser("predict", help="predict emotion of audio files with a trained model",
                        description="Predict valence/arousal or quadrant of audio files with a model "
                                    "from `neuromer audio train`.")
    q.add_argument("model", help="model file (.skops) from `neuromer audio train`")
    q.add_argument("audio", nargs="+", help="audio files")
    q.add_argument("--out", help="also write the predictions (.csv/.parquet)")
    q.add_argument("--cache", help="cache folder for clip features")
    q.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    q.add_argument("--workers", type=int, help="compute the clips on a local Dask cluster of N worker processes")
    q.add_argument("--scheduler", help="compute the clips on an existing Dask scheduler, e.g. tcp://host:8786 "
                                       "(give a --cache folder all workers can reach)")
    q.set_defaults(func=_cmd_predict)

    s = asub.add_parser("separate", help="split audio into vocals and accompaniment",
                        description="REPET-SIM soft-mask separation; writes NAME.vocals.wav and "
                                    "NAME.accompaniment.wav.")
    s.add_argument("audio", nargs="+", help="audio files")
    s.add_argument("--out-dir", required=True, help="output folder")
    s.add_argument("--overwrite", action="store_true", help="replace existing output files")
    s.set_defaults(func=_cmd_separate)
