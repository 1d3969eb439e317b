"""Catalogue writes: ``POST /movies``, ``PUT /movies/{movie_id}``, ``DELETE /movies/{movie_id}``.

Write token as for events. Committed before the answer; this worker then serves the new
catalogue at once, the others within RECSYS_CATALOG_POLL_SECONDS (recsys.service.catalog_state).
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from recsys.api.auth import WriteAuth
from recsys.api.deps import RuntimeDep, WriteSessionDep
from recsys.api.errors import error_responses
from recsys.api.routes._params import MovieId
from recsys.api.routing import WriteRoute
from recsys.api.schemas.catalog import MovieIn
from recsys.api.schemas.common import MovieOut
from recsys.service.catalog import Movie
from recsys.service.catalog_writes import create_movie, delete_movie, update_movie
from recsys.service.runtime import Runtime

router = APIRouter(
    prefix="/movies", tags=["catalogue"], dependencies=[WriteAuth], route_class=WriteRoute
)

_SEEN = (
    "This worker's next request sees the change; every other worker and pod within "
    "RECSYS_CATALOG_POLL_SECONDS (default 2 s)."
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MovieOut,
    responses=error_responses(401, 403, 409, 413),
    summary="Add a movie to the catalogue",
    description="A new movie gets the next free id. With no interactions yet it is "
    "recommended in the explore slots (`reason`: `new in the catalogue`) and has similar "
    f"movies by content (genres, year, title words). 409: the external id is taken. {_SEEN}",
)
async def post_movie(body: MovieIn, runtime: RuntimeDep, session: WriteSessionDep) -> Movie:
    """Create a movie."""
    movie_id = await create_movie(session, body.fields())
    return await _committed(runtime, session, movie_id, body)


@router.put(
    "/{movie_id}",
    response_model=MovieOut,
    responses=error_responses(401, 403, 404, 409, 413),
    summary="Replace a movie's title, year, genres and external id",
    description=f"404 for an unknown or deleted movie; 409: the external id is taken. {_SEEN}",
)
async def put_movie(
    movie_id: MovieId, body: MovieIn, runtime: RuntimeDep, session: WriteSessionDep
) -> Movie:
    """Update a movie."""
    await update_movie(session, movie_id, body.fields())
    return await _committed(runtime, session, movie_id, body)


@router.delete(
    "/{movie_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
    summary="Soft-delete a movie",
    description="Never recommended or returned as similar again; its ratings and events stay "
    f"(users' histories are kept), and `GET /movies/{{movie_id}}` still finds it. 404 for an "
    f"unknown or already deleted movie. {_SEEN}",
)
async def delete(movie_id: MovieId, runtime: RuntimeDep, session: WriteSessionDep) -> Response:
    """Soft-delete a movie."""
    await delete_movie(session, movie_id)
    await session.commit()
    await runtime.sync_catalog()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _committed(
    runtime: Runtime, session: WriteSessionDep, movie_id: int, body: MovieIn
) -> Movie:
    await session.commit()
    await runtime.sync_catalog()
    return Movie(movie_id, body.title, body.year, tuple(body.genres))
