"""``/users/{user_id}/...``: recommendations and rating history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from recsys.api.deps import RuntimeDep, ServiceDep, SessionDep
from recsys.api.errors import error_responses
from recsys.api.routes._params import K, ModelName, UserId
from recsys.api.schemas.common import RATINGS_LIMIT_MAX
from recsys.api.schemas.users import RecommendationsOut, UserRatingsOut
from recsys.service.recommend import Recommendations, UserRatings

router = APIRouter(prefix="/users", tags=["users"])


@router.get(
    "/{user_id}/recommendations",
    response_model=RecommendationsOut,
    responses=error_responses(404, 503),
    summary="A user's top-k unrated movies",
)
async def recommendations(
    user_id: UserId,
    runtime: RuntimeDep,
    session: SessionDep,
    service: ServiceDep,
    k: K = 10,
    model: ModelName = None,
) -> Recommendations:
    """Best-first movies the user has not rated (ratings added after training included).

    A user the model never saw and whose ratings it cannot use gets the popularity model's
    answer with `"fallback": true`.
    """
    return await service.recommend(session, user_id, model_type=model or runtime.default_model, k=k)


@router.get(
    "/{user_id}/ratings",
    response_model=UserRatingsOut,
    responses=error_responses(404),
    summary="A user's rating history",
)
async def ratings(
    user_id: UserId,
    session: SessionDep,
    service: ServiceDep,
    limit: Annotated[
        int, Query(ge=1, le=RATINGS_LIMIT_MAX, description=f"At most 1..{RATINGS_LIMIT_MAX}.")
    ] = 20,
) -> UserRatings:
    """The user's latest ratings, newest first, with titles and genres."""
    return await service.ratings(session, user_id, limit=limit)
