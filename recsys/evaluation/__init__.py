"""Offline evaluation: splits, full-ranking metrics with confidence intervals, reports."""

from recsys.evaluation.metrics import Estimate, PairedComparison, mean_ci, paired_comparison
from recsys.evaluation.runner import EvalData, ModelEvaluation, evaluate_model, fit_model
from recsys.evaluation.splits import (
    PROTOCOLS,
    Split,
    interactions_from_ratings,
    leave_last_out,
    make_split,
    random_split,
    temporal_split,
)

__all__ = [
    "PROTOCOLS",
    "Estimate",
    "EvalData",
    "ModelEvaluation",
    "PairedComparison",
    "Split",
    "evaluate_model",
    "fit_model",
    "interactions_from_ratings",
    "leave_last_out",
    "make_split",
    "mean_ci",
    "paired_comparison",
    "random_split",
    "temporal_split",
]
