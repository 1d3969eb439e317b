"""Path and query parameters the routers share (same bounds and documentation everywhere)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from recsys.api.schemas.common import ID_MAX, ID_MIN, K_MAX, StorableStr

UserId = Annotated[int, Path(ge=ID_MIN, le=ID_MAX, description="User id.", examples=[1])]
MovieId = Annotated[int, Path(ge=ID_MIN, le=ID_MAX, description="Movie id.", examples=[50])]
K = Annotated[int, Query(ge=1, le=K_MAX, description=f"How many movies, 1..{K_MAX}.")]
ModelName = Annotated[
    StorableStr | None,
    Query(
        description="Model type to answer with (default: RECSYS_DEFAULT_MODEL). A type the "
        "service does not load is a 422 that lists the loaded ones; a configured type whose "
        "artifact is missing is a 503.",
        examples=["als"],
    ),
]
