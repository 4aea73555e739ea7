import numpy as np
import pandas as pd
import pytest

from neuromer.compare import (agreement, compare_trials, fleiss_kappa, group_stats,
                              stimulus_consistency, time_course_agreement)
from neuromer.errors import NeuromerError


def test_agreement_identical_is_perfect():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 60)
    r = agreement(a, a, kind="binary", n_permutations=200)
    assert r["accuracy"] == 1 and r["kappa"] == pytest.approx(1) and r["p_accuracy"] < 0.01
    q = rng.choice(["Q1", "Q2", "Q3", "Q4"], 60)
    assert agreement(q, q, kind="quadrant", n_permutations=200)["p_kappa"] < 0.01
    x = rng.normal(size=60)
    c = agreement(x, x, kind="continuous", n_permutations=200)
    assert c["pearson"] == pytest.approx(1) and c["ccc"] == pytest.approx(1)
    assert c["spearman"] == pytest.approx(1) and max(c["p_pearson"], c["p_ccc"]) < 0.01


def test_agreement_independent_is_chance():
    rng = np.random.default_rng(1)
    r = agreement(rng.integers(0, 2, 200), rng.integers(0, 2, 200), n_permutations=500)
    assert abs(r["accuracy"] - 0.5) < 0.1 and abs(r["kappa"]) < 0.2 and r["p_accuracy"] > 0.05
    c = agreement(rng.normal(size=200), rng.normal(size=200), kind="continuous", n_permutations=500)
    assert abs(c["pearson"]) < 0.2 and c["p_pearson"] > 0.05


def test_known_kappa_and_missing_pairs():
    # 10 pairs, 8 agree, marginals a: 5/5, b: 5/5 -> pe = 0.5, kappa = (0.8 - 0.5) / 0.5 = 0.6
    a = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, None]
    b = [1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1]
    r = agreement(a, b, n_permutations=0)
    assert r["n"] == 10 and r["accuracy"] == 0.8 and r["kappa"] == pytest.approx(0.6)
    assert r["chance_accuracy"] == pytest.approx(0.5) and np.isnan(r["p_accuracy"])
    with pytest.raises(NeuromerError, match="'kind'"):
        agreement(a, b, kind="ordinal")


def test_grouped_permutations_stay_within_groups():
    from neuromer.compare import _group_permutations

    groups = np.array([0, 1, 0, 1, 2, 2, 0])
    perms = _group_permutations(7, groups, 50, np.random.default_rng(0))
    assert (groups[perms] == groups[None, :]).all()
    assert all(sorted(p) == list(range(7)) for p in perms)


def _trial_table(seed=0, n_subjects=4, n_stimuli=20, eeg_noise=1.0):
    rng = np.random.default_rng(seed)
    stim_v = rng.uniform(1, 9, n_stimuli)
    stim_a = rng.uniform(1, 9, n_stimuli)
    rows = []
    for s in range(n_subjects):
        for t in range(n_stimuli):
            sv = np.clip(stim_v[t] + rng.normal(0, 1), 1, 9)
            sa = np.clip(stim_a[t] + rng.normal(0, 1), 1, 9)
            rows.append({"subject": f"S{s}", "trial": t, "stimulus_id": f"st{t}",
                         "self_valence": sv, "self_arousal": sa,
                         "audio_valence": stim_v[t], "audio_arousal": stim_a[t],
                         "eeg_valence": rng.uniform(0, 1),  # EEG decodes nothing here
                         "eeg_arousal": 1 / (1 + np.exp(-(sa - 5) + rng.normal(0, eeg_noise)))})
    return pd.DataFrame(rows)


def test_compare_trials_structure_and_signal():
    df = compare_trials(_trial_table(), n_permutations=200)
    assert set(df["subject"]) == {"S0", "S1", "S2", "S3", "all"}
    assert len(df) == 5 * 3 * 3
    pooled = df[df["subject"] == "all"].set_index(["source_a", "source_b", "dimension"])
    assert pooled.loc[("audio", "self", "arousal"), "pearson"] > 0.8
    assert pooled.loc[("audio", "self", "valence"), "p_accuracy"] < 0.01
    assert pooled.loc[("eeg", "self", "arousal"), "p_spearman"] < 0.01
    assert pooled.loc[("eeg", "self", "valence"), "p_accuracy"] > 0.01
    assert np.isnan(pooled.loc[("eeg", "self", "arousal"), "ccc"])  # probability vs 1-9 rating
    assert not np.isnan(pooled.loc[("audio", "self", "arousal"), "ccc"])
    assert np.isnan(pooled.loc[("audio", "self", "quadrant"), "pearson"])
    with pytest.raises(NeuromerError, match="eeg_valence"):
        compare_trials(_trial_table().assign(eeg_valence=7.0), n_permutations=0)


