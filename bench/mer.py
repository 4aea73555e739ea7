"""Music-emotion recognition on a local 4QAED copy: the paper's protocol, artist-grouped folds,
the ablation of the novel feature families and the default predictor's figures.

    python bench/mer.py DATA_DIR [--features TABLE] [--repeats 20] [--classifier svm] [--k-best K]
                        [--tune] [--transform yeo-johnson] [--k-grid 100 200 300]

DATA_DIR: the 4QAED folder (Panda, Malheiro & Paiva 2018: Q1..Q4 + panda_dataset_taffc_*.csv;
research-use licence: keep it outside the repository). Without --features the clip features are
computed (cached next to DATA_DIR; about 1 s per clip per core). Prints:

1. the trained classifier's macro-F1 with the paper's protocol (stratified 10-fold x 20;
   target >= 0.80, paper 0.764) and with artist-grouped folds (target >= 0.72);
2. the ablation: baseline-only vs baseline + melody/expressive/texture features, the same number
   selected from each pool inside the folds, gain with a 95 % bootstrap CI over artists;
3. the shipped default predictor's artist-grouped cross-validated figures (its fitting procedure
   refitted on training folds): quadrant accuracy (target >= 0.55), valence AUC (>= 0.75),
   arousal AUC (>= 0.90), predicted quadrant shares (within 10 points of the true shares);
4. evidence on the trained model's ceiling: each feature family's diagnostics (NaN share, constant
   columns, eta^2, best single-column valence/arousal AUC, the family alone), the per-quadrant
   confusion of the artist-grouped predictions, and a learning curve (macro-F1 against the share of
   each training fold used, artist-grouped).

Every run prints wall and CPU time and the load average (wall times on a shared machine mislead).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mer_data import add_arguments, load, shares  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.add_argument("--classifier", default="svm", choices=("svm", "logreg", "xgboost", "ensemble"))
    p.add_argument("--transform", default="standard", choices=("standard", "yeo-johnson"))
    p.add_argument("--k-grid", type=int, nargs="*", help="numbers of features the inner search chooses from")
    p.add_argument("--k-best", type=int, default=None, help="features selected inside the folds (default all)")
    p.add_argument("--ablation-k", type=int, default=100, help="features from each pool in the ablation")
    p.add_argument("--repeats", type=int, default=20, help="repetitions of the 10-fold CV (paper: 20)")
    p.add_argument("--ablation-repeats", type=int, default=10, help="repetitions for the ablation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tune", action="store_true",
                   help="choose C and gamma (and k from --k-grid) by an inner 3-fold search in each training fold")
    p.add_argument("--skip", nargs="*", default=(), choices=("trained", "ablation", "default", "evidence"))
    args = p.parse_args(argv)

    from neuromer.audio.default_model import load_default_model
    from neuromer.audio.evaluation import evaluate_default_model
    from neuromer.audio.evaluation import ablation, evaluate_mer

    clips, X, groups = load(args.data_dir, args.features, args.cache, args.format)
    q = clips["quadrant"]
    n_shared = int(clips["artist"].dropna().duplicated(keep=False).sum())
    print(f"{len(clips)} clips, {X.shape[1]} features, {clips['artist'].notna().sum()} with an artist, "
          f"{n_shared} share an artist with another clip")

    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    res = None
    if "trained" not in args.skip:
        t0, c0 = time.perf_counter(), time.process_time()
        res = evaluate_mer(X, q, groups, classifier=args.classifier, k_best=args.k_best, n_repeats=args.repeats,
                           tune=args.tune, random_state=args.seed, transform=args.transform, k_grid=args.k_grid)
        s = res.summary.set_index("protocol")
        print(f"\n1. trained model ({args.classifier}{' tuned' if args.tune else ''}, {args.transform}, "
              f"k_best={args.k_best}, k_grid={args.k_grid}, {args.repeats} x 10-fold, "
              f"wall {time.perf_counter() - t0:.0f} s, CPU {time.process_time() - c0:.0f} s)")
        print(f"   paper protocol (stratified):  macro-F1 {s.f1_mean['stratified']:.3f} +- "
              f"{s.f1_sd['stratified']:.3f}  (target >= 0.80; paper 0.764)")
        if "artist" in s.index:
            print(f"   artist-grouped folds:         macro-F1 {s.f1_mean['artist']:.3f} +- "
                  f"{s.f1_sd['artist']:.3f}  (target >= 0.72)")

    if "ablation" not in args.skip:
        t0, c0 = time.perf_counter(), time.process_time()
        abl = ablation(X, q, groups, k_best=args.ablation_k, classifier=args.classifier, tune=args.tune,
                       n_repeats=args.ablation_repeats, random_state=args.seed, transform=args.transform)
        print(f"\n2. ablation ({args.classifier}, {args.ablation_k} features selected from each pool inside the "
              f"folds, {args.ablation_repeats} x 10-fold, wall {time.perf_counter() - t0:.0f} s, "
              f"CPU {time.process_time() - c0:.0f} s; baseline pool = baseline + timbre_harmony families)")
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

    if "evidence" not in args.skip:
        _evidence(X, q, groups, res, args)
    return 0


def _evidence(X, q, groups, res, args) -> None:
    """Family diagnostics, per-quadrant confusion and a learning curve (section 4)."""
    import numpy as np
    import pandas as pd
    from sklearn.base import clone

    from neuromer.audio.evaluation import (_macro_f1_codes, family_diagnostics, mer_pipeline,
                                           repeated_splits)

    t0, c0 = time.perf_counter(), time.process_time()
    print("\n4. evidence: what each feature family carries (artist-grouped; family alone: untuned "
          f"{args.classifier}, 10-fold x 1)")
    fam = family_diagnostics(X, q, groups, classifier="svm" if args.classifier == "ensemble" else args.classifier,
                             random_state=args.seed)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(fam.drop(columns=["protocol"]).round(3).to_string(index=False))
    quads = np.unique(q)
    if res is not None and "artist" in res.predictions:
        pred = res.predictions["artist"]
        cm = pd.crosstab(pd.Series(np.repeat(np.asarray(q)[None], len(pred), 0).ravel(), name="true"),
                         pd.Series(pred.ravel(), name="predicted"), normalize="index")
        print("   per-quadrant confusion of the trained model (artist-grouped, rows: true quadrant, "
              "share predicted as each):")
        print("   " + cm.round(2).to_string().replace("\n", "\n   "))
    if groups is not None:
        classes, y = np.unique(np.asarray(q), return_inverse=True)
        Xm = X.to_numpy(dtype=float)
        est = mer_pipeline(args.classifier, k_best=args.k_best, tune=False, transform=args.transform,
                           random_state=args.seed)
        rng = np.random.default_rng(args.seed)
        fractions = (0.25, 0.5, 0.75, 1.0)
        n_rep = 2
        pred = np.full((len(fractions), n_rep, len(y)), -1)
        n_train = {f: [] for f in fractions}
        for r, _, train, test in repeated_splits(q, groups, protocol="artist", n_repeats=n_rep,
                                                 random_state=args.seed):
            order = rng.permutation(train)
            for i, f in enumerate(fractions):
                sub = order[: int(round(f * len(train)))]
                pred[i, r, test] = clone(est).fit(Xm[sub], y[sub]).predict(Xm[test])
                n_train[f].append(len(sub))
        f1 = [np.mean([_macro_f1_codes(y, pred[i, r], len(quads)) for r in range(n_rep)]) for i in range(len(fractions))]
        curve = ", ".join(f"{np.mean(n_train[f]):.0f} clips {f1[i]:.3f}" for i, f in enumerate(fractions))
        print(f"   learning curve (artist-grouped, untuned {args.classifier}, 10-fold x {n_rep}; training clips: "
              f"macro-F1): {curve}")
    print(f"   (wall {time.perf_counter() - t0:.0f} s, CPU {time.process_time() - c0:.0f} s, "
          f"load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    raise SystemExit(main())
