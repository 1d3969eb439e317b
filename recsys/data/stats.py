"""Summary statistics of a Dataset: ``recsys data info`` and the EDA notebook use them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
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


# -- distributions for exploratory analysis (notebooks/01_eda.ipynb) -----------------------------

GenrePeriod = Literal["rated_month", "release_decade"]


def ratings_per_user(ratings: pd.DataFrame) -> pd.Series:
    """Ratings of each user, most active first (index: user id)."""
    return ratings["user_id"].value_counts().rename("ratings").rename_axis("user_id")


def ratings_per_movie(ratings: pd.DataFrame) -> pd.Series:
    """Ratings of each rated movie, most popular first (index: movie id)."""
    return ratings["movie_id"].value_counts().rename("ratings").rename_axis("movie_id")


def long_tail(counts: pd.Series) -> pd.DataFrame:
    """Per rank (1 = largest count): the count, and the cumulative share of all ratings.

    ``counts`` is one count per entity (``ratings_per_user`` / ``ratings_per_movie``).
    """
    values = np.sort(counts.to_numpy(dtype=np.int64))[::-1]
    total = values.sum()
    cumulative = values.cumsum() / total if total else np.zeros(values.shape[0])
    return pd.DataFrame(
        {
            "rank": np.arange(1, values.shape[0] + 1),
            "count": values,
            "cumulative_share": cumulative,
        }
    )


def head_share(counts: pd.Series, *, top: float = 0.2) -> float:
    """Share of all ratings that the top ``top`` fraction of entities (by count) account for."""
    if not 0.0 < top <= 1.0:
        raise ValueError(f"top must be a fraction in (0, 1], got {top!r}")
    values = np.sort(counts.to_numpy(dtype=np.int64))[::-1]
    if values.shape[0] == 0 or values.sum() == 0:
        return 0.0
    n_top = max(1, int(np.ceil(top * values.shape[0])))
    return float(values[:n_top].sum() / values.sum())


def genre_shares(dataset: Dataset, *, by: GenrePeriod = "rated_month") -> pd.DataFrame:
    """Share of each period's ratings per genre (rows: periods, columns: genres).

    A movie with several genres counts once for each, so a row can sum to more than 1.
    ``rated_month`` groups by when the rating was made; ``release_decade`` by the movie's
    release year (movies without a year are left out).
    """
    movies = dataset.movies[["id", "year", "genres"]].rename(columns={"id": "movie_id"})
    rated = dataset.ratings[["movie_id", "rated_at"]].merge(movies, on="movie_id", how="left")
    if by == "rated_month":
        period = rated["rated_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M")
    elif by == "release_decade":
        period = (rated["year"] // 10 * 10).astype("Int64")
    else:
        raise ValueError(f"by must be rated_month or release_decade, got {by!r}")
    rated = rated.assign(period=period).dropna(subset=["period"])
    per_period = rated.groupby("period", observed=True).size()
    exploded = rated[["period", "genres"]].explode("genres").dropna(subset=["genres"])
    counts = exploded.groupby(["period", "genres"], observed=True).size().unstack(fill_value=0)
    shares = counts.div(per_period, axis=0).fillna(0.0)
    return shares[shares.sum().sort_values(ascending=False).index]
