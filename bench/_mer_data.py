"""Shared loading for bench/mer.py and bench/fit_default_predictor.py: labels, artists, clip features."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def load(data_dir: str, features: str | None, cache: str | None, fmt: str = "auto"):
    """(clips table, feature matrix, artist groups) of a local 4QAED copy (or annotations CSV)."""
    from neuromer.audio.evaluation import artist_groups, clip_feature_table, read_labelled_clips

    clips = read_labelled_clips(data_dir, format=fmt)
    done = {"n": 0}

    def tick(_):
        done["n"] += 1
        print(f"\rclip features {done['n']}/{len(clips)}", end="", file=sys.stderr, flush=True)

    if features is None and cache is None:
        cache = str(Path(data_dir).resolve().parent / (Path(data_dir).name + "_neuromer_cache"))
        print(f"caching clip features in {cache}", file=sys.stderr)
    X = clip_feature_table(clips, features=features, cache_dir=cache, progress=None if features else tick)
    if features is None:
        print(file=sys.stderr)
    groups = artist_groups(clips["artist"]) if clips["artist"].notna().any() else None
    return clips, X, groups


def add_arguments(p) -> None:
    p.add_argument("data_dir", help="4QAED folder (Q1..Q4 + panda_dataset_taffc_*.csv) or annotations CSV")
    p.add_argument("--features", help="reuse a clip table from `neuromer audio features` (column 'file')")
    p.add_argument("--cache", help="cache folder for clip features (default: next to DATA_DIR)")
    p.add_argument("--format", default="auto", choices=("auto", "4qaed", "csv"))


def shares(table: pd.DataFrame) -> str:
    return ", ".join(f"{q} {table[f'share_{q}'].mean():.2f} (true {table[f'true_share_{q}'].mean():.2f})"
                     for q in ("Q1", "Q2", "Q3", "Q4"))
