"""Bodies of the video seed's SageMaker contract: ``GET /ping`` and ``POST /invocations``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from recsys.api.schemas.common import K_MAX, IdOrExternalId, Out, StorableStr
from recsys.service.filters import MAX_IDS, YEAR_MAX, YEAR_MIN

_IDS = f"Movie ids or external ids, at most {MAX_IDS}; one that names no movie is a 422."


class InvocationIn(BaseModel):
    """The video seed's SageMaker request: a user and how many items."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"user_id": "196", "k": 3},
                {"user_id": "196", "k": 3, "genres": ["Comedy"], "year_min": 1990},
            ]
        }
    )

    user_id: IdOrExternalId = Field(
        description='The user\'s external id (`"u001"`), or our integer id. A string that is '
        'no external id but a number (`"196"`) is taken as our id.',
        examples=["196", 196],
    )
    k: int = Field(default=10, ge=1, le=K_MAX, description=f"How many items, 1..{K_MAX}.")
    # The filters of GET /users/{user_id}/recommendations, as JSON values (lists, not commas).
    genres: list[StorableStr] | None = Field(
        default=None,
        max_length=MAX_IDS,
        description="Only items with any of these genres (unknown ones are a 422).",
        examples=[["Comedy", "Drama"]],
    )
    exclude_genres: list[StorableStr] | None = Field(
        default=None,
        max_length=MAX_IDS,
        description="No item with any of these genres.",
        examples=[["Horror"]],
    )
    year_min: int | None = Field(
        default=None,
        ge=YEAR_MIN,
        le=YEAR_MAX,
        description="Only items released in this year or later (unknown years left out).",
    )
    year_max: int | None = Field(
        default=None,
        ge=YEAR_MIN,
        le=YEAR_MAX,
        description="Only items released in this year or earlier.",
    )
    exclude: list[IdOrExternalId] | None = Field(
        default=None, max_length=MAX_IDS, description=f"Never these items. {_IDS}"
    )
    only: list[IdOrExternalId] | None = Field(
        default=None, max_length=MAX_IDS, description=f"Only these items. {_IDS}"
    )
    diversify: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="0..1: re-rank for genre variety (maximal marginal relevance).",
    )


class InvocationItemOut(Out):
    """One recommended item in the seed's shape."""

    videoId: int | str = Field(  # camelCase: the seed's field name
        description="The movie's external id, or our integer id when it has none."
    )
    score: float = Field(description="Model score; only the order is meaningful.")


class InvocationOut(Out):
    """The seed's SageMaker answer: best first, in external ids."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"userId": "196", "recommendations": [{"videoId": 50, "score": 0.91}]}]
        }
    )

    userId: int | str = Field(  # camelCase: the seed's field name
        description="The user as the request named them."
    )
    recommendations: list[InvocationItemOut]


class PingOut(Out):
    """SageMaker's health check: 200 ready, 503 not (and why)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "reasons": []}]})

    status: str = Field(description="`ok` or `not ready`.")
    reasons: list[str] = Field(description="Why the service is not ready (empty when ready).")
