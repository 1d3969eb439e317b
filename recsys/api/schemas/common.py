"""What every router's schemas share: id and size bounds, the base of response bodies, the
movie shapes, the error body and the id-or-external-id type."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    StringConstraints,
    Tag,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from recsys.events import CLIENT_ID_MAX
from recsys.service.choices import MODEL_TYPES

# Ids are int4 in the database: bounds checked at the edge turn a huge id into a 422, not a 500.
ID_MIN, ID_MAX = -(2**31), 2**31 - 1
K_MAX = 100
RATINGS_LIMIT_MAX = 1_000
EXTERNAL_ID_MAX_LENGTH = 200  # as recsys data import-events


STAR_WARS: dict[str, JsonValue] = {
    "id": 50,
    "title": "Star Wars",
    "genres": ["Action", "Adventure", "Romance", "Sci-Fi", "War"],
    "year": 1977,
}
"""Movie 50 of MovieLens 100K (what ``make demo`` seeds), as the catalogue has it: every id in
the OpenAPI examples is one of that catalogue (tests/integration/test_openapi_examples.py)."""

# Every registered model type, the same on every pod whatever it loads: which of them a pod
# serves is a runtime fact (RECSYS_MODELS, artifacts present), answered per request.
MODEL_TYPE_NAMES = tuple(sorted(MODEL_TYPES))
_MODEL_TYPE_SCHEMA = WithJsonSchema({"type": "string", "enum": list(MODEL_TYPE_NAMES)})

ModelTypeOut = Annotated[str, _MODEL_TYPE_SCHEMA]
"""The model type of an answer: documented as the enum of registered types (not checked)."""


class Out(BaseModel):
    """Base of the response bodies."""

    # Built from the service's frozen dataclasses by attribute; never mutated afterwards.
    model_config = ConfigDict(from_attributes=True, frozen=True)


class MovieOut(Out):
    """A catalogue entry."""

    model_config = ConfigDict(json_schema_extra={"examples": [STAR_WARS]})

    id: int = Field(description="Movie id.")
    title: str = Field(description="Title without the year.")
    genres: list[str] = Field(description="Genre names, possibly empty.")
    year: int | None = Field(description="Release year, when known.")


class ScoredMovieOut(MovieOut):
    """A recommended movie and the model's score for it (higher is better)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**STAR_WARS, "score": 1.2031}]})

    score: float = Field(description="Model score; only the order is meaningful across models.")
    reason: str | None = Field(
        default=None,
        description="Why it is recommended, where the model can say: "
        "'because you watched <title>' (item-to-item models and two_stage), or "
        "'new in the catalogue' (an explore slot: a movie no model has seen yet, chosen by "
        "content; RECSYS_EXPLORE_SHARE).",
    )


class ErrorOut(BaseModel):
    """Every domain error: 404 unknown user or movie, 422 unknown model, 503 model not loaded."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "user 99999 does not exist"}]}
    )

    detail: str


# PostgreSQL text holds neither NUL nor anything UTF-8 cannot encode (a lone surrogate, which
# JSON's "\ud800" escape and Python's json both allow): such a string reaching the database is
# a driver error, i.e. a 500. Refused at the edge instead, naming the field.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str) -> str:
    found = _UNSTORABLE.search(value)
    if found is not None:
        raise PydanticCustomError(
            "string_unstorable",
            "String should not contain NUL or lone surrogates (found {char} at index {at})",
            {"char": f"U+{ord(found.group()):04X}", "at": found.start()},
        )
    return value


StorableStr = Annotated[str, AfterValidator(_storable)]
"""A string PostgreSQL can store: no NUL, no lone surrogate (422 ``string_unstorable``)."""


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


_ExternalId = Annotated[
    Annotated[StorableStr, StringConstraints(min_length=1, max_length=EXTERNAL_ID_MAX_LENGTH)],
    Tag("external_id"),
]
_BY_KIND = Discriminator(
    _id_kind,
    custom_error_type="id_type",
    custom_error_message="Input should be an integer id or a string external id",
)

# A movie or a known user, by id (any key int4 holds: 1..2**31-1) or external id.
IdOrExternalId = Annotated[
    Annotated[Annotated[int, Field(ge=1, le=ID_MAX)], Tag("id")] | _ExternalId, _BY_KIND
]
# A user an event may create: numeric ids only up to CLIENT_ID_MAX (see recsys.events), so
# the ids the service allocates for new external users can never run out.
NewUserIdOrExternalId = Annotated[
    Annotated[Annotated[int, Field(ge=1, le=CLIENT_ID_MAX)], Tag("id")] | _ExternalId, _BY_KIND
]


def _registered(value: str) -> str:
    if value not in MODEL_TYPES:
        raise PydanticCustomError(
            "enum",
            "Input should be a model type: {expected}",
            {"expected": ", ".join(MODEL_TYPE_NAMES)},
        )
    return value


ModelType = Annotated[StorableStr, AfterValidator(_registered), _MODEL_TYPE_SCHEMA]
"""A registered model type (OpenAPI: an enum); anything else is a 422 ``enum`` listing them."""


ELIGIBLE_DESCRIPTION = (
    "With filters (genres, exclude_genres, year_min, year_max, exclude, only): how many movies "
    "they leave to rank (not yet rated, known to the model). Fewer than k means the list is "
    "short because the filters allow no more. Null without filters."
)
