"""What ``recsys tune`` runs: the hyper-parameter search and the names its report shows."""

from __future__ import annotations

from recsys.evaluation.report import format_estimate, metric_label
from recsys.evaluation.tuning import Trial, TuningResult, run_tuning, search_space

__all__ = ["Trial", "TuningResult", "format_estimate", "metric_label", "run_tuning", "search_space"]
