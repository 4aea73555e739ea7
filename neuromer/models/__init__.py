"""Decoding emotion from the aligned table: estimators, leakage-free evaluation, safe persistence."""

from .._lazy import lazy_exports

# loaded on first use (scikit-learn, scipy and skops are slow to import)
_EXPORTS = {name: "estimators" for name in ("feature_columns", "make_estimator", "make_target", "quadrant")}
_EXPORTS.update({name: "evaluation" for name in (
    "EvaluationResult", "LeakageWarning", "LeaveOneSubjectOut", "LeaveOneTrialOut", "TrialKFold",
    "WindowKFold", "concordance_correlation", "evaluate", "leakage_report")})
_EXPORTS.update({name: "persistence" for name in ("TRUSTED_TYPES", "load_model", "save_model")})
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
