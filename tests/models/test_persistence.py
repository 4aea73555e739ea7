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


def _rewrite_member(path, choose, new_bytes):
    """Copy the skops zip with one member's bytes replaced (a valid zip: the damage is inside)."""
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
    name = next(n for n, _ in members if choose(n))
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members:
            zf.writestr(n, new_bytes(data) if n == name else data)
    return name


def test_corrupted_xgboost_booster_is_a_one_line_error(tmp_path):
    X, y = _data()
    path = save_model(make_estimator("xgboost", random_state=0).fit(X, y), tmp_path / "x.skops")
    # the booster's serialised bytes, garbled in the middle
    _rewrite_member(path, lambda n: n.endswith(".bin"), lambda b: b[:100] + b"\x00garbage\xff" * 50 + b[600:])
    with pytest.raises(DataFormatError, match=r"x\.skops: not a readable skops model file") as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_object_array_inside_skops_is_refused_not_unpickled(tmp_path):
    import io

    X, y = _data()
    path = save_model(make_estimator("logreg").fit(X, y), tmp_path / "o.skops")
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)  # a pickle inside .npy
    _rewrite_member(path, lambda n: n.endswith(".npy"), lambda b: buf.getvalue())
    with pytest.raises(DataFormatError, match=r"o\.skops: not a readable skops model file.*ValueError") as info:
        load_model(path)
    assert "\n" not in str(info.value)
