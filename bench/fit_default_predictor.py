"""Fit neuromer's default audio-emotion predictor on 4QAED and write its JSON (with provenance).

    python bench/fit_default_predictor.py DATA_DIR [--features TABLE] [--out neuromer/audio/default_predictor.json]

DATA_DIR is a local 4QAED copy (Panda, Malheiro & Paiva 2018: Q1..Q4 folders and the
panda_dataset_taffc_*.csv files). Prints the artist-grouped cross-validated figures of the fitting
procedure (10 folds x 5 repetitions), stores them in the JSON's provenance, then fits on all clips.
Only coefficients, cue means and scales are written: no audio and no per-clip values.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mer_data import add_arguments, load, shares  # noqa: E402

TARGETS = {"quadrant_accuracy": 0.55, "valence_auc": 0.75, "arousal_auc": 0.90}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "neuromer" / "audio"
                                        / "default_predictor.json"))
    p.add_argument("--C", type=float, default=0.1, help="inverse L2 penalty (default 0.1)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    import neuromer
    from neuromer.audio.default_model import describe, fit_default_model
    from neuromer.audio.evaluation import evaluate_default_model
    from neuromer.audio.summary import CACHE_VERSION

    clips, X, groups = load(args.data_dir, args.features, args.cache, args.format)
    cv = evaluate_default_model(X, clips["quadrant"], groups, n_repeats=args.repeats, C=args.C)
    figures = {k: round(float(cv[k].mean()), 4) for k in TARGETS}
    figures.update({f"{k}_sd": round(float(cv[k].std(ddof=1)), 4) for k in TARGETS})
    figures.update({f"share_{q}": round(float(cv[f"share_{q}"].mean()), 4) for q in ("Q1", "Q2", "Q3", "Q4")})
    print(f"{len(clips)} clips; artist-grouped 10-fold CV x {args.repeats} (fit on training folds only):")
    for k, target in TARGETS.items():
        print(f"  {k}: {figures[k]:.3f} +- {figures[k + '_sd']:.3f} (target >= {target})")
    print(f"  predicted shares: {shares(cv)}")
    model = fit_default_model(X, clips["quadrant"], C=args.C)
    model["provenance"] = {
        "dataset": "4QAED (Panda, Malheiro & Paiva 2018, 'Novel audio features for music emotion "
                   f"recognition', IEEE TAFFC), {len(clips)} clips, Russell quadrant labels",
        "licence": "fitted on the 4QAED annotations, research use; no audio shipped",
        "date": dt.date.today().isoformat(),
        "script": "bench/fit_default_predictor.py",
        "neuromer_version": neuromer.__version__,
        "feature_cache_version": CACHE_VERSION,
        "cv": {"protocol": f"artist-grouped stratified 10-fold x {args.repeats}", **figures},
        "n_artists": int(len(np.unique(groups))) if groups is not None else None,
    }
    out = Path(args.out)
    from neuromer.io._atomic import atomic_path

    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(describe(model).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
