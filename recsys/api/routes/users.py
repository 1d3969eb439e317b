"""``/users/{user_id}/...``: recommendations and rating history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from recsys.api import encoding
from recsys.api.deps import ServiceDep, SessionDep
from recsys.api.errors import error_responses
from recsys.api.routes._params import K, ModelName, UserId, filter_parameters
from recsys.api.schemas.common import RATINGS_LIMIT_MAX
from recsys.api.schemas.users import RecommendationsOut, UserRatingsOut
from recsys.service.filters import parse_filter_query
from recsys.service.recommend import UserRatings
from recsys.service.request_context import note_answer, note_user
from recsys.service.runtime import Runtime

router = APIRouter(prefix="/users", tags=["users"])


@router.get(
    "/{user_id}/recommendations",
    response_model=RecommendationsOut,
    responses=error_responses(404, 503),
    summary="A user's top-k unrated movies",
    openapi_extra=filter_parameters(),
)
async def recommendations(
    user_id: UserId,
    request: Request,
    k: K = 10,
    model: ModelName = None,
) -> Response:
    """Best-first movies the user has not rated (ratings added after training included).

    A user the model never saw and whose ratings it cannot use gets the popularity model's
    answer with `"fallback": true`. Filters restrict the ranking before the top-k cut, so the
    answer has k movies whenever k are eligible (`eligible` says how many the filters leave);
    `diversify` re-ranks for genre variety.
    """
    # The hot path: no dependency to solve, a session that connects only if the history or a
    # title is not in memory, and the answer encoded once (recsys.api.encoding).
    runtime: Runtime = request.state.recsys
    note_user(user_id)
    filters = parse_filter_query(request.query_params)
    result = await runtime.service.recommend(
        runtime.read_sessions,
        user_id,
        model_type=model or runtime.default_model,
        k=k,
        filters=filters,
    )
    note_answer(model=result.model, version=result.model_version, fallback=result.fallback)
    return encoding.recommendations(result)


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
    note_user(user_id)
    return await service.ratings(session, user_id, limit=limit)
