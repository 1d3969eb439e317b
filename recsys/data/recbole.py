"""Parser of RecBole atomic files (``NAME.inter``, ``NAME.item``, ``NAME.user``).

Tab-separated with a typed header such as ``user_id:token``; columns are found by name so the
optional extra columns some RecBole datasets carry are ignored. Ids must be integers (they are in
RecBole's MovieLens copies); the year comes from ``release_year`` (or a trailing "(1995)" left in
the title) and genres (``class``) are space-separated.
"""

from __future__ import annotations

from pathlib import Path

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
from recsys.data.tables import Column, Kind, TableFormat, first_header_line, read_table


def _columns(path: Path, wanted: dict[str, tuple[str, Kind]]) -> tuple[TableFormat, list[Column]]:
    """Columns found by header name (``user_id:token`` is ``user_id``); all must be present."""
    header = first_header_line(path, encoding="utf-8").split("\t")
    names = [field.split(":", 1)[0].strip() for field in header]
    columns: list[Column] = []
    for source_name, (frame_name, kind) in wanted.items():
        if source_name not in names:
            raise DatasetError(
                f"header has no {source_name!r} column (found {', '.join(names)})",
                path=path,
                line=1,
            )
        columns.append(Column(names.index(source_name), frame_name, kind))
    return TableFormat(sep="\t", n_fields=len(header), header_lines=1), columns


def _optional(path: Path, wanted: dict[str, tuple[str, Kind]]) -> list[str]:
    header = first_header_line(path, encoding="utf-8").split("\t")
    names = {field.split(":", 1)[0].strip() for field in header}
    return [source for source in wanted if source in names]


def find_inter(folder: Path) -> Path | None:
    """The folder's single ``*.inter`` file, if any."""
    found = sorted(folder.glob("*.inter"))
    if len(found) > 1:
        raise DatasetError(
            f"several .inter files ({', '.join(p.name for p in found)}); keep one", path=folder
        )
    return found[0] if found else None


def load_recbole(folder: Path, *, name: str) -> Dataset:
    """RecBole atomic files: NAME.inter (required), NAME.item (required), NAME.user (optional)."""
    inter_path = find_inter(folder)
    if inter_path is None:
        raise DatasetError("no .inter file", path=folder)
    item_path = inter_path.with_suffix(".item")
    user_path = inter_path.with_suffix(".user")
    if not item_path.is_file():
        raise DatasetError("missing file (movies come from the .item file)", path=item_path)

    fmt, columns = _columns(
        inter_path,
        {
            "user_id": ("user_id", "int"),
            "item_id": ("movie_id", "int"),
            "rating": ("rating", "float"),
            # RecBole types timestamps as float; float32 would round epoch seconds by up to 64 s.
            "timestamp": ("timestamp", "float64"),
        },
    )
    raw = read_table(inter_path, fmt, columns)
    ratings = ratings_frame(raw["user_id"], raw["movie_id"], raw["rating"], raw["timestamp"])

    item_wanted: dict[str, tuple[str, Kind]] = {
        "item_id": ("id", "int"),
        "movie_title": ("title", "text"),
        "release_year": ("year", "str"),
        "class": ("genres", "str"),
    }
    present = ["item_id", *[c for c in _optional(item_path, item_wanted) if c != "item_id"]]
    fmt, columns = _columns(item_path, {key: item_wanted[key] for key in present})
    items = read_table(item_path, fmt, columns)
    n = len(items)
    raw_title = items["title"].fillna("") if "title" in items else pd.Series([""] * n)
    # Some RecBole titles still end in "(1995)" (and then release_year holds junk such as "V");
    # release_year is a free token there, so anything not an integer counts as missing.
    title, title_year = split_title_year(raw_title)
    year = title_year
    if "year" in items:
        year = pd.to_numeric(items["year"], errors="coerce").astype("Int64").fillna(title_year)
    genres = genre_lists(items["genres"], sep=" ") if "genres" in items else [[] for _ in range(n)]
    movies = movies_frame(items["id"], title, year, genres)

    sources = {"ratings": SourceRef(inter_path, 2), "movies": SourceRef(item_path, 2)}
    if user_path.is_file():
        user_wanted: dict[str, tuple[str, Kind]] = {
            "user_id": ("id", "int"),
            "age": ("age", "str"),
            "gender": ("gender", "str"),
            "occupation": ("occupation", "str"),
            "zip_code": ("zip_code", "str"),
        }
        present = ["user_id", *[c for c in _optional(user_path, user_wanted) if c != "user_id"]]
        fmt, columns = _columns(user_path, {key: user_wanted[key] for key in present})
        people = read_table(user_path, fmt, columns)
        users = users_frame(
            people["id"],
            gender=people.get("gender"),
            age=(
                optional_ints(people["age"], path=user_path, first_line=2, field="age")
                if "age" in people
                else None
            ),
            occupation=people.get("occupation"),
            zip_code=people.get("zip_code"),
        )
        sources["users"] = SourceRef(user_path, 2)
    else:
        users = users_from_ratings(ratings["user_id"])
    return Dataset(name=name, users=users, movies=movies, ratings=ratings, sources=sources)
