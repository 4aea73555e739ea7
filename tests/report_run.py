"""A small run folder written from code (no pipeline run): the group files the report reads.

Used by tests/test_report.py and tests/test_report_browser.py. Planted answers: audio and
self-report share each stimulus' emotion, EEG decodes arousal but not valence.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd


def trial_table(n_subjects=4, n_stimuli=8, seed=0):
    rng = np.random.default_rng(seed)
    stim_v = rng.uniform(1, 9, n_stimuli)
    stim_a = rng.uniform(1, 9, n_stimuli)
    rows = []
    for s in range(n_subjects):
        for t in range(n_stimuli):
            sv = float(np.clip(stim_v[t] + rng.normal(0, 1), 1, 9))
            sa = float(np.clip(stim_a[t] + rng.normal(0, 1), 1, 9))
            rows.append({"subject": f"{s + 1:02d}", "trial": t + 1, "stimulus_id": f"stim{t + 1:02d}",
                         "self_valence": sv, "self_arousal": sa,
                         "audio_valence": stim_v[t], "audio_arousal": stim_a[t],
                         "eeg_valence": rng.uniform(0, 1),
                         "eeg_arousal": 1 / (1 + np.exp(-(sa - 5) + rng.normal(0, 1)))})
    return pd.DataFrame(rows)


def window_table(trials, n_windows=20, lag_windows=2, seed=1):
    """Audio and EEG arousal curves per trial; the EEG follows the audio ``lag_windows`` later."""
    rng = np.random.default_rng(seed)
    rows = []
    for _, tr in trials.iterrows():
        audio = 5 + 3 * np.sin(np.linspace(0, 3 * np.pi, n_windows) + rng.uniform(0, 6))
        eeg = np.r_[rng.uniform(0, 1, lag_windows), (audio[:n_windows - lag_windows] - 1) / 8]
        eeg = np.clip(eeg + rng.normal(0, 0.05, n_windows), 0, 1)
        for w in range(n_windows):
            rows.append({"subject": tr.subject, "trial": tr.trial, "stimulus_id": tr.stimulus_id, "window": w,
                         "t_start": 0.5 * w, "audio_pred_arousal": audio[w], "eeg_p_arousal": eeg[w]})
    return pd.DataFrame(rows)


def make_run(root: Path, *, n_subjects=4, n_stimuli=8, feature_sets=("eeg", "physio", "eeg+physio", "audio"),
             n_perm=40) -> Path:
    from neuromer import compare

    run = Path(root) / "run"
    group = run / "group"
    group.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "config": {"study": {"name": "report test"}},
        "subjects": {f"{s + 1:02d}": {"status": "done"} for s in range(n_subjects)},
        "failed": [], "versions": {"neuromer": "test", "mne": "test"}}))
    trials = trial_table(n_subjects, n_stimuli)
    trials.to_parquet(group / "trials.parquet")
    window_table(trials).to_parquet(group / "windows.parquet")
    compare.compare_trials(trials, n_permutations=n_perm, n_boot=200).to_csv(group / "comparison.csv", index=False)
    compare.stimulus_consistency(trials).to_csv(group / "stimulus_consistency.csv", index=False)
    rng = np.random.default_rng(3)
    rows = []
    for target in ("valence", "arousal"):
        for k, fs in enumerate(feature_sets):
            score = 0.55 + 0.1 * k if target == "arousal" else 0.5 + 0.05 * k
            for level in ("window", "trial"):
                rows.append({"target": target, "features": fs, "level": level, "estimator": "logreg",
                             "cv": "trial", "metric": "balanced_accuracy", "score": score, "chance": 0.5,
                             "p_value": 0.05, "n_permutations": n_perm})
            folder = group / "eval" / f"{target}__{fs}"
            folder.mkdir(parents=True)
            per = pd.DataFrame({"scope": "subject", "subject": [f"{s + 1:02d}" for s in range(n_subjects)],
                                "level": "trial",
                                "balanced_accuracy": np.clip(score + rng.normal(0, 0.08, n_subjects), 0, 1)})
            per.to_parquet(folder / "metrics.parquet")
            pd.DataFrame({"permutation": np.arange(n_perm), "level": "trial",
                          "balanced_accuracy": rng.normal(0.5, 0.06, n_perm)}).to_parquet(folder / "null.parquet")
    pd.DataFrame(rows).to_csv(group / "metrics.csv", index=False)
    pd.DataFrame({"cv": ["trial", "window"], "accuracy": [0.7, 0.9], "balanced_accuracy": [0.68, 0.9],
                  "f1_macro": [0.67, 0.89], "roc_auc": [0.75, 0.95]}).to_csv(group / "leakage.csv", index=False)
    return run
