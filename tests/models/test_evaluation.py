import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from neuromer.errors import NeuromerError
from neuromer.models.evaluation import (LeakageWarning, LeaveOneSubjectOut, LeaveOneTrialOut,
                                        TrialKFold, WindowKFold, classification_metrics,
                                        concordance_correlation, evaluate, leakage_report,
                                        regression_metrics)

from .conftest import synth_table


def _one_subject(table):
    return table[table["subject"] == "S01"].reset_index(drop=True)


@pytest.mark.parametrize("splitter", [LeaveOneTrialOut(), TrialKFold(4, random_state=0),
                                      TrialKFold(3, shuffle=False, stratify=False)])
def test_trial_splitters_never_straddle(planted, splitter):
    sub = _one_subject(planted)
    groups = sub["trial"].to_numpy()
    y = (sub["arousal"] > 5).astype(int).to_numpy()
    seen = []
    for train, test in splitter.split(sub, y, groups):
        assert not set(groups[train]) & set(groups[test])
        assert len(train) + len(test) == len(sub)
        seen.append(test)
    assert len(seen) == splitter.get_n_splits(sub, y, groups)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(len(sub)))


def test_trial_kfold_stratifies():
    sub = _one_subject(synth_table(n_subjects=1, n_trials=12, seed=3))
    y = (sub["arousal"] > 5).astype(int).to_numpy()
    for _, test in TrialKFold(3, random_state=1).split(sub, y, sub["trial"]):
        assert set(y[test]) == {0, 1}


def test_loso_holds_out_one_subject(planted):
    subjects = planted["subject"].to_numpy()
    folds = list(LeaveOneSubjectOut().split(planted, groups=subjects))
    assert len(folds) == 3 == LeaveOneSubjectOut().get_n_splits(groups=subjects)
    for train, test in folds:
        assert len(set(subjects[test])) == 1
        assert set(subjects[test]).isdisjoint(subjects[train])


def test_sklearn_accepts_splitters(planted):
    sub = _one_subject(planted)
    X = sub.filter(like="eeg_").to_numpy()
    y = (sub["arousal"] > 5).astype(int).to_numpy()
    for cv in (LeaveOneTrialOut(), TrialKFold(4, random_state=0)):
        pred = cross_val_predict(LogisticRegression(), X, y, groups=sub["trial"].to_numpy(), cv=cv)
        assert pred.shape == y.shape
    pred = cross_val_predict(LogisticRegression(), planted.filter(like="eeg_").to_numpy(),
                             (planted["arousal"] > 5).astype(int), groups=planted["subject"],
                             cv=LeaveOneSubjectOut())
    assert len(pred) == len(planted)


def test_window_kfold_needs_opt_in_and_warns(planted):
    with pytest.raises(NeuromerError, match="allow_leakage"):
        WindowKFold(5)
    with pytest.warns(LeakageWarning):
        folds = list(WindowKFold(5, allow_leakage=True, random_state=0).split(planted))
    assert len(folds) == 5


def test_missing_groups_is_a_clear_error(planted):
    with pytest.raises(NeuromerError, match="groups"):
        list(LeaveOneTrialOut().split(planted))


def test_planted_signal_recovered(planted):
    res = evaluate(planted, target="arousal", cv="trial", n_permutations=25, random_state=0)
    assert res.score("balanced_accuracy") > 0.75
    assert res.p_value("balanced_accuracy") < 0.05
    s = res.summary.set_index(["level", "metric"])
    assert abs(s.loc[("window", "balanced_accuracy"), "chance"] - 0.5) < 0.1
    pw, pt = res.predictions_window, res.predictions_trial
    assert {"subject", "trial", "window", "fold", "y_true", "y_pred", "proba_0", "proba_1"} <= set(pw.columns)
    assert len(pw) == len(planted) and len(pt) == 48
    assert np.allclose(pw[["proba_0", "proba_1"]].sum(axis=1), 1)
    assert set(res.metrics["scope"]) == {"overall", "subject", "fold"}
    assert len(res.null) == 2 * 25


