"""Decoding emotion from the aligned table: estimators, leakage-free evaluation, safe persistence."""

from .estimators import feature_columns, make_estimator, make_target, quadrant
from .evaluation import (EvaluationResult, LeakageWarning, LeaveOneSubjectOut, LeaveOneTrialOut,
                         TrialKFold, WindowKFold, concordance_correlation, evaluate, leakage_report)

__all__ = [
    "EvaluationResult", "LeakageWarning", "LeaveOneSubjectOut", "LeaveOneTrialOut", "TrialKFold",
    "WindowKFold", "concordance_correlation", "evaluate", "feature_columns", "leakage_report",
    "make_estimator", "make_target", "quadrant",
]

from .persistence import TRUSTED_TYPES, load_model, save_model  # noqa: E402

__all__ += ["TRUSTED_TYPES", "load_model", "save_model"]
