"""Every model type by name, and where its class lives: imported only when it is asked for.

The names cost nothing to read (``recsys --help``, settings validation); ``model_class`` imports
one model's module, so ``recsys train -m als`` loads implicit and not LightGBM. Adding a model
type is one module and one line here.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from recsys.modeling.base import Recommender

# model type -> "module:ClassName", in registration order.
_CLASS_PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "als": "recsys.modeling.als:ALSRecommender",
        "bpr": "recsys.modeling.bpr:BPRRecommender",
        "cooccurrence": "recsys.modeling.cooccurrence:CooccurrenceRecommender",
        "ease": "recsys.modeling.ease:EASERecommender",
        "item_knn": "recsys.modeling.item_knn:ItemKNNRecommender",
        "popularity": "recsys.modeling.popularity:PopularityRecommender",
        "random": "recsys.modeling.random_baseline:RandomRecommender",
        "recent_knn": "recsys.modeling.candidates.recent_knn:RecentKNNRecommender",
        "recent_popularity": (
            "recsys.modeling.candidates.recent_popularity:RecentPopularityRecommender"
        ),
        "sasrec": "recsys.modeling.sasrec.model:SASRecRecommender",
        "svd": "recsys.modeling.svd:SVDRecommender",
        "transitions": "recsys.modeling.candidates.transitions:TransitionsRecommender",
        "two_stage": "recsys.modeling.two_stage.model:TwoStageRecommender",
    }
)

MODEL_TYPES: Final[tuple[str, ...]] = tuple(_CLASS_PATHS)

# model type -> (the optional package it needs to train, what to install). The default install
# stays light: PyTorch is several hundred MB even as the CPU build (README, "sasrec and PyTorch").
_OPTIONAL_PACKAGES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "sasrec": (
            "torch",
            "sasrec needs PyTorch to train (serving a trained one does not): install the CPU "
            "build into the project's environment, e.g. `uv pip install torch` from PyTorch's "
            "CPU wheel index (README, 'sasrec and PyTorch')",
        ),
    }
)


def missing_package(model_type: str) -> str | None:
    """What to install before ``model_type`` can be trained, or None (imports nothing)."""
    needed = _OPTIONAL_PACKAGES.get(model_type)
    if needed is None or importlib.util.find_spec(needed[0]) is not None:
        return None
    return needed[1]


def trainable_model_types() -> tuple[str, ...]:
    """``MODEL_TYPES`` minus those whose optional package is not installed."""
    return tuple(name for name in MODEL_TYPES if missing_package(name) is None)


class UnknownModelTypeError(ValueError):
    """A model type name that is not registered; the message lists the known ones."""

    def __init__(self, model_type: str) -> None:
        self.model_type = model_type
        super().__init__(
            f"unknown model type {model_type!r}; choose one of {', '.join(sorted(MODEL_TYPES))}"
        )


def check_model_type(model_type: str) -> str:
    """``model_type`` if registered, else ``UnknownModelTypeError`` (imports no model)."""
    if model_type not in _CLASS_PATHS:
        raise UnknownModelTypeError(model_type)
    return model_type


def model_class(model_type: str) -> type[Recommender[Any]]:
    """The class registered for ``model_type`` (importing its module); ``ValueError`` if none."""
    module_name, _, class_name = _CLASS_PATHS[check_model_type(model_type)].partition(":")
    cls: type[Recommender[Any]] = getattr(importlib.import_module(module_name), class_name)
    return cls


def create_model(model_type: str, params: dict[str, Any] | None = None) -> Recommender[Any]:
    """An unfitted model of ``model_type`` with validated ``params`` (defaults when omitted)."""
    cls = model_class(model_type)
    return cls(cls.params_type.from_dict(params or {}))
