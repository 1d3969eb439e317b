"""Consistency checks of a parsed Dataset; each failure names the file and 1-based line.

Every check is vectorised (one pass over 25M ratings takes seconds, not minutes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from recsys.data.fingerprint import is_sorted_by_pair, pair_order
from recsys.data.frames import Dataset, DatasetError, SourceRef

# MovieLens scales: whole stars 1..5 (100K, 1M) and half stars 0.5..5 (the CSV family).
RATING_MIN = 0.5
RATING_MAX = 5.0


def _where(dataset: Dataset, frame: str, row: int) -> tuple[Path | None, int | None]:
    source: SourceRef | None = dataset.sources.get(frame)
    if source is None:
        return None, None
    return source.path, source.line_of(row)


def _fail(dataset: Dataset, frame: str, row: int, message: str) -> DatasetError:
    path, line = _where(dataset, frame, row)
    return DatasetError(message, path=path, line=line)


def _first(mask: npt.NDArray[np.bool_]) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _check_ids(dataset: Dataset, frame: str, noun: str) -> None:
    ids = getattr(dataset, frame)["id"]
    negative = _first(ids.to_numpy() < 0)
    if negative is not None:
        raise _fail(dataset, frame, negative, f"negative {noun} id {ids.iloc[negative]}")
    duplicated = ids.duplicated(keep="first").to_numpy()
    row = _first(duplicated)
    if row is not None:
        value = ids.iloc[row]
        first_row = int(np.flatnonzero(ids.to_numpy() == value)[0])
        _, first_line = _where(dataset, frame, first_row)
        raise _fail(
            dataset, frame, row, f"duplicate {noun} id {value} (first at line {first_line})"
        )


def _check_ratings(dataset: Dataset) -> None:
    ratings = dataset.ratings
    values = ratings["rating"].to_numpy()
    # NaN fails both comparisons, so it is caught as out of range too.
    out_of_range = _first(~((values >= RATING_MIN) & (values <= RATING_MAX)))
    if out_of_range is not None:
        raise _fail(
            dataset,
            "ratings",
            out_of_range,
            f"rating {values[out_of_range]:g} outside {RATING_MIN:g}..{RATING_MAX:g}",
        )
    for column, frame, noun in (("movie_id", "movies", "movie"), ("user_id", "users", "user")):
        ids = ratings[column]
        unknown = _first(~ids.isin(getattr(dataset, frame)["id"]).to_numpy())
        if unknown is not None:
            source = dataset.sources.get(frame)
            where = f" (not in {source.path.name})" if source is not None else ""
            raise _fail(
                dataset, "ratings", unknown, f"rating for unknown {noun} {ids.iloc[unknown]}{where}"
            )
    _check_pairs(dataset)


def _first_repeated_pair(users: npt.NDArray[np.int64], movies: npt.NDArray[np.int64]) -> int | None:
    """The first row (in file order) whose (user, movie) pair an earlier row already has."""
    if is_sorted_by_pair(users, movies):
        # Rows in (user, movie) order (the GroupLens CSVs, an export re-seeded): a repeated pair
        # sits right after its first occurrence, so one linear pass finds the first repeat.
        return _first_adjacent_repeat(users, movies)
    # One stable sort brings equal pairs together, earliest row first; every later member of a
    # group is a repeat. A third of the time of hashing 10M pairs (pandas' duplicated).
    order = pair_order(users, movies)
    sorted_users, sorted_movies = users[order], movies[order]
    repeat = (sorted_users[1:] == sorted_users[:-1]) & (sorted_movies[1:] == sorted_movies[:-1])
    rows = order[1:][repeat]
    return int(rows.min()) if rows.size else None


def _first_adjacent_repeat(
    users: npt.NDArray[np.int64], movies: npt.NDArray[np.int64]
) -> int | None:
    same = (users[1:] == users[:-1]) & (movies[1:] == movies[:-1])
    first = _first(same)
    return None if first is None else first + 1


def _check_pairs(dataset: Dataset) -> None:
    users = dataset.ratings["user_id"].to_numpy(dtype=np.int64)
    movies = dataset.ratings["movie_id"].to_numpy(dtype=np.int64)
    for ids, noun in ((users, "user"), (movies, "movie")):
        negative = _first(ids < 0)
        if negative is not None:
            raise _fail(dataset, "ratings", negative, f"negative {noun} id {ids[negative]}")
    row = _first_repeated_pair(users, movies)
    if row is None:
        return
    user, movie = int(users[row]), int(movies[row])
    first_row = int(np.flatnonzero((users[:row] == user) & (movies[:row] == movie))[0])
    _, first_line = _where(dataset, "ratings", first_row)
    raise _fail(
        dataset,
        "ratings",
        row,
        f"duplicate rating of movie {movie} by user {user} (first at line {first_line})",
    )


def validate(dataset: Dataset) -> Dataset:
    """Raise DatasetError at the first inconsistency; return the dataset unchanged otherwise."""
    if dataset.ratings.empty:
        source = dataset.sources.get("ratings")
        raise DatasetError("no ratings", path=source.path if source else None)
    _check_ids(dataset, "movies", "movie")
    _check_ids(dataset, "users", "user")
    _check_ratings(dataset)
    return dataset
