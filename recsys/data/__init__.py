"""Dataset sources: MovieLens layouts, RecBole atomic files and synthetic data -> ``Dataset``.

The loaders (pandas) are imported on first use of ``load_dataset`` / ``detect_layout`` /
``Layout``, so that importing ``recsys.data.frames`` for ``Interactions`` (the training job,
the API) does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from recsys.data.frames import (
    Dataset,
    DatasetError,
    DatasetNotFoundError,
    Interactions,
    SourceRef,
)

if TYPE_CHECKING:
    from recsys.data.loader import Layout, detect_layout, load_dataset

_LAZY = {"Layout", "detect_layout", "load_dataset"}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("recsys.data.loader"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
