"""Synthetic aligned tables with known structure, built with numpy (fast)."""

import numpy as np
import pandas as pd
import pytest


def synth_table(*, n_subjects=3, n_trials=16, n_windows=8, n_features=6, signal=1.5,
                trial_offset=0.0, shuffle_labels=False, seed=0, hop_s=0.5):
    """One row per (subject, trial, window).

    Arousal/valence ratings are per trial; ``signal`` adds (high - 0.5) * signal to the first two
    eeg features (planted decodable effect); ``trial_offset`` adds a constant random offset per
    trial to every feature (trial identity learnable, independent of the label).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        # balanced ratings: half the trials high, half low, in random order
        high_a = rng.permutation(np.arange(n_trials) % 2)
        high_v = rng.permutation((np.arange(n_trials) // 2) % 2)
        for t in range(n_trials):
            aro = 7.0 if high_a[t] else 3.0
            val = 7.0 if high_v[t] else 3.0
            aro += rng.uniform(-1, 1)
            val += rng.uniform(-1, 1)
            feats = rng.normal(size=(n_windows, n_features))
            feats += trial_offset * rng.normal(size=n_features)
            feats[:, :2] += (high_a[t] - 0.5) * signal
            for w in range(n_windows):
                rows.append({"subject": f"S{s + 1:02d}", "trial": t, "stimulus_id": f"stim{t:02d}",
                             "window": w, "t_start": w * hop_s, "t_end": w * hop_s + 1.0,
                             **{f"eeg_f{j}": feats[w, j] for j in range(n_features)},
                             "physio_hr": rng.normal(), "audio_rms": rng.normal(),
                             "audio_pred_arousal": aro, "valence": val, "arousal": aro,
                             "dominance": 5.0, "liking": 5.0})
    table = pd.DataFrame(rows)
    if shuffle_labels:
        # permute the trial labels within subject: the features keep their planted pattern,
        # which no longer tracks the ratings
        for s, idx in table.groupby("subject").groups.items():
            sub = table.loc[idx]
            trials = sub["trial"].unique()
            perm = dict(zip(trials, rng.permutation(trials)))
            lab = sub.groupby("trial")[["valence", "arousal"]].first()
            new = lab.loc[sub["trial"].map(perm)].to_numpy()
            table.loc[idx, ["valence", "arousal"]] = new
    return table


@pytest.fixture(scope="session")
def planted():
    return synth_table(seed=1)