def test_shuffled_labels_not_recovered():
    table = synth_table(seed=4, shuffle_labels=True, n_trials=12)
    res = evaluate(table, target="arousal", cv="trial", n_permutations=25, random_state=0)
    assert abs(res.score("balanced_accuracy") - 0.5) < 0.15
    assert res.p_value("balanced_accuracy") > 0.05


@pytest.mark.parametrize("cv", ["loto", "subject"])
def test_other_schemes(planted, cv):
    small = planted[planted["trial"] < 8] if cv == "loto" else planted
    res = evaluate(small, cv=cv, estimator="gnb", n_permutations=0)
    assert res.score() > 0.7
    assert np.isnan(res.p_value())


def test_quadrant_and_regression_targets(planted):
    res = evaluate(planted, target="quadrant", estimator="xgboost", n_permutations=0)
    assert [c for c in res.predictions_window if c.startswith("proba_")] == [f"proba_Q{i}" for i in range(1, 5)]
    assert 0 <= res.score("roc_auc") <= 1
    reg = evaluate(planted, target="arousal_score", n_permutations=5)  # logreg -> ridge
    assert reg.params["estimator"] == "ridge"
    assert reg.score("pearson_r") > 0.5
    assert set(reg.summary["metric"]) == {"rmse", "pearson_r", "ccc"}


def test_nan_features_and_svm(planted):
    t = planted.copy()
    t.loc[t.index[::7], "eeg_f0"] = np.nan
    res = evaluate(t, estimator="svm", n_permutations=0)
    assert res.score() > 0.7


def test_leakage_report_shows_inflation():
    table = synth_table(seed=5, signal=0.0, trial_offset=3.0, n_windows=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeakageWarning)  # the report does not spam warnings
        rep = leakage_report(table, estimator="logreg")
    assert list(rep.index) == ["trial", "window"]
    assert abs(rep.loc["trial", "balanced_accuracy"] - 0.5) < 0.15
    assert rep.loc["window", "balanced_accuracy"] > rep.loc["trial", "balanced_accuracy"] + 0.15
    assert rep.attrs["inflation"]["balanced_accuracy"] > 0.15


def test_cv_window_warns(planted):
    with pytest.warns(LeakageWarning):
        evaluate(planted, cv="window", n_permutations=0)


def test_results_serialise(planted, tmp_path):
    res = evaluate(planted, n_permutations=3)
    frames = res.to_frames()
    assert {"metrics", "summary", "predictions_window", "predictions_trial", "null"} <= set(frames)
    paths = res.save(tmp_path / "eval")
    back = pd.read_parquet(paths["predictions_window"])
    assert len(back) == len(planted)
    res.save(tmp_path / "csv", format="csv")
    assert "EvaluationResult" in repr(res)


def test_bad_arguments(planted):
    with pytest.raises(NeuromerError, match="'cv'"):
        evaluate(planted, cv="kfold")
    with pytest.raises(NeuromerError, match="'target'"):
        evaluate(planted, target="liking")
    with pytest.raises(NeuromerError, match="single class"):
        evaluate(planted.assign(arousal=8.0), n_permutations=0)


def test_ccc_and_metrics_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert concordance_correlation(y, y) == pytest.approx(1.0)
    # y + 1: cov = var = 1.25, shift 1 -> 2 * 1.25 / (2.5 + 1)
    assert concordance_correlation(y, y + 1) == pytest.approx(2.5 / 3.5)
    assert concordance_correlation(y, 2 * y) < 1
    m = regression_metrics(y, y + 1)
    assert m["rmse"] == pytest.approx(1.0) and m["pearson_r"] == pytest.approx(1.0)
    c = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], np.array([[.9, .1], [.4, .6], [.3, .7], [.2, .8]]), [0, 1])
    assert c["accuracy"] == 0.75 and c["balanced_accuracy"] == 0.75 and c["roc_auc"] == 1.0


def test_metrics_match_sklearn():
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    for k in (2, 4):
        y = rng.integers(0, k, 60)
        proba = rng.dirichlet(np.ones(k), 60)
        pred = proba.argmax(1)
        m = classification_metrics(y, pred, proba, list(range(k)))
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
        assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
        auc = roc_auc_score(y, proba[:, 1]) if k == 2 else roc_auc_score(y, proba, multi_class="ovr")
        assert m["roc_auc"] == pytest.approx(auc)
