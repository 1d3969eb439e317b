"""Bodies of ``POST /events`` and ``POST /users/{user_id}/events``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from recsys.api.schemas.common import IdOrExternalId, NewUserIdOrExternalId, Out, StorableStr
from recsys.service.ingestion import IncomingEvent

EVENTS_MAX = 1_000
IDEMPOTENCY_KEY_MAX_LENGTH = 255


_EVENT_TYPES_DOC = (
    "Event type: one of RECSYS_EVENT_WEIGHTS (default watch 1, like 2, complete 3, dislike -5: "
    "negative feedback, the movie is never recommended to the user again) or `rating`, "
    "which weighs its `value` (0.5..5). An unknown type is a 422 that lists the known ones."
)

# A bare number in a string ("0"): pydantic would read it as a timestamp, the schema says
# date-time. Numbers travel as JSON numbers.
_NUMBER_TEXT = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _event_time(value: Any) -> Any:
    """Unix seconds (a JSON number) as a UTC datetime; an ISO 8601 string left to pydantic.

    Pydantic alone takes a number beyond 2e10 for milliseconds, and a numeric string for a
    timestamp: neither is what the schema says, so both are decided here.
    """
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        raise PydanticCustomError(
            "datetime_from_number_text",
            "Input should be an ISO 8601 date-time string, or unix seconds as a JSON number",
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value  # a string for pydantic to parse; anything else it refuses
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise PydanticCustomError(
            "datetime_from_unix_seconds",
            "Input should be unix seconds within the years 1..9999",
        ) from exc


EventTime = Annotated[
    AwareDatetime,
    BeforeValidator(_event_time),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]}),
]
"""An event's time as the schema documents it: ISO 8601 with a zone, or unix seconds."""


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
        description="The movie: our integer id, or its external id as a string (the video "
        'seed\'s `"v005"`). It must be in the catalogue.',
        examples=[50],
    )
    type: StorableStr = Field(
        min_length=1, max_length=64, description=_EVENT_TYPES_DOC, examples=["like"]
    )
    value: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="The rating for a `rating` event (0.5..5); optional for the other types "
        "(stored, not weighed).",
        examples=[4.5],
    )
    occurred_at: EventTime | None = Field(
        default=None,
        description="When it happened: an ISO 8601 string with a time zone, or unix seconds as "
        "a JSON number; at most RECSYS_EVENT_FUTURE_TOLERANCE_SECONDS (300) ahead of the "
        "server's clock. Default: now.",
        examples=["2026-11-23T12:13:14Z", 1795435994],
    )
    idempotency_key: StorableStr | None = Field(
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
                    # A new external user: created by the event (the movie must exist).
                    "user_id": "u001",
                    "movie_id": 172,
                    "type": "complete",
                    "occurred_at": 1795435994,
                    "idempotency_key": "u001-172-complete-1795435994",
                },
            ]
        }
    )

    user_id: NewUserIdOrExternalId = Field(
        description='The user: our integer id, or an external id as a string (`"u001"`). '
        "A user the service does not know yet is created. Integer ids are 1..1073741823 "
        "(2**30 - 1): the ids above are the service's own, for new external users.",
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


class EventsAcceptedOut(Out):
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
