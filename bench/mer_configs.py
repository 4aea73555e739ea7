"""The configuration log of the trained MER model on 4QAED: every configuration tried, its macro-F1
with the paper's protocol and with artist-grouped folds, CPU and wall time.

    python bench/mer_configs.py DATA_DIR --features TABLE [--repeats 3] [--only NAME ...]

Few repetitions (default 3) to rank configurations; bench/mer.py runs the chosen one 20 times.
Everything (imputation, scaling, selection, tuning) is fitted inside the training folds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mer_data import add_arguments, load  # noqa: E402

#: name -> keyword arguments of neuromer.audio.evaluation.evaluate_mer, in the order tried
CONFIGS = {
    "svm C=4 (untuned)": dict(classifier="svm", tune=False),
    "svm tuned C x gamma": dict(classifier="svm", tune=True),
    "svm yeo-johnson (untuned)": dict(classifier="svm", tune=False, transform="yeo-johnson"),
    "svm yeo-johnson tuned": dict(classifier="svm", tune=True, transform="yeo-johnson"),
    "svm tuned C x gamma x k": dict(classifier="svm", tune=True, k_grid=(100, 200, 300, 10_000)),
    "logreg tuned": dict(classifier="logreg", tune=True),
    "xgboost": dict(classifier="xgboost", tune=False),
    "ensemble svm+logreg+xgb": dict(classifier="ensemble", tune=False),
    "ensemble yeo-johnson": dict(classifier="ensemble", tune=False, transform="yeo-johnson"),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", help="run only these configurations (names as listed)")
    p.add_argument("--families", nargs="*", help="feature families to use (default all)")
    args = p.parse_args(argv)

    from neuromer.audio.evaluation import evaluate_mer, feature_families

    clips, X, groups = load(args.data_dir, args.features, args.cache, args.format)
    fam = feature_families(X.columns)
    cols = [c for f, cs in fam.items() if not args.families or f in args.families for c in cs]
    X = X[cols]
    print(f"{len(clips)} clips, {X.shape[1]} features ({', '.join(f'{k} {len(v)}' for k, v in fam.items())}); "
          f"{args.repeats} x 10-fold; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'configuration':<28} {'stratified F1':>15} {'artist F1':>15} {'CPU s':>7} {'wall s':>7}")
    for name, kw in CONFIGS.items():
        if args.only and name not in args.only:
            continue
        c0, w0 = time.process_time(), time.perf_counter()
        s = evaluate_mer(X, clips["quadrant"], groups, n_repeats=args.repeats, random_state=args.seed,
                         **kw).summary.set_index("protocol")
        print(f"{name:<28} {s.f1_mean['stratified']:>7.3f} +- {s.f1_sd['stratified']:.3f} "
              f"{s.f1_mean['artist']:>7.3f} +- {s.f1_sd['artist']:.3f} {time.process_time() - c0:>7.0f} "
              f"{time.perf_counter() - w0:>7.0f}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
