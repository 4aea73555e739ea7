"""Segment-level (multi-instance) MER on a local 4QAED copy, against the clip-level model on the same folds.

    python bench/mer_segments.py DATA_DIR --features CLIP_TABLE --segment-features SEG_TABLE
                                 [--repeats 3] [--every 1] [--classifier svm] [--tune]

CLIP_TABLE: `neuromer audio features` clip rows; SEG_TABLE: `neuromer audio features --window-s S
--hop-s H` window rows of the same clips (e.g. 10 s segments with a 5 s hop: 5 per 30 s clip).
``--every 2`` keeps every second segment (10 s / 5 s hop -> 3 non-overlapping 10 s segments).

Prints macro-F1 (mean +- sd over repetitions of 10-fold CV, stratified as in Panda et al. 2018 and
grouped by artist) of the clip model, the segment model (clip = mean of its segments' scores) and
the two combined (mean of their z-scored clip scores), all on the same folds
(neuromer.audio.evaluation.repeated_splits, seed r for repetition r, as bench/mer.py). Every segment
stays with its clip (and artist). Wall and CPU seconds and the load average are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mer_data import add_arguments, load  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.add_argument("--segment-features", required=True, help="per-window table of the same clips")
    p.add_argument("--segment-s", type=float, default=10.0)
    p.add_argument("--every", type=int, default=1, help="keep every N-th segment of a clip")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--classifier", default="svm", choices=("svm", "logreg", "xgboost", "ensemble"))
    p.add_argument("--tune", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import numpy as np
    import pandas as pd
    from sklearn.base import clone

    from neuromer.audio.evaluation import _macro_f1_codes, mer_pipeline, repeated_splits
    from neuromer.audio.segments import clip_scores, segment_feature_table

    clips, X, groups = load(args.data_dir, args.features, args.cache, args.format)
    seg = pd.read_parquet(args.segment_features)
    seg = seg[seg["window"] % args.every == 0]
    S, owner = segment_feature_table(clips, segment_s=args.segment_s, features=seg)
    S = S.reindex(columns=X.columns)  # the clip model's columns, in its order
    classes, y = np.unique(np.asarray(clips["quadrant"]), return_inverse=True)
    n_seg = np.bincount(owner, minlength=len(y))
    print(f"{len(y)} clips, {len(S)} segments ({n_seg.min()}-{n_seg.max()} per clip), {S.shape[1]} features; "
          f"{args.classifier}{' tuned' if args.tune else ''}, {args.repeats} x 10-fold; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    est = mer_pipeline(args.classifier, tune=args.tune, random_state=args.seed)
    Xm, Sm = X.to_numpy(float), S.to_numpy(float)
    k = len(classes)

    def z(a):
        return (a - a.mean(0)) / a.std(0)

    for protocol in ("stratified", "artist"):
        t0, c0 = time.perf_counter(), time.process_time()
        f1 = {"clip": [], "segments": [], "clip + segments": []}
        for r in range(args.repeats):
            pc, ps = np.zeros((len(y), k)), np.zeros((len(y), k))
            for _, _, tr, te in repeated_splits(clips["quadrant"], groups, protocol=protocol, n_repeats=1,
                                                random_state=args.seed + r):
                pc[te] = clip_scores(clone(est).fit(Xm[tr], y[tr]), Xm[te])
                trs, tes = np.isin(owner, tr), np.isin(owner, te)
                sc = clip_scores(clone(est).fit(Sm[trs], y[owner[trs]]), Sm[tes])
                np.add.at(ps, owner[tes], sc)
            ps /= n_seg[:, None]
            for name, score in (("clip", pc), ("segments", ps), ("clip + segments", z(pc) + z(ps))):
                f1[name].append(_macro_f1_codes(y, score.argmax(1), k))
        cells = ", ".join(f"{n} {np.mean(v):.3f} +- {np.std(v, ddof=1) if len(v) > 1 else float('nan'):.3f}"
                          for n, v in f1.items())
        print(f"{protocol:<10} {cells}  (wall {time.perf_counter() - t0:.0f} s, CPU {time.process_time() - c0:.0f} s, "
              f"load {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
