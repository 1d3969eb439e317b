"""Parsers of the GroupLens MovieLens layouts: 100K (u.*), 1M/10M (*.dat) and the CSV family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.frames import Dataset, DatasetError, SourceRef
from recsys.data.normalize import (
    genre_lists,
    movies_frame,
    optional_ints,
    ratings_frame,
    split_title_year,
    users_frame,
    users_from_ratings,
)
from recsys.data.tables import Column, TableFormat, first_header_line, read_table

# u.item's 19 genre flags, in the order of u.genre.
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

# users.dat of ML-1M codes occupations as integers; the names are those of its README.
ML1M_OCCUPATIONS = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)

RATING_COLUMNS = (
    Column(0, "user_id", "int"),
    Column(1, "movie_id", "int"),
    Column(2, "rating", "float"),
    Column(3, "timestamp", "int"),
)

CSV_RATINGS_HEADER = "userId,movieId,rating,timestamp"
CSV_MOVIES_HEADER = "movieId,title,genres"
CSV_USERS_HEADER = "userId,gender,age,occupation,zipCode"


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError("missing file", path=path)
    return path


def load_ml100k(folder: Path, *, name: str) -> Dataset:
    """MovieLens 100K: u.data (tab), u.item and u.user (pipe, latin-1)."""
    ratings_path = _require(folder / "u.data")
    items_path = _require(folder / "u.item")
    users_path = _require(folder / "u.user")

    raw = read_table(ratings_path, TableFormat(sep="\t", n_fields=4), RATING_COLUMNS)
    ratings = ratings_frame(raw["user_id"], raw["movie_id"], raw["rating"], raw["timestamp"])

    flag_columns = [Column(5 + i, f"g{i}", "int") for i in range(len(ML100K_GENRES))]
    items = read_table(
        items_path,
        TableFormat(sep="|", n_fields=24, encoding="latin-1"),
        [Column(0, "id", "int"), Column(1, "title", "text"), *flag_columns],
    )
    flags = items[[c.name for c in flag_columns]].to_numpy() == 1
    genres = [
        [g for g, on in zip(ML100K_GENRES, row, strict=True) if on and g != "unknown"]
        for row in flags
    ]
    title, year = split_title_year(items["title"].fillna(""))
    movies = movies_frame(items["id"], title, year, genres)

    people = read_table(
        users_path,
        TableFormat(sep="|", n_fields=5, encoding="latin-1"),
        [
            Column(0, "id", "int"),
            Column(1, "age", "int"),
            Column(2, "gender", "str"),
            Column(3, "occupation", "str"),
            Column(4, "zip_code", "str"),
        ],
    )
    users = users_frame(
        people["id"],
        gender=people["gender"],
        age=people["age"],
        occupation=people["occupation"],
        zip_code=people["zip_code"],
    )
    return Dataset(
        name=name,
        users=users,
        movies=movies,
        ratings=ratings,
        sources={
            "ratings": SourceRef(ratings_path, 1),
            "movies": SourceRef(items_path, 1),
            "users": SourceRef(users_path, 1),
        },
    )


def load_ml1m(folder: Path, *, name: str) -> Dataset:
    """MovieLens 1M (and 10M): '::'-separated ratings.dat, movies.dat, users.dat (latin-1)."""
    ratings_path = _require(folder / "ratings.dat")
    movies_path = _require(folder / "movies.dat")
    users_path = folder / "users.dat"
    dat = TableFormat(sep="::", n_fields=4, encoding="latin-1")

    raw = read_table(ratings_path, dat, RATING_COLUMNS)
    ratings = ratings_frame(raw["user_id"], raw["movie_id"], raw["rating"], raw["timestamp"])

    items = read_table(
        movies_path,
        TableFormat(sep="::", n_fields=3, encoding="latin-1"),
        [Column(0, "id", "int"), Column(1, "title", "text"), Column(2, "genres", "text")],
    )
    title, year = split_title_year(items["title"].fillna(""))
    movies = movies_frame(items["id"], title, year, genre_lists(items["genres"], sep="|"))

    sources = {"ratings": SourceRef(ratings_path, 1), "movies": SourceRef(movies_path, 1)}
    if users_path.is_file():
        people = read_table(
            users_path,
            TableFormat(sep="::", n_fields=5, encoding="latin-1"),
            [
                Column(0, "id", "int"),
                Column(1, "gender", "str"),
                Column(2, "age", "int"),
                Column(3, "occupation", "int"),
                Column(4, "zip_code", "str"),
            ],
        )
        codes = people["occupation"].to_numpy()
        known = (codes >= 0) & (codes < len(ML1M_OCCUPATIONS))
        if not known.all():
            row = int(np.flatnonzero(~known)[0])
            raise DatasetError(
                f"occupation code {codes[row]} outside 0..{len(ML1M_OCCUPATIONS) - 1}",
                path=users_path,
                line=row + 1,
            )
        occupation = pd.Series(np.asarray(ML1M_OCCUPATIONS, dtype=object)[codes])
        users = users_frame(
            people["id"],
            gender=people["gender"],
            age=people["age"],
            occupation=occupation,
            zip_code=people["zip_code"],
        )
        sources["users"] = SourceRef(users_path, 1)
    else:
        # ML-10M ships no users.dat: users are the distinct raters.
        users = users_from_ratings(ratings["user_id"])
    return Dataset(name=name, users=users, movies=movies, ratings=ratings, sources=sources)


def _check_header(path: Path, expected: str) -> None:
    found = first_header_line(path, encoding="utf-8-sig").strip()
    if found != expected:
        raise DatasetError(f"header {found!r}, expected {expected!r}", path=path, line=1)


def load_csv_family(folder: Path, *, name: str) -> Dataset:
    """ml-latest(-small), 20M, 25M, 32M and our synthetic data: ratings.csv + movies.csv (utf-8)."""
    ratings_path = _require(folder / "ratings.csv")
    movies_path = _require(folder / "movies.csv")
    users_path = folder / "users.csv"

    _check_header(ratings_path, CSV_RATINGS_HEADER)
    raw = read_table(
        ratings_path, TableFormat(sep=",", n_fields=4, header_lines=1, quoted=True), RATING_COLUMNS
    )
    ratings = ratings_frame(raw["user_id"], raw["movie_id"], raw["rating"], raw["timestamp"])

    _check_header(movies_path, CSV_MOVIES_HEADER)
    items = read_table(
        movies_path,
        TableFormat(sep=",", n_fields=3, header_lines=1, quoted=True),
        [Column(0, "id", "int"), Column(1, "title", "text"), Column(2, "genres", "text")],
    )
    title, year = split_title_year(items["title"].fillna(""))
    movies = movies_frame(items["id"], title, year, genre_lists(items["genres"], sep="|"))

    sources = {"ratings": SourceRef(ratings_path, 2), "movies": SourceRef(movies_path, 2)}
    if users_path.is_file():
        # GroupLens ships no users.csv; our synthetic writer does (and a user may add one).
        _check_header(users_path, CSV_USERS_HEADER)
        people = read_table(
            users_path,
            TableFormat(sep=",", n_fields=5, header_lines=1, quoted=True),
            [
                Column(0, "id", "int"),
                Column(1, "gender", "str"),
                Column(2, "age", "str"),
                Column(3, "occupation", "str"),
                Column(4, "zip_code", "str"),
            ],
        )
        users = users_frame(
            people["id"],
            gender=people["gender"],
            age=optional_ints(people["age"], path=users_path, first_line=2, field="age"),
            occupation=people["occupation"],
            zip_code=people["zip_code"],
        )
        sources["users"] = SourceRef(users_path, 2)
    else:
        users = users_from_ratings(ratings["user_id"])
    return Dataset(name=name, users=users, movies=movies, ratings=ratings, sources=sources)
