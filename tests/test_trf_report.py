"""The TRF report section from small group tables: figures built, no deprecated MNE montage name."""

import warnings

import numpy as np
import pandas as pd


def _group_tables(run_dir):
    group = run_dir / "group"
    group.mkdir(parents=True)
    chans = ["Fz", "Cz", "Pz", "O1", "O2", "F3", "F4"]
    rows = [{"subject": s, "model": "forward", "feature_set": "full", "channel": c, "r": 0.1 + 0.01 * i,
             "null_mean": 0.0, "p": 0.01, "alpha": 1.0} for s in ("01", "02") for i, c in enumerate([*chans, "all"])]
    rows += [{"subject": s, "model": "backward", "feature_set": "envelope", "channel": "all", "r": 0.2,
              "null_mean": 0.0, "p": 0.01, "alpha": 1.0} for s in ("01", "02")]
    pd.DataFrame(rows).to_parquet(group / "trf_scores.parquet")
    lags = np.arange(-13, 65) / 128
    w = pd.DataFrame([{"subject": "01", "model": "forward", "feature": "envelope", "channel": c, "lag_s": lag,
                       "weight": np.sin(20 * lag)} for c in chans for lag in lags])
    w.to_parquet(group / "trf_weights.parquet")
    pd.DataFrame({"subject": "01", "trial": [1, 2, 3], "onset_offset_s": [0.01, 0.03, 0.05],
                  "onset_confidence": 5.0}).to_parquet(group / "trf_trials.parquet")


def test_topomap_uses_a_current_montage_name(tmp_path):
    """MNE >= 1.13 deprecates 'standard_1020' (FutureWarning): the section must not use it."""
    from neuromer.trf_report import _figures

    _group_tables(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        items = _figures(tmp_path)
    names = [it[0] for it in items]
    assert "topomap of prediction r" in names, names
    topo = next(it for it in items if it[0] == "topomap of prediction r")
    assert list(topo[2].channel) == sorted(["Fz", "Cz", "Pz", "O1", "O2", "F3", "F4"])
    import matplotlib.pyplot as plt

    plt.close("all")
