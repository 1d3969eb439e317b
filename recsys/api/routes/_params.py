"""Path and query parameters the routers share (same bounds and documentation everywhere)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from recsys.api.schemas.common import ID_MAX, ID_MIN, K_MAX, ModelType
from recsys.service.filters import MAX_IDS, YEAR_MAX, YEAR_MIN

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


def filter_parameters(*, diversify: bool = True) -> dict[str, Any]:
    """``openapi_extra`` documenting the filter query parameters (recsys.service.filters).

    The routes read them from ``request.query_params`` with ``parse_filter_query`` rather than
    as FastAPI parameters: the unfiltered request (the hot path) then pays one membership test
    instead of seven parameters solved, and any other parser of the query string calls the
    same function.
    """
    ids = (
        f"Comma-separated movie ids or external ids, at most {MAX_IDS}; "
        "an id that names no movie is a 422."
    )
    params: list[dict[str, Any]] = [
        _query(
            "genres",
            "Only movies with any of these genres (comma-separated, as the catalogue spells "
            "them; an unknown genre is a 422 listing the known ones).",
            {"type": "string"},
            "Comedy,Drama",
        ),
        _query(
            "exclude_genres",
            "No movie with any of these genres (comma-separated).",
            {"type": "string"},
            "Horror",
        ),
        _query(
            "year_min",
            f"Only movies released in this year or later ({YEAR_MIN}..{YEAR_MAX}); movies "
            "without a year are left out. year_min after year_max is a 422.",
            {"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX},
            1990,
        ),
        _query(
            "year_max",
            f"Only movies released in this year or earlier ({YEAR_MIN}..{YEAR_MAX}).",
            {"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX},
            1999,
        ),
        _query("exclude", f"Never these movies. {ids}", {"type": "string"}, "50,172"),
        _query("only", f"Only these movies (an allow-list). {ids}", {"type": "string"}, "1,50"),
    ]
    if diversify:
        params.append(
            _query(
                "diversify",
                "0..1: re-rank the model's best 4k candidates by maximal marginal relevance "
                "over genres (0, the default, keeps the model's order; 1 picks by genre "
                "novelty alone).",
                {"type": "number", "minimum": 0, "maximum": 1},
                0.3,
            )
        )
    return {"parameters": params}


def _query(name: str, description: str, schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {**schema, "examples": [example]},
    }
