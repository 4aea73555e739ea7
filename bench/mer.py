"""Music-emotion recognition on a local 4QAED copy: the paper's protocol, artist-grouped folds,
the ablation of the novel feature families and the default predictor's figures.

    python bench/mer.py DATA_DIR [--features TABLE] [--repeats 20] [--classifier svm] [--k-best K]

DATA_DIR: the 4QAED folder (Panda, Malheiro & Paiva 2018: Q1..Q4 + panda_dataset_taffc_*.csv;
research-use licence: keep it outside the repository). Without --features the clip features are
computed (cached next to DATA_DIR; about 1 s per clip per core). Prints:

1. the trained classifier's macro-F1 with the paper's protocol (stratified 10-fold x 20;
   target >= 0.80, paper 0.764) and with artist-grouped folds (target >= 0.72);
2. the ablation: baseline-only vs baseline + melody/expressive/texture features, the same number
   selected from each pool inside the folds, gain with a 95 % bootstrap CI over artists;
3. the shipped default predictor's artist-grouped cross-validated figures (its fitting procedure
   refitted on training folds): quadrant accuracy (target >= 0.55), valence AUC (>= 0.75),
   arousal AUC (>= 0.90), predicted quadrant shares (within 10 points of the true shares).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mer_data import add_arguments, load, shares  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.add_argument("--classifier", default="svm", choices=("svm", "logreg", "xgboost"))
    p.add_argument("--k-best", type=int, default=None, help="features selected inside the folds (default all)")
    p.add_argument("--ablation-k", type=int, default=100, help="features from each pool in the ablation")
    p.add_argument("--repeats", type=int, default=20, help="repetitions of the 10-fold CV (paper: 20)")
    p.add_argument("--ablation-repeats", type=int, default=10, help="repetitions for the ablation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tune", action="store_true",
                   help="choose C by an inner 3-fold search in each training fold (about 10x slower)")
    p.add_argument("--skip", nargs="*", default=(), choices=("trained", "ablation", "default"))
    args = p.parse_args(argv)

    from neuromer.audio.default_model import load_default_model
    from neuromer.audio.evaluation import evaluate_default_model
    from neuromer.audio.evaluation import ablation, evaluate_mer

    clips, X, groups = load(args.data_dir, args.features, args.cache, args.format)
    q = clips["quadrant"]
    n_shared = int(clips["artist"].dropna().duplicated(keep=False).sum())
    print(f"{len(clips)} clips, {X.shape[1]} features, {clips['artist'].notna().sum()} with an artist, "
          f"{n_shared} share an artist with another clip")

    if "trained" not in args.skip:
        t0 = time.perf_counter()
        res = evaluate_mer(X, q, groups, classifier=args.classifier, k_best=args.k_best, n_repeats=args.repeats,
                           tune=args.tune, random_state=args.seed)
        s = res.summary.set_index("protocol")
        print(f"\n1. trained model ({args.classifier}{' tuned' if args.tune else ''}, k_best={args.k_best}, "
              f"{args.repeats} x 10-fold, "
              f"{time.perf_counter() - t0:.0f} s)")
        print(f"   paper protocol (stratified):  macro-F1 {s.f1_mean['stratified']:.3f} +- "
              f"{s.f1_sd['stratified']:.3f}  (target >= 0.80; paper 0.764)")
        if "artist" in s.index:
            print(f"   artist-grouped folds:         macro-F1 {s.f1_mean['artist']:.3f} +- "
                  f"{s.f1_sd['artist']:.3f}  (target >= 0.72)")

    if "ablation" not in args.skip:
        t0 = time.perf_counter()
        abl = ablation(X, q, groups, k_best=args.ablation_k, classifier=args.classifier, tune=args.tune,
                       n_repeats=args.ablation_repeats, random_state=args.seed)
        print(f"\n2. ablation ({args.classifier}, {args.ablation_k} features selected from each pool inside the "
              f"folds, {args.ablation_repeats} x 10-fold, {time.perf_counter() - t0:.0f} s)")
        for r in abl.itertuples():
            print(f"   {r.protocol:<10} baseline-only ({r.n_baseline} features) {r.f1_baseline:.3f}, "
                  f"+ melody/expressive/texture ({r.n_all}) {r.f1_all:.3f}: gain {r.gain:+.3f}, "
                  f"95% CI [{r.ci_low:+.3f}, {r.ci_high:+.3f}] (bootstrap over artists; "
                  f"t over repeats [{r.t_low:+.3f}, {r.t_high:+.3f}])")
        print("   (paper: about +0.09 for the novel features at equal feature count)")

    if "default" not in args.skip:
        model = load_default_model()
        cv = evaluate_default_model(X, q, groups, n_repeats=5, C=model.get("C", 0.1),
                                    cues=[c["column"] for c in model["cues"]])
        m = cv.mean(numeric_only=True)
        sd = cv.std(numeric_only=True, ddof=1)
        print(f"\n3. default predictor ({len(model['cues'])} cues, refitted on training folds; "
              f"{cv.protocol.iloc[0]} 10-fold x 5)")
        print(f"   quadrant accuracy {m.quadrant_accuracy:.3f} +- {sd.quadrant_accuracy:.3f} (target >= 0.55)")
        print(f"   valence AUC       {m.valence_auc:.3f} +- {sd.valence_auc:.3f} (target >= 0.75)")
        print(f"   arousal AUC       {m.arousal_auc:.3f} +- {sd.arousal_auc:.3f} (target >= 0.90)")
        print(f"   predicted shares: {shares(cv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
