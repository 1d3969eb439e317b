"""Bodies of ``/movies/{movie_id}`` and the movies similar to it."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from recsys.api.schemas.common import (
    ELIGIBLE_DESCRIPTION,
    STAR_WARS,
    ModelTypeOut,
    MovieOut,
    Out,
    ScoredMovieOut,
)


class SimilarMoviesOut(Out):
    """The movies a model finds closest to one movie, best first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "movie": STAR_WARS,
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
    model: ModelTypeOut
    model_version: str
    movies: list[ScoredMovieOut] = Field(
        description="Empty when the model never saw the movie (nobody had rated it)."
    )
    eligible: int | None = Field(default=None, description=ELIGIBLE_DESCRIPTION)
