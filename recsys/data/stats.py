"""Summary statistics of a Dataset, as ``recsys data info`` shows them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys.data.frames import Dataset


@dataclass(frozen=True)
class DatasetStats:
    """Counts, density, rating distribution and date range of one dataset."""

    users: int
    movies: int
    ratings: int
    density: float  # ratings / (users * movies)
    rating_counts: dict[float, int]  # rating value -> how many, ascending by value
    first_rated: pd.Timestamp | None
    last_rated: pd.Timestamp | None
    mean_per_user: float  # over users with at least one rating
    mean_per_movie: float  # over movies with at least one rating
    mean_rating: float

    @property
    def sparsity(self) -> float:
        """Share of the user x movie matrix without a rating."""
        return 1.0 - self.density


def describe(dataset: Dataset) -> DatasetStats:
    """Compute DatasetStats in a few vectorised passes."""
    ratings = dataset.ratings
    n_users, n_movies, n_ratings = len(dataset.users), len(dataset.movies), len(ratings)
    cells = n_users * n_movies
    counts = ratings["rating"].value_counts().sort_index()
    empty = n_ratings == 0
    return DatasetStats(
        users=n_users,
        movies=n_movies,
        ratings=n_ratings,
        density=n_ratings / cells if cells else 0.0,
        rating_counts={
            float(k): int(v)
            for k, v in zip(counts.index.to_numpy(), counts.to_numpy(), strict=True)
        },
        first_rated=None if empty else ratings["rated_at"].min(),
        last_rated=None if empty else ratings["rated_at"].max(),
        mean_per_user=0.0 if empty else n_ratings / ratings["user_id"].nunique(),
        mean_per_movie=0.0 if empty else n_ratings / ratings["movie_id"].nunique(),
        mean_rating=0.0 if empty else float(ratings["rating"].mean()),
    )
