"""Path and query parameters the routers share (same bounds and documentation everywhere)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from recsys.api.schemas.common import ID_MAX, ID_MIN, K_MAX, StorableStr
from recsys.service.choices import MODEL_TYPES

UserId = Annotated[int, Path(ge=ID_MIN, le=ID_MAX, description="User id.", examples=[1])]
MovieId = Annotated[int, Path(ge=ID_MIN, le=ID_MAX, description="Movie id.", examples=[50])]
K = Annotated[int, Query(ge=1, le=K_MAX, description=f"How many movies, 1..{K_MAX}.")]

# Every registered model type, the same on every pod whatever it loads: which of them a pod
# serves is a runtime fact (RECSYS_MODELS, artifacts present), answered per request.
MODEL_TYPE_NAMES = tuple(sorted(MODEL_TYPES))


def _registered(value: str) -> str:
    if value not in MODEL_TYPES:
        raise PydanticCustomError(
            "enum",
            "Input should be a model type: {expected}",
            {"expected": ", ".join(MODEL_TYPE_NAMES)},
        )
    return value


ModelType = Annotated[
    StorableStr,
    AfterValidator(_registered),
    WithJsonSchema({"type": "string", "enum": list(MODEL_TYPE_NAMES)}),
]
"""A registered model type (OpenAPI: an enum); anything else is a 422 ``enum`` listing them."""

ModelName = Annotated[
    ModelType | None,
    Query(
        description="Model type to answer with (default: RECSYS_DEFAULT_MODEL): one of the "
        "registered types. A type that is not registered is a 422 listing them; a registered "
        "type this service does not load (not in RECSYS_MODELS) is a 422 listing the loaded "
        "ones; a configured type whose artifact is missing is a 503.",
        examples=["als"],
    ),
]
