"""Models and their artifacts; nothing here imports the database or FastAPI."""

from recsys.modeling.base import PAD_ID, History, Recommender
from recsys.modeling.dataset import InteractionMatrix, Weighting, build_matrix
from recsys.modeling.registry import MODEL_TYPES, create_model, model_class

__all__ = [
    "MODEL_TYPES",
    "PAD_ID",
    "History",
    "InteractionMatrix",
    "Recommender",
    "Weighting",
    "build_matrix",
    "create_model",
    "model_class",
]
