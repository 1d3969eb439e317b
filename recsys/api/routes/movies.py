"""``/movies/{movie_id}`` and the movies a model finds similar to it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from recsys.api.deps import RuntimeDep, ServiceDep, SessionDep
from recsys.api.errors import error_responses
from recsys.api.routes._params import K, ModelName, MovieId, filter_parameters
from recsys.api.schemas.common import MovieOut
from recsys.api.schemas.movies import SimilarMoviesOut
from recsys.service.catalog import Movie
from recsys.service.filters import parse_filter_query
from recsys.service.recommend import SimilarMovies
from recsys.service.request_context import note_answer

router = APIRouter(prefix="/movies", tags=["movies"])


@router.get(
    "/{movie_id}",
    response_model=MovieOut,
    responses=error_responses(404),
    summary="One movie",
)
async def movie(movie_id: MovieId, session: SessionDep, service: ServiceDep) -> Movie:
    """Title, year and genres of a movie."""
    return await service.movie(session, movie_id)


@router.get(
    "/{movie_id}/similar",
    response_model=SimilarMoviesOut,
    responses=error_responses(404, 503),
    summary="Movies similar to one movie",
    openapi_extra=filter_parameters(),
)
async def similar(
    movie_id: MovieId,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    service: ServiceDep,
    k: K = 10,
    model: ModelName = None,
) -> SimilarMovies:
    """The k nearest movies by item_knn's neighbourhoods or ALS's item factors (cosine),
    among those the filters allow (the same filters as a user's recommendations)."""
    result = await service.similar(
        session,
        movie_id,
        model_type=model or runtime.default_model,
        k=k,
        filters=parse_filter_query(request.query_params),
    )
    note_answer(model=result.model, version=result.model_version)
    return result
