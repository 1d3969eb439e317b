"""Datasets on disk, for the ``recsys data`` commands and the offline ones (evaluate, tune,
simulate): fetch, generate, describe, load. (Event log files: ``recsys.service.ingestion``.)"""

from __future__ import annotations

from pathlib import Path

from recsys.data import Dataset, DatasetError, DatasetNotFoundError, detect_layout, load_dataset
from recsys.data.fetch import FetchError, fetch_dataset, is_present, staged_folder
from recsys.data.frames import Interactions
from recsys.data.stats import describe
from recsys.data.synth import generate
from recsys.data.writer import write_dataset
from recsys.evaluation.splits import interactions_from_ratings

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetNotFoundError",
    "FetchError",
    "Interactions",
    "describe",
    "detect_layout",
    "fetch_dataset",
    "generate",
    "is_present",
    "load_dataset",
    "load_interactions",
    "staged_folder",
    "write_dataset",
]


def load_interactions(folder: Path, *, name: str) -> Interactions:
    """The ratings of the dataset in ``folder`` as column arrays (``DatasetError`` if bad)."""
    return interactions_from_ratings(load_dataset(folder, name=name).ratings)
