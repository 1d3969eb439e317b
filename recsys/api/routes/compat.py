"""The VideoRec seed's route, kept so its clients keep working: ids and scores only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from recsys.api.deps import RuntimeDep, ServiceDep, SessionDep
from recsys.api.errors import error_responses
from recsys.api.routes._params import UserId
from recsys.api.schemas.common import K_MAX
from recsys.api.schemas.compat import SeedItemOut, SeedRecommendationsOut
from recsys.service.request_context import note_answer, note_user

router = APIRouter(tags=["compatibility"])


@router.get(
    "/recommend/{user_id}",
    response_model=SeedRecommendationsOut,
    responses=error_responses(404, 503),
    summary="Top-k for a user in the VideoRec seed's shape",
)
async def recommend(
    user_id: UserId,
    runtime: RuntimeDep,
    session: SessionDep,
    service: ServiceDep,
    topk: Annotated[int, Query(ge=1, le=K_MAX, description=f"How many items, 1..{K_MAX}.")] = 10,
) -> SeedRecommendationsOut:
    """Same answer as `/users/{user_id}/recommendations` with the default model."""
    note_user(user_id)
    result = await service.recommend(session, user_id, model_type=runtime.default_model, k=topk)
    note_answer(model=result.model, version=result.model_version, fallback=result.fallback)
    return SeedRecommendationsOut(
        user_id=result.user_id,
        recommendations=[SeedItemOut(item_id=m.id, score=m.score) for m in result.movies],
    )
