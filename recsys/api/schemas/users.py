"""Bodies of ``/users/{user_id}/...``: recommendations and rating history."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from recsys.api.schemas.common import (
    ELIGIBLE_DESCRIPTION,
    STAR_WARS,
    ModelTypeOut,
    MovieOut,
    Out,
    ScoredMovieOut,
)


class RecommendationsOut(Out):
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
                            **STAR_WARS,
                            "score": 1.2031,
                            "reason": "because you watched Return of the Jedi",
                        }
                    ],
                    "eligible": None,
                },
                {
                    "user_id": 1,
                    "model": "als",
                    "model_version": "20261123T121314.123456Z-1a2b3c",
                    "fallback": False,
                    "movies": [
                        {
                            "id": 474,
                            "title": "Dr. Strangelove or: How I Learned to Stop Worrying "
                            "and Love the Bomb",
                            "genres": ["Sci-Fi", "War"],
                            "year": 1963,
                            "score": 1.2052,
                            "reason": None,
                        }
                    ],
                    "eligible": 1,
                },
            ]
        }
    )

    user_id: int
    model: ModelTypeOut = Field(
        description="Model that answered: popularity when `fallback` is true."
    )
    model_version: str = Field(description="Artifact version of that model.")
    fallback: bool = Field(
        description="True when the requested model had nothing to go on for this user and the "
        "popularity model answered instead."
    )
    movies: list[ScoredMovieOut]
    eligible: int | None = Field(default=None, description=ELIGIBLE_DESCRIPTION)


class RatedMovieOut(MovieOut):
    """One rating of a user's history."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**STAR_WARS, "rating": 5.0, "rated_at": "1997-09-22T22:02:38Z"}]
        }
    )

    rating: float
    rated_at: datetime


class UserRatingsOut(Out):
    """A user's ratings, newest first."""

    user_id: int
    ratings: list[RatedMovieOut]
