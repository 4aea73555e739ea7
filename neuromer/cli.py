"""The ``neuromer`` command.

Errors a user can cause print one line (``neuromer: error: ...``) and exit with status 2;
``--debug`` shows the traceback. Progress and details go to stderr through the ``neuromer``
logger (``-v`` for more).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from . import __version__
from ._logging import say_once
from .errors import MarkerError, NeuromerError


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate_study

    study = simulate_study(args.out, n_subjects=args.subjects, n_trials=args.trials, seed=args.seed,
                           stimulus_s=args.stimulus_s, overwrite=args.overwrite)
    print(f"Simulated {len(study.xdf)} subjects x {len(study.stimuli)} trials in {study.root}")
    print(f"  protocol      {study.protocol}")
    print(f"  stimuli       {study.root / 'stimuli'} ({len(study.stimuli)} WAV)")
    print(f"  recordings    {study.root / 'xdf'} (XDF), {study.root / 'deap'} (DEAP .dat)")
    print(f"  ground truth  {study.ground_truth}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import pandas as pd

    from .io import is_trials_file, read_session, read_trials
    from .protocol import read_protocol

    path = Path(args.path)
    if not path.exists():
        raise NeuromerError(f"{path}: file not found.")
    with pd.option_context("display.width", 120, "display.max_columns", 20, "display.max_rows", 60):
        if path.suffix.lower() == ".toml":
            protocol = read_protocol(path, check_files=False)
            print(protocol)
            print(f"  stimuli: {', '.join(protocol.stimulus_ids[:12])}{' ...' if len(protocol.stimuli) > 12 else ''}")
            for s in protocol.streams:
                print(f"  stream type={s.type} name={s.name or '-'}: {len(s.channels)} channels")
            return 0
        if is_trials_file(path):
            if args.events:
                raise NeuromerError(f"{path}: holds trials already; --events applies to recordings only.")
            trials = read_trials(path)
            print(trials)
            print("channels:", ", ".join(f"{n} ({t})" for n, t in zip(trials.ch_names, trials.ch_types)))
            print(trials.metadata.to_string(index=False, max_rows=50))
            return 0
        if path.suffix.lower() == ".xdf":
            from .io.xdf import xdf_info

            print(xdf_info(path).to_string(index=False))
        protocol = read_protocol(args.protocol) if args.protocol else None
        session = read_session(path, protocol=protocol, events=args.events, encoding=args.encoding,
                               xdf_streams=_stream_choice(args))
        print(session)
        raw = session.raw
        print("channels:", ", ".join(f"{n} ({t})" for n, t in zip(raw.ch_names, raw.get_channel_types())))
        import numpy as np

        bad = (~np.isfinite(raw.get_data())).sum(axis=1)
        if bad.any():  # what `epochs` and `run` will interpolate or mark BAD_nonfinite
            listed = [f"{n} ({c})" for n, c in zip(raw.ch_names, bad) if c]
            print(f"NaN/inf samples: {int(bad.sum())} in {len(listed)} channel(s): {', '.join(listed[:10])}"
                  f"{' ...' if len(listed) > 10 else ''}")
        markers = session.markers
        if len(markers):
            counts = markers["description"].value_counts()
            print(f"markers: {len(markers)} ({len(counts)} distinct); most common:")
            print(counts.head(10).to_string())
        trig = session.provenance.get("triggers")
        if trig:
            codes = ", ".join(f"{c} ({n})" for c, n in list(trig["codes"].items())[:12])
            print(f"trigger channel {trig['channel']} (low {trig['trigger_bits']} bits): {trig['n_events']} events"
                  + (f", codes {codes}" if codes else "") + (f"; rests at code {trig['rest_code']}"
                                                             if trig.get("rest_code") else ""))
        if len(session.trials):
            print(session.trials.to_string(index=False, max_rows=50))
        elif protocol is not None:
            from .io.triggers import explain_unmatched

            print(f"trials: none; {explain_unmatched(session.markers, protocol, triggers=trig)}")
    return 0


def _cmd_epochs(args: argparse.Namespace) -> int:
    from .io import is_trials_file, read_any_trials, write_trials
    from .protocol import read_protocol

    out = Path(args.out)
    # said before reading a recording, which may take minutes
    if out.is_dir():
        raise NeuromerError(f"{out}: is a directory; expected an output file path.")
    if out.exists() and not args.overwrite:
        raise NeuromerError(f"{out}: file exists; refusing to overwrite it (pass --overwrite to replace it).")
    protocol = read_protocol(args.protocol, check_files=False) if args.protocol else None
    sfreq = 128.0 if args.sfreq is None else args.sfreq
    trials = read_any_trials(args.input, protocol=protocol, sfreq=sfreq, events=args.events,
                             encoding=args.encoding, xdf_streams=_stream_choice(args))
    if args.sfreq is not None and is_trials_file(args.input) and abs(args.sfreq - trials.sfreq) > 1e-9:
        raise NeuromerError(f"{args.input}: --sfreq {args.sfreq:g} given, but trials files are not resampled "
                            f"(this one is at {trials.sfreq:g} Hz); leave --sfreq out to convert as is.")
    if len(trials) == 0:
        raise MarkerError(f"{args.input}: no complete trial found (markers missing or not matching the "
                          "protocol's stimuli); nothing written.")
    out = write_trials(trials, args.out, overwrite=args.overwrite)
    print(f"{trials} -> {out}")
    if len(trials.dropped):
        print(f"dropped {len(trials.dropped)} trial(s):")
        print(trials.dropped.to_string(index=False))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .io._atomic import atomic_path
    from .simulate import simulate_study

    out = Path(args.out).resolve()
    config = out / "demo.toml"
    # a folder of an earlier demo (its demo.toml starts with our header) is rebuilt; any other
    # folder with files in it may be the user's: `study/` would be deleted and demo.toml replaced
    ours = config.is_file() and config.read_bytes().startswith(DEMO_CONFIG.split("\n", 1)[0].encode())
    if out.is_dir() and any(out.iterdir()) and not ours and not args.overwrite:
        raise NeuromerError(f"{out}: folder holds files but is not a neuromer demo folder (no demo.toml "
                            "written by `neuromer demo`); refusing to replace them. Choose another folder "
                            "or pass --overwrite.")
    study = simulate_study(out / "study", n_subjects=args.subjects, n_trials=args.trials, seed=args.seed,
                           overwrite=True)
    print(f"Simulated {len(study.xdf)} subjects x {len(study.stimuli)} stimuli in {study.root}")
    with atomic_path(config) as tmp:
        tmp.write_text(DEMO_CONFIG.format(permutations=args.permutations), encoding="utf-8")
    print(f"Running the pipeline configured in {config}")
    args.config, args.out, args.scheduler, args.no_report, args.quiet = str(config), None, None, False, False
    args.workers = None
    return _cmd_run(args)


DEMO_CONFIG = """# Written by `neuromer demo`: the whole pipeline on the simulated study next to this file.
[study]
name = "neuromer demo: simulated music-listening study"
inputs = ["study/xdf/*.xdf"]
protocol = "study/protocol.toml"
out = "run"

