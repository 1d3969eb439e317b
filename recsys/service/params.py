"""Model parameters checked the way training will read them (imports the model's module)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recsys.modeling.registry import model_class


def check_params(model_type: str, params: Mapping[str, Any]) -> None:
    """``TypeError`` / ``ValueError`` naming the first bad parameter of ``model_type``."""
    model_class(model_type).params_type.from_dict(dict(params))
