import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from neuromer.errors import DataFormatError
from neuromer.models.estimators import ESTIMATORS, make_estimator
from neuromer.models.persistence import TRUSTED_TYPES, load_model, save_model


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 5))
    X[::9, 1] = np.nan
    return X, (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)


@pytest.mark.parametrize("name", ["logreg", "rf", "xgboost", "gnb", "svm"])
def test_round_trip_same_predictions(tmp_path, name):
    X, y = _data()
    model = make_estimator(name, k_best=3, random_state=0).fit(X, y)
    path = save_model(model, tmp_path / f"{name}.skops")
    back = load_model(path)
    assert np.array_equal(back.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        assert np.allclose(back.predict_proba(X), model.predict_proba(X))
    with zipfile.ZipFile(path) as zf:  # a skops archive, not a pickle
        assert "schema.json" in zf.namelist()


def test_trusted_list_covers_estimator_set():
    X, y = _data()
    needed = set()
    for task, names in ESTIMATORS.items():
        for name in names:
            target = y if task == "classification" else X[:, 0]
            fitted = make_estimator(name, task, k_best=2, random_state=0).fit(X, target)
            needed |= set(sio.get_untrusted_types(data=sio.dumps(fitted)))
    assert needed <= set(TRUSTED_TYPES)


def _mystery(x):
    return x


def test_unknown_type_refused(tmp_path):
    X, y = _data()
    model = make_estimator("logreg").fit(X, y)
    evil = Pipeline([("f", FunctionTransformer(_mystery)), *model.steps])
    path = tmp_path / "evil.skops"
    sio.dump(evil, path)
    with pytest.raises(DataFormatError, match="_mystery"):
        load_model(path)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.skops"
    path.write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="junk.skops"):
        load_model(path)
