"""Path and query parameters the routers share (same bounds and documentation everywhere)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from recsys.api.schemas.common import ID_MAX, ID_MIN, K_MAX, ModelType

UserId = Annotated[int, Path(ge=ID_MIN, le=ID_MAX, description="User id.", examples=[1])]
MovieId = Annotated[int, Path(ge=ID_MIN, le=ID_MAX, description="Movie id.", examples=[50])]
K = Annotated[int, Query(ge=1, le=K_MAX, description=f"How many movies, 1..{K_MAX}.")]

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
