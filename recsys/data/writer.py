"""Write a Dataset in the MovieLens CSV-family layout that load_dataset reads back identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.frames import Dataset
from recsys.data.movielens import CSV_MOVIES_HEADER, CSV_RATINGS_HEADER, CSV_USERS_HEADER

# Written in slices so a 25M-row frame never needs a second full-size text copy in memory.
_ROWS_PER_WRITE = 2_000_000


def _movie_titles(movies: pd.DataFrame) -> pd.Series:
    """Titles with their year put back as MovieLens writes them: "Title (1995)"."""
    year_text = " (" + movies["year"].astype("string") + ")"
    return (movies["title"].fillna("") + year_text.fillna("")).astype("string")


def _genre_text(genres: pd.Series) -> list[str]:
    return ["|".join(names) if names else "(no genres listed)" for names in genres]


def write_dataset(dataset: Dataset, folder: Path) -> Path:
    """Write ratings.csv, movies.csv and users.csv into ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    movies = pd.DataFrame(
        {
            "movieId": dataset.movies["id"].to_numpy(),
            "title": _movie_titles(dataset.movies),
            "genres": _genre_text(dataset.movies["genres"]),
        }
    )
    movies.to_csv(folder / "movies.csv", index=False, header=CSV_MOVIES_HEADER.split(","))

    users = dataset.users
    pd.DataFrame(
        {
            "userId": users["id"].to_numpy(),
            "gender": users["gender"],
            "age": users["age"],
            "occupation": users["occupation"],
            "zipCode": users["zip_code"],
        }
    ).to_csv(folder / "users.csv", index=False, header=CSV_USERS_HEADER.split(","))

    ratings = dataset.ratings
    seconds = ratings["rated_at"].to_numpy(dtype="datetime64[s]").astype(np.int64)
    with (folder / "ratings.csv").open("w", encoding="utf-8", newline="") as out:
        out.write(CSV_RATINGS_HEADER + "\n")
        for start in range(0, len(ratings), _ROWS_PER_WRITE):
            stop = start + _ROWS_PER_WRITE
            pd.DataFrame(
                {
                    "userId": ratings["user_id"].to_numpy()[start:stop],
                    "movieId": ratings["movie_id"].to_numpy()[start:stop],
                    "rating": ratings["rating"].to_numpy()[start:stop],
                    "timestamp": seconds[start:stop],
                }
            ).to_csv(out, index=False, header=False, lineterminator="\n")
    return folder
