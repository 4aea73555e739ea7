import numpy as np
import pandas as pd
import pytest

from neuromer.errors import NeuromerError
from neuromer.models.estimators import (ESTIMATORS, feature_columns, make_estimator, make_target,
                                        quadrant)


def test_make_estimator_pipeline_steps_and_names():
    for task, names in ESTIMATORS.items():
        for name in names:
            pipe = make_estimator(name, task, k_best=2, random_state=0)
            assert [s for s, _ in pipe.steps] == ["impute", "scale", "select", "model"]
    assert [s for s, _ in make_estimator("gnb").steps] == ["impute", "scale", "model"]
    with pytest.raises(NeuromerError, match="'estimator'"):
        make_estimator("gnb", "regression")
    with pytest.raises(NeuromerError, match="'task'"):
        make_estimator("logreg", "clustering")


def test_pipeline_imputes_nan():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    X[::5, 0] = np.nan
    X[:, 2] = np.nan  # an all-missing feature is kept (as zeros), not dropped
    y = (rng.normal(size=40) > 0).astype(int)
    assert make_estimator("logreg").fit(X, y).predict(X).shape == (40,)


def test_feature_columns(planted):
    cols = feature_columns(planted, ("eeg",))
    assert cols and all(c.startswith("eeg_") for c in cols)
    assert feature_columns(planted, "fusion") == cols + ["physio_hr"]
    audio = feature_columns(planted, "audio")
    assert audio == ["audio_rms"]  # audio_pred_* are predictions, never features
    with pytest.raises(NeuromerError, match="'features'"):
        feature_columns(planted, "face")
    with pytest.raises(NeuromerError, match="no feature columns"):
        feature_columns(planted[["subject", "trial"]], "eeg")


def test_make_target_fixed_median_quadrant():
    t = pd.DataFrame({"subject": ["a"] * 4 + ["b"] * 4, "trial": [0, 1, 2, 3] * 2,
                      "valence": [2, 5, 6, 8, 6, 6.5, 7, 8], "arousal": [8, 2, 5.5, 4, 1, 2, 3, 9]})
    assert make_target(t, "valence").tolist() == [0, 0, 1, 1, 1, 1, 1, 1]  # 5 is low (> 5 is high)
    # subject b rates everything high on valence; the median split still halves it
    assert make_target(t, "valence", threshold="median").tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert make_target(t, "quadrant").tolist() == ["Q2", "Q3", "Q1", "Q4", "Q4", "Q4", "Q4", "Q1"]
    assert make_target(t, "arousal_score").tolist() == t["arousal"].tolist()
    with pytest.raises(NeuromerError, match="'dominance_score'"):
        make_target(t, "dominance_score")
    t2 = t.assign(valence=[np.nan] + [6.0] * 7)
    assert np.isnan(make_target(t2, "valence").iloc[0])
    assert make_target(t2, "quadrant").iloc[0] is None


def test_quadrant_convention():
    assert list(quadrant([1, 0, 0, 1], [1, 1, 0, 0])) == ["Q1", "Q2", "Q3", "Q4"]
