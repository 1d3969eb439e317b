"""The video seed's SageMaker serving contract: ``GET /ping`` and ``POST /invocations``.

SageMaker sends health checks to ``/ping`` and inference requests to ``/invocations`` on port
8080 (``recsys serve --host 0.0.0.0 --port 8080``); both answer beside the rest of the API.
Users and items are named by their external ids (``"u001"``, ``"v005"``) where they have one.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from recsys.api.deps import RegistryDep, RuntimeDep, ServiceDep, SessionDep
from recsys.api.errors import error_responses
from recsys.api.routing import JsonBodyRoute
from recsys.api.schemas.sagemaker import InvocationIn, InvocationItemOut, InvocationOut, PingOut
from recsys.service.filters import filter_request
from recsys.service.identities import movie_keys, resolve_user
from recsys.service.readiness import check_readiness
from recsys.service.request_context import note_answer, note_user

# JsonBodyRoute: a body that is not JSON (not UTF-8, nested too deep) is a 422, not a 400.
router = APIRouter(tags=["sagemaker"], route_class=JsonBodyRoute)


@router.get(
    "/ping",
    response_model=PingOut,
    responses={503: {"model": PingOut, "description": "Not ready; `reasons` says why."}},
    summary="SageMaker health check",
)
async def ping(
    session: SessionDep, runtime: RuntimeDep, registry: RegistryDep, response: Response
) -> PingOut:
    """200 when the database answers and every configured model is loaded (as `/readyz`), else
    503: SageMaker sends no traffic to an instance that is not ready."""
    readiness = await check_readiness(session, registry, probe=runtime.readiness)
    if not readiness.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return PingOut(status="not ready", reasons=readiness.reasons)
    return PingOut(status="ok", reasons=[])


@router.post(
    "/invocations",
    response_model=InvocationOut,
    responses=error_responses(404, 413, 503),
    summary="SageMaker inference: a user's top-k in external ids",
)
async def invocations(
    body: InvocationIn, runtime: RuntimeDep, session: SessionDep, service: ServiceDep
) -> InvocationOut:
    """The default model's top-k unseen movies for the user, in the seed's shape.

    The same ranking as `/users/{user_id}/recommendations` (events and ratings excluded,
    popularity fallback for users the model cannot score), with the same filters as body
    fields.
    """
    note_user(body.user_id)  # as the client named it (an external id such as "u001")
    user_id = await resolve_user(session, body.user_id)
    filters = filter_request(
        genres=body.genres,
        exclude_genres=body.exclude_genres,
        year_min=body.year_min,
        year_max=body.year_max,
        exclude=body.exclude,
        only=body.only,
        diversify=body.diversify,
    )
    result = await service.recommend(
        session, user_id, model_type=runtime.default_model, k=body.k, filters=filters
    )
    note_answer(model=result.model, version=result.model_version, fallback=result.fallback)
    keys = await movie_keys(session, [movie.id for movie in result.movies])
    return InvocationOut(
        userId=body.user_id,
        recommendations=[
            InvocationItemOut(videoId=key, score=movie.score)
            for key, movie in zip(keys, result.movies, strict=True)
        ],
    )