[features]
audio_latency_s = 0.0

[models]
targets = ["valence", "arousal"]
feature_sets = [["eeg"], ["physio"], ["eeg", "physio"], ["audio"]]
estimator = "logreg"
cv = "trial"
n_permutations = {permutations}
n_jobs = 2

[align]
refine_onsets = "StimAudio"   # onsets from the recorded sound (the simulated XDF holds it)

[trf]
enabled = true                # temporal response functions: neural tracking of the music
n_null = 100
"""


def _cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import read_config, run

    cfg = read_config(args.config, study__out=args.out)
    bars: dict = {}

    def progress(stage, done, total):
        from tqdm import tqdm

        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, disable=args.quiet)
        bar = bars[stage]
        bar.update(done - bar.n)
        if done >= total:  # close now, so its elapsed time is the stage's own
            bar.close()

    try:
        record = run(cfg, workers=args.workers, scheduler=args.scheduler, progress=progress,
                     report=not args.no_report, announce=lambda msg: print(msg, file=sys.stderr),
                     overwrite=args.overwrite)
    finally:
        for bar in bars.values():
            bar.close()
    subs = record["subjects"]
    skipped = sum(1 for s in subs.values() if s.get("skipped"))
    print(f"run folder: {cfg.out}")
    print(f"subjects: {len(subs)} ({skipped} unchanged, skipped), failed: {len(record['failed'])}")
    for sub in record["failed"]:
        print(f"  sub-{sub}: {subs[sub].get('error', 'failed')}")
    for sid, err in (record.get("audio_failed") or {}).items():
        print(f"  stimulus {sid}: no audio features ({err})")
    for row in (record.get("group") or {}).get("metrics", []):
        if row.get("level") == "trial":
            print(f"  {row['target']:>8} ~ {row['features']:<12} {row['metric']} {row['score']:.3f} "
                  f"(chance {row['chance']:.3f}, p={row['p_value']:.3g})")
    _print_agreement(cfg.out / "group" / "comparison.csv")
    if record.get("report"):
        took = ""
        if record.get("report_seconds") is not None and record.get("run_seconds"):
            took = (f" (written in {record['report_seconds']:.1f} s, "
                    f"{100 * record['report_seconds'] / record['run_seconds']:.0f} % of the run's "
                    f"{record['run_seconds']:.0f} s)")
        print(f"report: {record['report']}{took}")
    return 1 if record["failed"] else 0


def _print_agreement(path: Path) -> None:
    """The pooled agreement of each pair of sources (audio, EEG, self-report) per dimension."""
    if not path.is_file():
        return
    import pandas as pd

    table = pd.read_csv(path, dtype={"subject": str})
    pooled = table[table["subject"] == "all"]
    if len(pooled):
        print("agreement over all trials (Pearson r with permutation p; quadrant: accuracy vs chance):")
    for row in pooled.itertuples():
        if row.dimension == "quadrant":
            stat = f"accuracy {row.accuracy:.2f} (chance {row.chance_accuracy:.2f}, p={row.p_accuracy:.3g})"
        else:
            stat = f"r {row.pearson:+.2f} (p={row.p_pearson:.3g})"
        print(f"  {row.source_a:>5} vs {row.source_b:<5} {row.dimension:<9} {stat}")


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import make_report

    print(make_report(args.run_dir, out=args.out, overwrite=args.overwrite, figures=not args.no_figures,
                      figures_only=args.figures_only))
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser; with ``command`` ``features`` or ``align``, only that part of it.

    Registering every command (and importing the audio and live modules that define theirs)
    costs about 0.015 s of CPU, 2 % of ``neuromer features eeg`` on a DEAP subject; a command
    that names ``features`` or ``align`` gets the same parser for its own arguments without it.
    """
    parser = argparse.ArgumentParser(
        prog="neuromer",
        description="Music-emotion research with EEG and physiological signals: sessions to DEAP-style "
                    "trials, music features, aligned decoding, reports.")
    parser.add_argument("--version", action="version", version=f"neuromer {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command in ("features", "align"):
        from .features_cli import add_feature_commands

        add_feature_commands(sub)
        return parser

    p = sub.add_parser("simulate", help="write a synthetic study with planted effects",
                       description="Write a synthetic study (stimuli, protocol, XDF and DEAP files, ground truth).")
    p.add_argument("out", help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--subjects", type=int, default=4, help="number of subjects (default 4)")
    p.add_argument("--trials", type=int, default=8, help="trials (= stimuli) per subject (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default 0)")
    p.add_argument("--stimulus-s", type=float, default=15.0, help="stimulus length in seconds (default 15)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty folder")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("info", help="describe a recording, trials file or protocol",
                       description="Print streams, channels, rates, duration, markers and trials of any "
                                   "supported file (XDF, DEAP .dat/.mat/.bdf, EDF/BDF/FIF/..., -epo.fif, .toml).")
    p.add_argument("path", help="the file to describe")
    p.add_argument("--protocol", help="protocol TOML (or shipped name) to find trials from markers")
    _add_marker_options(p)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("epochs", help="cut a recording into DEAP-style trials",
                       description="Cut a recording into trials with the protocol's markers and write them "
                                   "as DEAP .dat, .mat or MNE -epo.fif (by the output's extension).")
    p.add_argument("input", help="recording (XDF, BDF, EDF, FIF, ...) or trials file")
    p.add_argument("--protocol", help="protocol TOML file or shipped name (e.g. deap)")
    p.add_argument("--out", required=True, help="output file: .dat, .mat or -epo.fif")
    p.add_argument("--sfreq", type=float, default=None,
                   help="resample a recording to this rate in Hz (default 128; trials files keep their rate)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_marker_options(p)
    p.set_defaults(func=_cmd_epochs)

    p = sub.add_parser("demo", help="simulate a small study and run the pipeline on it",
                       description="Simulate a small study and analyse it end to end (what `make demo` runs).")
    p.add_argument("out", nargs="?", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--subjects", type=int, default=4, help="number of subjects (default 4)")
    p.add_argument("--trials", type=int, default=8, help="trials per subject (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--permutations", type=int, default=50, help="label permutations for chance levels (default 50)")
    p.add_argument("--overwrite", action="store_true",
                   help="use a folder that holds other files (its study/ folder and demo.toml are replaced); "
                        "an earlier demo's folder is always rebuilt")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("run", help="run the analysis pipeline described by a config file",
                       description="ingest -> preprocess -> trials -> features -> align -> models -> compare -> "
                                   "report over many sessions; resumable; in-process or on Dask.")
    p.add_argument("config", help="run configuration TOML (see examples/)")
    p.add_argument("--out", help="run folder (overrides study.out)")
    p.add_argument("--workers", type=int, help="start a local Dask cluster with N worker processes")
    p.add_argument("--scheduler", help="use an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an existing folder that is not a run folder (no run.json); files with the "
                        "run's names are replaced. A run folder is always resumed without it")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="(re)build report.html of a run folder",
                       description="Build the self-contained HTML report of a run folder from its files.")
    p.add_argument("run_dir", help="the run folder (holds run.json)")
    p.add_argument("--out", help="output HTML file (default RUN_DIR/report.html, always rebuilt)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--figures-only", action="store_true",
                     help="write only RUN_DIR/figures/ (SVG, 300-dpi PNG and CSV of each report figure), no HTML")
    how.add_argument("--no-figures", action="store_true", help="write only the HTML, not RUN_DIR/figures/")
    p.set_defaults(func=_cmd_report)

    for register in _extensions():
        register(sub)
    return parser


def _stream_choice(args: argparse.Namespace) -> dict[str, str] | None:
    if not args.xdf_stream:
        return None
    from .io.xdf import parse_stream_choice

    return parse_stream_choice(args.xdf_stream)


def _add_marker_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--xdf-stream", action="append", metavar="NAME=SELECTOR",
                   help="XDF only: of several streams named NAME, use the one SELECTOR picks (id=N, a "
                        "source_id or a uid; `neuromer info FILE.xdf` lists them), e.g. --xdf-stream "
                        "'EEG=id=3'; repeatable")
    p.add_argument("--events", metavar="FILE",
                   help="CSV/TSV of extra markers: onset in s from the first sample (onset/onset_s/time) and a "
                        "code or marker text (code/description/marker/value/trial_type)")
    p.add_argument("--encoding", help="text encoding of EDF/BDF annotations (default utf8; latin-1 is tried "
                                      "with a warning when utf8 fails)")


def _extensions():
    """Sub-command groups that live next to the code they drive."""
    from .audio.cli import add_audio_commands
    from .features_cli import add_feature_commands
    from .live.cli import add_live_commands

    return [add_audio_commands, add_feature_commands, add_live_commands]


def _command_word(argv: list[str]) -> str | None:
    """The sub-command an argument list names: its first word that is not an option (None if none)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(_command_word(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log = logging.getLogger("neuromer")
    log.addHandler(handler)
    log.setLevel(level)
    logging.captureWarnings(False)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if argv is None and args.command in ("features", "align"):  # the program itself: tune its allocator
        from .features_cli import _keep_freed_memory

        _keep_freed_memory()
    try:
        with say_once(handler):  # each warning once, then its count at the end
            return int(args.func(args) or 0)
    except NeuromerError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"neuromer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuromer: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the machine, not neuromer: a full disk, a folder we may not write...
        if args.debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"neuromer: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not a user error: still one line unless --debug
        if args.debug:
            traceback.print_exc()
        print(f"neuromer: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    finally:
        log.removeHandler(handler)
        if argv is None:  # the program itself (console script, python -m), not a call from Python code
            _spare_exit_collection()


def _spare_exit_collection() -> None:
    """Keep the interpreter's exit from walking every object the libraries created.

    At exit CPython runs full garbage collections over all live objects; after importing pandas
    that alone costs ~0.15-0.19 s of CPU (0.03 s with numpy only), 13 % of ``features eeg`` on a
    DEAP subject. Collecting the young generation and then freezing the rest (gc.freeze: later
    collections skip it) leaves module teardown and reference counting to free everything as
    before; only cyclic garbage that had already survived collections is left to the operating
    system, as at any process exit. Outputs are closed before this point (atomic writes fsync
    and rename). Not done when ``main(argv)`` is called from Python code (tests, notebooks): their
    process lives on and frozen objects would never be collected.
    """
    import gc

    gc.collect(1)
    gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
