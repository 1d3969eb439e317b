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
                        },
                    ],
                    "by_content": False,
                }
            ]
        }
    )

    movie: MovieOut
    model: ModelTypeOut
    model_version: str
    movies: list[ScoredMovieOut] = Field(
        description="The model's neighbours, then the explore slots (RECSYS_EXPLORE_SHARE) for "
        "new movies closest in content (`reason`: `new in the catalogue`); for a movie the "
        "model never saw, its neighbours by content (genres, year, title words). Soft-deleted "
        "movies never."
    )
    by_content: bool = Field(
        default=False,
        description="True when the model never saw the movie (no interactions when it was "
        "trained): `movies` are its content neighbours.",
    )
    eligible: int | None = Field(default=None, description=ELIGIBLE_DESCRIPTION)
