"""Every model type by name: what ``recsys train --model-type`` and the artifact loader accept."""

from __future__ import annotations

from typing import Any

from recsys.modeling.als import ALSRecommender
from recsys.modeling.base import Recommender
from recsys.modeling.bpr import BPRRecommender
from recsys.modeling.candidates.recent_knn import RecentKNNRecommender
from recsys.modeling.candidates.recent_popularity import RecentPopularityRecommender
from recsys.modeling.candidates.transitions import TransitionsRecommender
from recsys.modeling.cooccurrence import CooccurrenceRecommender
from recsys.modeling.ease import EASERecommender
from recsys.modeling.item_knn import ItemKNNRecommender
from recsys.modeling.popularity import PopularityRecommender
from recsys.modeling.random_baseline import RandomRecommender
from recsys.modeling.svd import SVDRecommender
from recsys.modeling.two_stage.model import TwoStageRecommender

MODEL_TYPES: dict[str, type[Recommender[Any]]] = {
    cls.model_type: cls
    for cls in (
        ALSRecommender,
        BPRRecommender,
        CooccurrenceRecommender,
        EASERecommender,
        ItemKNNRecommender,
        PopularityRecommender,
        RandomRecommender,
        RecentKNNRecommender,
        RecentPopularityRecommender,
        SVDRecommender,
        TransitionsRecommender,
        TwoStageRecommender,
    )
}


def model_class(model_type: str) -> type[Recommender[Any]]:
    """The class registered for ``model_type``; ``ValueError`` lists the known ones."""
    try:
        return MODEL_TYPES[model_type]
    except KeyError:
        raise ValueError(
            f"unknown model type {model_type!r}; choose one of {', '.join(sorted(MODEL_TYPES))}"
        ) from None


def create_model(model_type: str, params: dict[str, Any] | None = None) -> Recommender[Any]:
    """An unfitted model of ``model_type`` with validated ``params`` (defaults when omitted)."""
    cls = model_class(model_type)
    return cls(cls.params_type.from_dict(params or {}))
