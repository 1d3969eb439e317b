"""The page routes: home, a user, a movie, the models; HTML, outside the OpenAPI document.

Every page reads through the service layer as the JSON routes do. A domain error becomes a
readable page with the API's status and the same words as the API's ``detail``; a bad id in
the URL is a 422 page that names it, never FastAPI's JSON or a stack trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.api.errors import status_of
from recsys.api.pages.rendering import path_for, render
from recsys.api.schemas.common import ID_MAX, ID_MIN
from recsys.service import browse
from recsys.service.errors import ServiceError
from recsys.service.filters import (
    QUERY_PARAMS,
    FilterRequest,
    InvalidFilterError,
    parse_filter_query,
)
from recsys.service.recommend import Recommendations, SimilarMovies
from recsys.service.runtime import Runtime

router = APIRouter(include_in_schema=False)

# What a page shows: a top-10 per model, the latest 20 things the user did.
TOP_K = 10
HISTORY_LIMIT = 20
GENRE_FIELDS = ("genres", "exclude_genres")


class PageError(Exception):
    """A request the page cannot answer: shown as an error page with ``status``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Column:
    """One model's answer on a page, or why there is none."""

    model_type: str
    result: Recommendations | SimilarMovies | None = None
    error: str | None = None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.state.recsys
    return runtime


