"""Response bodies of the HTTP API (pydantic), with the examples OpenAPI shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    StringConstraints,
    Tag,
)

from recsys.service.ingestion import IncomingEvent

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
    reason: str | None = Field(
        default=None,
        description="Why it is recommended, where the model can say: "
        "'because you watched <title>' (item-to-item models and two_stage).",
    )


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
                    "movies": [
                        {
                            **_STAR_WARS,
                            "score": 1.2031,
                            "reason": "because you watched Return of the Jedi",
                        }
                    ],
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


# -- event ingestion (POST /events, POST /users/{user_id}/events) --------------------------------

EVENTS_MAX = 1_000
EXTERNAL_ID_MAX_LENGTH = 200  # as recsys data import-events
IDEMPOTENCY_KEY_MAX_LENGTH = 255


def _id_kind(value: Any) -> str | None:
    # A JSON number is one of our integer ids, a JSON string an external id ("u001"); anything
    # else (true, 1.5, null) matches neither and gets one clear error instead of two.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "id"
    if isinstance(value, str):
        return "external_id"
    return None


# Keys the service creates (users sending their first event) are 1..2**31-1.
IdOrExternalId = Annotated[
    Annotated[Annotated[int, Field(ge=1, le=ID_MAX)], Tag("id")]
    | Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=EXTERNAL_ID_MAX_LENGTH)],
        Tag("external_id"),
    ],
    Discriminator(
        _id_kind,
        custom_error_type="id_type",
        custom_error_message="Input should be an integer id or a string external id",
    ),
]

_EVENT_TYPES_DOC = (
    "Event type: one of RECSYS_EVENT_WEIGHTS (default watch 1, like 2, complete 3) or `rating`, "
    "which weighs its `value` (0.5..5). An unknown type is a 422 that lists the known ones."
)


class UserEventIn(BaseModel):
    """One thing a user did with a movie; the user is given by the path."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "movie_id": 50,
                    "type": "like",
                    "occurred_at": "2026-11-23T12:13:14Z",
                    "idempotency_key": "3f1c9a7e-like-50",
                }
            ]
        },
    )

    movie_id: IdOrExternalId = Field(
        description='The movie: our integer id, or its external id as a string (`"v005"`). '
        "It must be in the catalogue.",
        examples=[50, "v005"],
    )
    type: str = Field(min_length=1, max_length=64, description=_EVENT_TYPES_DOC, examples=["like"])
    value: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="The rating for a `rating` event (0.5..5); optional for the other types "
        "(stored, not weighed).",
        examples=[4.5],
    )
    occurred_at: AwareDatetime | None = Field(
        default=None,
        description="When it happened: ISO 8601 with a time zone, or unix seconds; at most "
        "RECSYS_EVENT_FUTURE_TOLERANCE_SECONDS (300) ahead of the server's clock. Default: now.",
        examples=["2026-11-23T12:13:14Z"],
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        description="Unique per event, chosen by the client: an event sent again with a key "
        "already stored is accepted and not stored (or counted) twice, so retries are safe.",
        examples=["3f1c9a7e-like-50"],
    )

    def incoming(self, user: int | str) -> IncomingEvent:
        """This event of ``user`` as the ingester takes it."""
        return IncomingEvent(
            user=user,
            movie=self.movie_id,
            type=self.type,
            value=self.value,
            occurred_at=self.occurred_at,
            idempotency_key=self.idempotency_key,
        )


class EventIn(UserEventIn):
    """One thing a user did with a movie."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"user_id": 1, "movie_id": 50, "type": "watch"},
                {
                    "user_id": "u001",
                    "movie_id": "v005",
                    "type": "complete",
                    "occurred_at": "2026-11-23T12:13:14Z",
                    "idempotency_key": "u001-v005-complete-1763899994",
                },
            ]
        }
    )

    user_id: IdOrExternalId = Field(
        description='The user: our integer id, or an external id as a string (`"u001"`). '
        "A user the service does not know yet is created.",
        examples=[1, "u001"],
    )


class EventBatchIn(BaseModel):
    """A batch of events, stored all together or not at all."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(
        min_length=1, max_length=EVENTS_MAX, description=f"1..{EVENTS_MAX} events."
    )


class UserEventBatchIn(BaseModel):
    """A batch of one user's events, stored all together or not at all."""

    model_config = ConfigDict(extra="forbid")

    events: list[UserEventIn] = Field(
        min_length=1, max_length=EVENTS_MAX, description=f"1..{EVENTS_MAX} events."
    )


class EventsAcceptedOut(_Out):
    """What became of an accepted batch; it is committed before this answer is sent."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"received": 3, "stored": 2, "replayed": [1]}]}
    )

    received: int = Field(description="Events in the batch.")
    stored: int = Field(description="Events stored now.")
    replayed: list[int] = Field(
        description="Indexes of the events whose idempotency key was already stored: "
        "accepted, not stored again."
    )


# -- the SageMaker serving contract (GET /ping, POST /invocations) -------------------------------


class InvocationIn(BaseModel):
    """The video seed's SageMaker request: a user and how many items."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": "u001", "k": 3}]})

    user_id: IdOrExternalId = Field(
        description='The user\'s external id (`"u001"`), or our integer id. A string that is '
        'no external id but a number (`"196"`) is taken as our id.',
        examples=["u001", 196],
    )
    k: int = Field(default=10, ge=1, le=K_MAX, description=f"How many items, 1..{K_MAX}.")


class InvocationItemOut(_Out):
    """One recommended item in the seed's shape."""

    videoId: int | str = Field(  # camelCase: the seed's field name
        description="The movie's external id, or our integer id when it has none."
    )
    score: float = Field(description="Model score; only the order is meaningful.")


class InvocationOut(_Out):
    """The seed's SageMaker answer: best first, in external ids."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"userId": "u001", "recommendations": [{"videoId": "v005", "score": 0.91}]}
            ]
        }
    )

    userId: int | str = Field(  # camelCase: the seed's field name
        description="The user as the request named them."
    )
    recommendations: list[InvocationItemOut]


class PingOut(_Out):
    """SageMaker's health check: 200 ready, 503 not (and why)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "reasons": []}]})

    status: str = Field(description="`ok` or `not ready`.")
    reasons: list[str] = Field(description="Why the service is not ready (empty when ready).")