def test_group_stats_known_values():
    x = np.array([0.6, 0.7, 0.8, 0.65, 0.75])
    g = group_stats(pd.DataFrame({"acc": x}), "acc", chance=0.5)
    assert g["n"] == 5 and g["mean"] == pytest.approx(0.7)
    half = 2.7764451 * x.std(ddof=1) / np.sqrt(5)  # t(0.975, df=4)
    assert g["ci_low"] == pytest.approx(0.7 - half) and g["ci_high"] == pytest.approx(0.7 + half)
    assert g["p_sign"] == pytest.approx(1 / 32)  # all 5 above chance, one-sided
    assert g["p_wilcoxon"] == pytest.approx(1 / 32)
    assert g["p_t"] < 0.01
    b = group_stats(x, chance=0.5, ci="bootstrap", n_boot=2000)
    assert b["ci_low"] < 0.7 < b["ci_high"]
    with pytest.raises(NeuromerError, match="'column'"):
        group_stats(pd.DataFrame({"acc": x}), "kappa")


def test_time_course_recovers_planted_lag():
    rng = np.random.default_rng(0)
    hop = 0.5
    rows = []
    for trial in range(6):
        x = np.convolve(rng.normal(size=70), np.ones(3) / 3, mode="same")
        y = np.roll(x, 2) + 0.2 * rng.normal(size=70)  # y follows x by 2 windows
        y[:2] = np.nan
        for w in range(70):
            rows.append({"subject": "S1", "trial": trial, "stimulus_id": f"s{trial}", "window": w,
                         "t_start": w * hop, "t_end": w * hop + 1, "audio_pred_arousal": x[w],
                         "eeg_pred_arousal": y[w]})
    out = time_course_agreement(pd.DataFrame(rows), max_lag_s=3)
    trials = out[out["scope"] == "trial"]
    assert len(trials) == 6 and (trials["best_lag_windows"] == 2).all()
    assert (trials["best_lag_s"] == 2 * hop).all() and (trials["r_best"] > 0.8).all()
    overall = out[out["scope"] == "all"].iloc[0]
    assert overall["best_lag_s"] == pytest.approx(1.0)
    assert len(out.attrs["lag_curve"]) == 2 * 6 + 1


def test_stimulus_consistency_and_fleiss():
    # Fleiss (1971) style check: perfect agreement -> 1
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    # hand-computed: items [2,1],[1,2]: P_i = 1/3 each, p_j = 0.5 -> pe 0.5, kappa = -1/3
    assert fleiss_kappa([[2, 1], [1, 2]]) == pytest.approx(-1 / 3)
    df = stimulus_consistency(_trial_table(n_stimuli=10))
    assert len(df) == 10 and (df["n_listeners"] == 4).all()
    assert df["match_arousal"].mean() > 0.6
    assert ((0 <= df["agreement_quadrant"]) & (df["agreement_quadrant"] <= 1)).all()
    assert set(df.attrs["fleiss_kappa"]) == {"quadrant", "valence", "arousal"}
    assert df.attrs["fleiss_kappa"]["arousal"] > 0.3


def test_missing_rating_or_eeg_score_is_no_quadrant():
    # a NaN rating or EEG score was counted as "low" (Q3) before; it must stay missing
    from neuromer.analysis import _prediction_tables

    table = pd.DataFrame({"subject": "1", "trial": [1, 2, 3, 4], "stimulus_id": ["a", "b", "c", "d"],
                          "window": 0, "t_start": 0.0, "t_end": 1.0,
                          "valence": [8.0, np.nan, 2.0, 7.0], "arousal": [8.0, 3.0, np.nan, 2.0],
                          "audio_pred_valence": [8.0, 2.0, 2.0, np.nan], "audio_pred_arousal": [7.0, 2.0, 8.0, 2.0]})
    per_trial, _ = _prediction_tables(table, {})
    assert list(per_trial["self_quadrant"]) == ["Q1", None, None, "Q4"]
    assert list(per_trial["audio_quadrant"]) == ["Q1", "Q3", "Q2", None]
    per_trial["eeg_valence"] = [0.9, 0.2, np.nan, 0.8]
    per_trial["eeg_arousal"] = [0.9, 0.1, 0.7, 0.3]
    df = compare_trials(per_trial, n_permutations=0).set_index(["subject", "source_a", "source_b", "dimension"])
    # only trials 1 and 4 have both self-report readings: 2 pairs with audio, not 4
    assert df.loc[("all", "audio", "self", "quadrant"), "n"] == 1  # trial 4 has no audio valence
    assert df.loc[("all", "eeg", "self", "quadrant"), "n"] == 2
    assert df.loc[("all", "audio", "eeg", "quadrant"), "n"] == 2  # trial 3: EEG valence missing
