"""What ``recsys evaluate`` runs: a dataset's split, every model fitted and scored, the report."""

from __future__ import annotations

from pathlib import Path

from recsys.data import load_dataset
from recsys.data.frames import Interactions
from recsys.evaluation.experiment import run_evaluation
from recsys.evaluation.metrics import metric_label
from recsys.evaluation.report import EvaluationReport, write_report
from recsys.evaluation.splits import interactions_from_ratings, item_attributes
from recsys.modeling.items import ItemAttributes

__all__ = [
    "EvaluationReport",
    "load_for_evaluation",
    "metric_label",
    "run_evaluation",
    "write_report",
]


def load_for_evaluation(folder: Path, *, name: str) -> tuple[Interactions, ItemAttributes]:
    """The dataset's ratings as column arrays and its movies' years and genres."""
    data = load_dataset(folder, name=name)
    return interactions_from_ratings(data.ratings), item_attributes(data.movies)
