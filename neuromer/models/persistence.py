"""Saving and loading fitted models without pickle.

Models are written with skops (``skops.io``), which stores a model as a zip of JSON and numpy
arrays and, on load, refuses any type it was not told to trust. We trust exactly the types our
estimator set (:func:`~neuromer.models.estimators.make_estimator`) produces: scikit-learn's
estimators (trusted by skops by default) plus :data:`TRUSTED_TYPES`. A file holding anything else
(a custom class, a function that runs code) is refused before it is loaded.

XGBoost models ride inside the skops file: skops stores the booster's serialised bytes (no pickle).
That snapshot is only guaranteed to load in the XGBoost version that wrote it, so the versions of
scikit-learn and XGBoost are recorded in the file and a mismatch is logged as a warning.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import skops.io as sio
import sklearn
from sklearn.base import BaseEstimator

from .._checks import check_file, validate_type
from .._logging import logger
from ..errors import DataFormatError
from ..io._atomic import atomic_path

#: Types beyond skops' defaults that pipelines from ``make_estimator`` contain once fitted.
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.tree._tree.Tree",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
)
_FORMAT = "neuromer-model/1"


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0][:200] if lines else "no details")


def _versions() -> dict:
    out = {"scikit-learn": sklearn.__version__, "numpy": np.__version__}
    try:
        import xgboost
        out["xgboost"] = xgboost.__version__
    except ImportError:  # pragma: no cover - xgboost is a dependency
        pass
    return out


def save_model(model: BaseEstimator, path: str | os.PathLike, *, overwrite: bool = True,
               metadata: dict | None = None) -> Path:
    """Write a fitted (or unfitted) estimator/pipeline to a ``.skops`` file, atomically.

    Parameters
    ----------
    model : sklearn estimator
        Typically a pipeline from :func:`~neuromer.models.estimators.make_estimator`.
    path : path-like
        Output file (``.skops`` by convention).
    overwrite : bool
        Replace an existing file.
    metadata : dict | None
        Plain data (str, numbers, lists, dicts) stored beside the model, e.g. the targets, feature
        columns and class names a predictor needs; read back with ``load_model(...,
        with_metadata=True)``.

    Returns
    -------
    Path
        The written file.
    """
    validate_type(model, BaseEstimator, "model")
    validate_type(path, (str, os.PathLike), "path")
    path = Path(path)
    bundle = {"format": _FORMAT, "versions": _versions(), "model": model, "metadata": dict(metadata or {})}
    untrusted = set(sio.get_untrusted_types(data=sio.dumps(bundle))) - set(TRUSTED_TYPES)
    if untrusted:
        logger.warning("%s: the model holds types load_model will refuse: %s", path, sorted(untrusted))
    with atomic_path(path, overwrite=overwrite) as tmp:
        sio.dump(bundle, tmp)
    return path


def load_model(path: str | os.PathLike, *, trusted: tuple[str, ...] = (), with_metadata: bool = False):
    """Load a model written by :func:`save_model`, refusing unknown types.

    Parameters
    ----------
    path : path-like
        A ``.skops`` file.
    trusted : tuple of str
        Extra fully qualified type names to trust beyond :data:`TRUSTED_TYPES` (review them:
        a trusted type can run code when loaded).

    with_metadata : bool
        Also return the ``metadata`` dict given to :func:`save_model` (empty if none).

    Returns
    -------
    sklearn estimator, or (estimator, dict) with ``with_metadata=True``

    Raises
    ------
    DataFormatError
        If the file is not a skops file or contains a type that is not trusted.
    """
    path = check_file(path, "path")
    allowed = set(TRUSTED_TYPES) | set(trusted)
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise DataFormatError(f"{path}: not a readable skops model file ({exc}).") from None
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise DataFormatError(
            f"{path}: refusing to load untrusted types {', '.join(unknown)} (not part of neuromer's "
            f"estimator set; pass trusted=... only if you trust the file's author)."
        )
    try:
        obj = sio.load(path, trusted=sorted(allowed & set(found)))
    except Exception as exc:  # noqa: BLE001 - skops, numpy and xgboost each raise their own types
        # e.g. a damaged XGBoost booster (XGBoostError) or an object-array .npy member, which numpy
        # refuses to unpickle (ValueError): the file is damaged or was not written by save_model
        raise DataFormatError(f"{path}: not a readable skops model file ({type(exc).__name__}: "
                              f"{_first_line(exc)}).") from None
    metadata = {}
    if isinstance(obj, dict) and obj.get("format") == _FORMAT:
        metadata = dict(obj.get("metadata") or {})
        saved = obj.get("versions", {})
        for lib, ver in _versions().items():
            if lib in saved and saved[lib] != ver:
                logger.warning("%s: saved with %s %s, loading with %s; predictions may differ.",
                               path, lib, saved[lib], ver)
        obj = obj.get("model")
    if not isinstance(obj, BaseEstimator):
        raise DataFormatError(f"{path}: expected a scikit-learn estimator, got {type(obj).__name__}.")
    return (obj, metadata) if with_metadata else obj
