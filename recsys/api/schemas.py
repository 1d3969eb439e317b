"""Response bodies of the HTTP API (pydantic), with the examples OpenAPI shows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

# Ids are int4 in the database: bounds checked at the edge turn a huge id into a 422, not a 500.
ID_MIN, ID_MAX = -(2**31), 2**31 - 1
K_MAX = 100
RATINGS_LIMIT_MAX = 1_000

_STAR_WARS: dict[str, JsonValue] = {
    "id": 50,
    "title": "Star Wars",
    "genres": ["Action", "Adventure"],
    "year": 1977,
}


class _Out(BaseModel):
    # Built from the service's frozen dataclasses by attribute; never mutated afterwards.
    model_config = ConfigDict(from_attributes=True, frozen=True)


class MovieOut(_Out):
    """A catalogue entry."""

    model_config = ConfigDict(json_schema_extra={"examples": [_STAR_WARS]})

    id: int = Field(description="Movie id.")
    title: str = Field(description="Title without the year.")
    genres: list[str] = Field(description="Genre names, possibly empty.")
    year: int | None = Field(description="Release year, when known.")


class ScoredMovieOut(MovieOut):
    """A recommended movie and the model's score for it (higher is better)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**_STAR_WARS, "score": 1.2031}]})

    score: float = Field(description="Model score; only the order is meaningful across models.")


class RecommendationsOut(_Out):
    """A user's top-k unrated movies, best first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": 1,
                    "model": "als",
                    "model_version": "20261123T121314.123456Z-1a2b3c",
                    "fallback": False,
                    "movies": [{**_STAR_WARS, "score": 1.2031}],
                }
            ]
        }
    )

    user_id: int
    model: str = Field(description="Model that answered: popularity when `fallback` is true.")
    model_version: str = Field(description="Artifact version of that model.")
    fallback: bool = Field(
        description="True when the requested model had nothing to go on for this user and the "
        "popularity model answered instead."
    )
    movies: list[ScoredMovieOut]


class SimilarMoviesOut(_Out):
    """The movies a model finds closest to one movie, best first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "movie": _STAR_WARS,
                    "model": "item_knn",
                    "model_version": "20261123T121314.123456Z-1a2b3c",
                    "movies": [
                        {
                            "id": 172,
                            "title": "Empire Strikes Back, The",
                            "genres": ["Action", "Adventure", "Drama", "Romance", "Sci-Fi", "War"],
                            "year": 1980,
                            "score": 0.8841,
                        }
                    ],
                }
            ]
        }
    )

    movie: MovieOut
    model: str
    model_version: str
    movies: list[ScoredMovieOut] = Field(
        description="Empty when the model never saw the movie (nobody had rated it)."
    )


class RatedMovieOut(MovieOut):
    """One rating of a user's history."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_STAR_WARS, "rating": 5.0, "rated_at": "1997-09-22T22:02:38Z"}]
        }
    )

    rating: float
    rated_at: datetime


class UserRatingsOut(_Out):
    """A user's ratings, newest first."""

    user_id: int
    ratings: list[RatedMovieOut]


class SeedItemOut(_Out):
    """One item of the VideoRec seed's answer."""

    item_id: int
    score: float


class SeedRecommendationsOut(_Out):
    """The VideoRec seed's response shape: ids and scores only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"user_id": 1, "recommendations": [{"item_id": 50, "score": 1.2031}]}]
        }
    )

    user_id: int
    recommendations: list[SeedItemOut]


class HealthOut(_Out):
    """Liveness: the process answers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str = "ok"


class ModelStatusOut(_Out):
    """One configured model type: its loaded version, or why it is not loaded."""

    loaded: bool
    version: str | None = None
    error: str | None = None
    refused: str | None = Field(
        default=None,
        description="A newer LATEST that a hot reload refused, and why (the loaded one serves).",
    )


class ReadinessOut(_Out):
    """Readiness: the database answers and every configured model is loaded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ready": False,
                    "database": "ok",
                    "models": {
                        "als": {"loaded": True, "version": "20261123T121314.123456Z-1a2b3c"},
                        "item_knn": {
                            "loaded": False,
                            "error": "no trained 'item_knn' model in file:///srv/artifacts",
                        },
                    },
                    "reasons": ["model item_knn: no trained 'item_knn' model in ..."],
                }
            ]
        }
    )

    ready: bool
    database: str = Field(description="`ok`, or what went wrong reaching it.")
    models: dict[str, ModelStatusOut]
    reasons: list[str] = Field(description="Why the service is not ready (empty when ready).")


_VERSION = "20261123T121314.123456Z-1a2b3c"
_NEW_VERSION = "20261124T080000.000000Z-4d5e6f"


class ModelReloadOut(_Out):
    """What a reload did for one configured model type."""

    status: Literal["loaded", "unchanged", "refused", "failed"] = Field(
        description="`loaded`: a new version serves; `unchanged`: LATEST names the one serving; "
        "`refused`: LATEST names a version that does not load (bad sha256, wrong shapes, another "
        "model type, unreadable) and the old one keeps serving; `failed`: the store could not be "
        "read and nothing changed."
    )
    version: str | None = Field(description="The version serving after the reload (null: none).")
    previous: str | None = Field(description="The version serving before it.")
    latest: str | None = Field(description="The version LATEST named, when it could be read.")
    error: str | None = Field(description="Why a version was refused or the store failed.")


class ReloadOut(_Out):
    """The outcome of a hot reload, per configured model type."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "changed": True,
                    "models": {
                        "als": {
                            "status": "loaded",
                            "version": _NEW_VERSION,
                            "previous": _VERSION,
                            "latest": _NEW_VERSION,
                            "error": None,
                        },
                        "popularity": {
                            "status": "unchanged",
                            "version": _VERSION,
                            "previous": _VERSION,
                            "latest": _VERSION,
                            "error": None,
                        },
                    },
                }
            ]
        }
    )

    ok: bool = Field(description="False when a version was refused or the store failed.")
    changed: bool = Field(description="True when at least one model type serves a new version.")
    models: dict[str, ModelReloadOut]


class ErrorOut(BaseModel):
    """Every domain error: 404 unknown user or movie, 422 unknown model, 503 model not loaded."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "user 99999 does not exist"}]}
    )

    detail: str
