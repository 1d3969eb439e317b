"""Tables for looking at results by eye: a report's summary, one user's history and top K."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.data.frames import Dataset
from recsys.evaluation.report import EvaluationReport
from recsys.modeling.base import History, Recommender


def summary_frame(report: EvaluationReport) -> pd.DataFrame:
    """One row per model: the mean of each per-user metric, coverage and timings."""
    rows = []
    for run in report.runs:
        estimates = run.estimates()
        rows.append(
            {
                "model": run.model_type,
                **{name: estimate.mean for name, estimate in estimates.items()},
                "coverage": run.coverage,
                "fit_s": run.fit_seconds,
                "eval_s": run.eval_seconds,
            }
        )
    return pd.DataFrame(rows).set_index("model")


def user_history(dataset: Dataset, user_id: int, *, n: int | None = 10) -> pd.DataFrame:
    """A user's ratings, latest first, with titles and genres (``n=None``: all of them)."""
    ratings = dataset.ratings[dataset.ratings["user_id"] == user_id]
    if ratings.empty:
        raise ValueError(f"user {user_id} has no ratings in {dataset.name}")
    latest = ratings.sort_values(["rated_at", "movie_id"], ascending=False)
    if n is not None:
        latest = latest.head(n)
    movies = _movies(dataset)
    out = latest[["movie_id", "rating", "rated_at"]].join(movies, on="movie_id")
    return out.reset_index(drop=True)


def recommendations(
    model: Recommender[Any], dataset: Dataset, user_id: int, *, k: int = 10
) -> pd.DataFrame:
    """The model's top ``k`` for a user (the movies they rated excluded), with titles."""
    ratings = dataset.ratings[dataset.ratings["user_id"] == user_id]
    history = History.of(
        ratings["movie_id"].to_numpy(dtype=np.int64),
        ratings["rating"].to_numpy(dtype=np.float32),
    )
    ids, scores = model.recommend(user_id, history=history, k=k)
    out = pd.DataFrame({"rank": np.arange(1, ids.shape[0] + 1), "movie_id": ids, "score": scores})
    return out.join(_movies(dataset), on="movie_id")


def similar_movies(
    model: Recommender[Any], dataset: Dataset, movie_id: int, *, k: int = 10
) -> pd.DataFrame:
    """The ``k`` movies the model finds most similar to ``movie_id``, with titles."""
    ids, scores = model.similar_items(movie_id, k=k)
    out = pd.DataFrame({"rank": np.arange(1, ids.shape[0] + 1), "movie_id": ids, "score": scores})
    return out.join(_movies(dataset), on="movie_id")


def _movies(dataset: Dataset) -> pd.DataFrame:
    movies = dataset.movies.set_index("id")[["title", "year", "genres"]]
    return movies.assign(genres=movies["genres"].map(", ".join))
