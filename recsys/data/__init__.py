"""Dataset sources: MovieLens layouts, RecBole atomic files and synthetic data -> ``Dataset``."""

from __future__ import annotations

from recsys.data.frames import (
    Dataset,
    DatasetError,
    DatasetNotFoundError,
    Interactions,
    SourceRef,
)
from recsys.data.loader import Layout, detect_layout, load_dataset

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetNotFoundError",
    "Interactions",
    "Layout",
    "SourceRef",
    "detect_layout",
    "load_dataset",
]
