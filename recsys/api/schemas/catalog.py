"""Bodies of the catalogue writes: ``POST /movies`` and ``PUT /movies/{movie_id}``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from recsys.api.schemas.common import StorableStr
from recsys.service.catalog_writes import (
    EXTERNAL_ID_MAX,
    GENRE_MAX,
    GENRES_MAX,
    TITLE_MAX,
    YEAR_MAX,
    YEAR_MIN,
    MovieFields,
)

Genre = Annotated[StorableStr, StringConstraints(min_length=1, max_length=GENRE_MAX)]


class MovieIn(BaseModel):
    """A movie's fields as a client sets them (all of them: PUT replaces)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Andor",
                    "year": 2022,
                    "genres": ["Action", "Adventure", "Sci-Fi"],
                    "external_id": "v9001",
                }
            ]
        },
    )

    title: Annotated[StorableStr, StringConstraints(min_length=1, max_length=TITLE_MAX)] = Field(
        description="Title without the year."
    )
    year: int | None = Field(
        default=None, ge=YEAR_MIN, le=YEAR_MAX, description="Release year, when known."
    )
    genres: list[Genre] = Field(
        default_factory=list,
        max_length=GENRES_MAX,
        description="Genre names (each once, no '|'); they and the year and title words are "
        "what a new movie is recommended and found similar by until it has interactions.",
    )
    external_id: (
        Annotated[StorableStr, StringConstraints(min_length=1, max_length=EXTERNAL_ID_MAX)] | None
    ) = Field(default=None, description="The id another system knows the movie by (unique).")

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value

    @field_validator("genres")
    @classmethod
    def _genres(cls, value: list[str]) -> list[str]:
        if any("|" in g or not g.strip() for g in value):
            raise ValueError("a genre is not blank and has no '|'")
        if len(set(value)) != len(value):
            raise ValueError("a genre is listed twice")
        return value

    def fields(self) -> MovieFields:
        """The repository's value object."""
        return MovieFields(self.title, self.year, tuple(self.genres), self.external_id)
