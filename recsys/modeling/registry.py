"""Every model type by name, and where its class lives: imported only when it is asked for.

The names cost nothing to read (``recsys --help``, settings validation); ``model_class`` imports
one model's module, so ``recsys train -m als`` loads implicit and not LightGBM. Adding a model
type is one module and one line here.
"""

from __future__ import annotations

import importlib
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
        "svd": "recsys.modeling.svd:SVDRecommender",
        "transitions": "recsys.modeling.candidates.transitions:TransitionsRecommender",
        "two_stage": "recsys.modeling.two_stage.model:TwoStageRecommender",
    }
)

MODEL_TYPES: Final[tuple[str, ...]] = tuple(_CLASS_PATHS)


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
