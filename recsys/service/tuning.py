"""What ``recsys tune`` runs: the hyper-parameter search and the names its report shows."""

from __future__ import annotations

from recsys.evaluation.metrics import metric_label
from recsys.evaluation.statistics import format_estimate
from recsys.evaluation.tuning import search_space
from recsys.evaluation.tuning_results import Trial, TuningResult
from recsys.evaluation.tuning_run import run_tuning

__all__ = ["Trial", "TuningResult", "format_estimate", "metric_label", "run_tuning", "search_space"]