def _parse_id(raw: str, what: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise PageError(422, f"{what} must be a whole number, got {raw[:40]!r}") from None
    if not ID_MIN <= value <= ID_MAX:
        raise PageError(422, f"{what} must be between {ID_MIN} and {ID_MAX}, got {value}")
    return value


async def _page(
    request: Request, title: str, build: Callable[[Runtime], Awaitable[Response]]
) -> Response:
    """``build``'s page, or the error page for what it raised (the API's status and words)."""
    runtime = _runtime(request)
    try:
        return await build(runtime)
    except PageError as exc:
        return _error(request, runtime, title, exc.status, exc.detail)
    except ServiceError as exc:
        return _error(request, runtime, title, status_of(exc), str(exc))
    except Exception as exc:
        lost = runtime.database.translate(exc)  # a lost database: 503, as the API answers
        if lost is None:
            raise
        return _error(request, runtime, title, status_of(lost), str(lost))


def _error(request: Request, runtime: Runtime, title: str, status: int, detail: str) -> Response:
    return render(
        request,
        "error.html",
        {**_common(runtime), "title": title, "status": status, "detail": detail},
        status_code=status,
    )


def _common(runtime: Runtime) -> dict[str, Any]:
    return {"default_model": runtime.default_model}


@router.get("/", name="home")
async def home(request: Request) -> Response:
    """Pick a user by id, or a random one."""

    async def build(runtime: Runtime) -> Response:
        service = runtime.service
        return render(
            request,
            "home.html",
            {
                **_common(runtime),
                "models": service.model_types,
                "missing": dict(runtime.registry.missing),
                "dataset": runtime.settings.dataset,
            },
        )

    return await _page(request, "recsys", build)


@router.get("/ui/users", name="pick_user")
async def pick_user(request: Request, user_id: str = "") -> Response:
    """The home page's form (works without JavaScript): redirect to that user's page."""

    async def build(_runtime: Runtime) -> Response:
        chosen = _parse_id(user_id, "user id")
        return RedirectResponse(path_for(request, "user_page", user_id=chosen), 303)

    return await _page(request, "Pick a user", build)


@router.get("/ui/users/random", name="random_user")
async def random_user(request: Request) -> Response:
    """A user some loaded model was trained on."""

    async def build(runtime: Runtime) -> Response:
        chosen = browse.random_user(runtime.service)
        if chosen is None:
            raise PageError(503, "no model is loaded, so there is no user to pick at random")
        return RedirectResponse(path_for(request, "user_page", user_id=chosen), 303)

    return await _page(request, "Random user", build)


@router.get("/ui/users/{user_id}", name="user_page")
async def user_page(request: Request, user_id: str) -> Response:
    """A user's latest history beside each configured model's top 10."""

    async def build(runtime: Runtime) -> Response:
        uid = _parse_id(user_id, "user id")
        form = _filter_form(request)
        try:
            filters = parse_filter_query(form)
        except InvalidFilterError as exc:
            raise PageError(422, str(exc)) from None
        async with runtime.read_sessions() as session:
            activity = await browse.user_activity(
                runtime.service, session, uid, limit=HISTORY_LIMIT
            )
            eligibility = await runtime.service.catalog.eligibility(lambda: _same(session))
        columns = [await _recommendations(runtime, uid, m, filters) for m in _model_order(runtime)]
        weights = runtime.weights.configured
        return render(
            request,
            "user.html",
            {
                **_common(runtime),
                "title": f"User {uid}",
                "user_id": uid,
                "activity": activity,
                "columns": columns,
                "k": TOP_K,
                "writes_on": runtime.settings.api_write_token is not None,
                # The filter form: the catalogue's genres, and what this request asked for.
                "known_genres": eligibility.genre_names,
                "form": form,
                "chosen": {name: form.get(name, "").split(",") for name in GENRE_FIELDS},
                # The buttons, lightest event first (watch, like, complete by default), then
                # the negative ones (dislike): feedback against the movie comes last.
                "event_types": sorted(weights, key=lambda t: (weights[t] < 0, abs(weights[t]), t)),
            },
        )

    return await _page(request, f"User {user_id}", build)


@router.get("/ui/movies/{movie_id}", name="movie_page")
async def movie_page(request: Request, movie_id: str) -> Response:
    """A movie, its rating count and its similar movies per model."""

    async def build(runtime: Runtime) -> Response:
        mid = _parse_id(movie_id, "movie id")
        service = runtime.service
        async with runtime.read_sessions() as session:
            movie = await service.movie(session, mid)
            counts = await browse.movie_counts(session, mid)
            columns = []
            for model_type in _model_order(runtime):
                loaded = service.models.get(model_type)
                if loaded is not None and not loaded.model.personalised:
                    # Popularity and random rank every movie alike: nothing to compare.
                    continue
                try:
                    similar = await service.similar(session, mid, model_type=model_type, k=TOP_K)
                except ServiceError as exc:
                    columns.append(Column(model_type, error=str(exc)))
                else:
                    columns.append(Column(model_type, result=similar))
        return render(
            request,
            "movie.html",
            {
                **_common(runtime),
                "title": movie.title,
                "movie": movie,
                "counts": counts,
                "columns": columns,
                "k": TOP_K,
            },
        )

    return await _page(request, f"Movie {movie_id}", build)


@router.get("/ui/models", name="models_page")
async def models_page(request: Request) -> Response:
    """Every configured model: version, training data, parameters, stored versions, and the
    offline metrics and plots of the dataset's latest evaluation report."""

    async def build(runtime: Runtime) -> Response:
        settings = runtime.settings
        # Manifests may live in a bucket and reports on disk: both off the event loop.
        overview = await anyio.to_thread.run_sync(
            browse.model_overview, runtime.registry, settings.artifact_uri
        )
        report = await anyio.to_thread.run_sync(
            browse.latest_report, settings.reports_dir, settings.dataset
        )
        return render(
            request,
            "models.html",
            {
                **_common(runtime),
                "title": "Models",
                "overview": overview,
                "report": report,
                "dataset": settings.dataset,
                "artifact_uri": settings.artifact_uri,
            },
        )

    return await _page(request, "Models", build)


@router.get("/ui/reports/{folder}/{name}", name="report_plot")
async def report_plot(request: Request, folder: str, name: str) -> Response:
    """A plot (PNG) of an evaluation report under RECSYS_REPORTS_DIR."""

    async def build(runtime: Runtime) -> Response:
        path = browse.report_plot(runtime.settings.reports_dir, folder, name)
        if path is None:
            raise PageError(404, f"no plot {folder}/{name} in the reports")
        return FileResponse(path, media_type="image/png")

    return await _page(request, "Plot", build)


def _model_order(runtime: Runtime) -> list[str]:
    # The default model first, then the configured order: the column a person reads first is
    # the one the API answers with.
    configured = list(runtime.registry.configured)
    default = runtime.default_model
    return sorted(configured, key=lambda m: (m != default, configured.index(m)))


def _filter_form(request: Request) -> dict[str, str]:
    # The filter form's fields as the API's query values: a multiple select sends a genre per
    # repeated name (joined with commas here), and empty fields mean "not given".
    out = {}
    for name in QUERY_PARAMS:
        values = [v.strip() for v in request.query_params.getlist(name) if v.strip()]
        if values:
            out[name] = ",".join(values)
    return out


async def _same(session: AsyncSession) -> AsyncSession:
    return session


async def _recommendations(
    runtime: Runtime, user_id: int, model_type: str, filters: FilterRequest | None = None
) -> Column:
    try:
        result = await runtime.service.recommend(
            runtime.read_sessions, user_id, model_type=model_type, k=TOP_K, filters=filters
        )
    except ServiceError as exc:  # not loaded, no fallback: the column says why
        return Column(model_type, error=str(exc))
    return Column(model_type, result=result)
