"""Builders of the canonical frames (see frames.py) from parsed source columns.

Genres are ``list[str]``; a movie with no genre has ``[]``. MovieLens marks that case with the
pseudo-genres ``(no genres listed)`` (CSV family) and ``unknown`` (100K), which are dropped here so
every consumer sees one convention.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsys.data.frames import DatasetError

NO_GENRE = frozenset({"(no genres listed)", "unknown", ""})

# "Toy Story (1995)", "Babylon 5 (1993-1998)", "Hyena Road (2015) ": a trailing year in parentheses
# (optionally a range) is the release year; anything else stays in the title.
_TITLE_YEAR = r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$"


def split_title_year(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split "Title (1995)" into ("Title", 1995); titles without a year keep a NA year."""
    text = raw.astype("string").str.strip()
    parts = text.str.extract(_TITLE_YEAR)
    has_year = parts["year"].notna()
    title = text.where(~has_year, parts["title"]).astype("string")
    year = pd.to_numeric(parts["year"], errors="coerce").astype("Int64")
    return title.reset_index(drop=True), year.reset_index(drop=True)


def genre_lists(raw: pd.Series, *, sep: str) -> list[list[str]]:
    """Split each genre string on ``sep``, dropping the no-genre markers."""
    return [clean_genres(str(value).split(sep)) if pd.notna(value) else [] for value in raw]


def clean_genres(names: Iterable[str]) -> list[str]:
    """Genre names without surrounding blanks or the no-genre markers."""
    return [name.strip() for name in names if name.strip() not in NO_GENRE]


def movies_frame(
    ids: npt.ArrayLike, titles: pd.Series, years: pd.Series, genres: list[list[str]]
) -> pd.DataFrame:
    """The canonical movies frame: id int64, title string, year Int64, genres list[str]."""
    genre_column = pd.Series(genres, dtype=object)
    return pd.DataFrame(
        {
            "id": np.asarray(ids, dtype=np.int64),
            "title": titles.astype("string").reset_index(drop=True),
            "year": years.astype("Int64").reset_index(drop=True),
            "genres": genre_column,
        }
    )


def users_frame(
    ids: npt.ArrayLike,
    *,
    gender: pd.Series | None = None,
    age: pd.Series | None = None,
    occupation: pd.Series | None = None,
    zip_code: pd.Series | None = None,
) -> pd.DataFrame:
    """The canonical users frame; absent attributes are all NA."""
    id_array = np.asarray(ids, dtype=np.int64)
    n = id_array.shape[0]

    def text(values: pd.Series | None) -> pd.Series:
        if values is None:
            return pd.Series(pd.NA, index=range(n), dtype="string")
        cleaned = values.astype("string").str.strip().reset_index(drop=True)
        return cleaned.mask(cleaned == "")

    ages = (
        pd.Series(pd.NA, index=range(n), dtype="Int64")
        if age is None
        else pd.to_numeric(age, errors="coerce").astype("Int64").reset_index(drop=True)
    )
    return pd.DataFrame(
        {
            "id": id_array,
            "gender": text(gender),
            "age": ages,
            "occupation": text(occupation),
            "zip_code": text(zip_code),
        }
    )


def users_from_ratings(user_ids: pd.Series) -> pd.DataFrame:
    """Users derived from the distinct rating user ids (ascending), attributes NA."""
    return users_frame(np.sort(pd.unique(user_ids.to_numpy())))


def ratings_frame(
    user_id: pd.Series, movie_id: pd.Series, rating: pd.Series, seconds: pd.Series
) -> pd.DataFrame:
    """The canonical ratings frame from epoch-second timestamps."""
    rated_at = pd.to_datetime(seconds.to_numpy(dtype=np.int64), unit="s", utc=True)
    return pd.DataFrame(
        {
            "user_id": user_id.to_numpy(dtype=np.int64),
            "movie_id": movie_id.to_numpy(dtype=np.int64),
            "rating": rating.to_numpy(dtype=np.float32),
            "rated_at": pd.Series(rated_at).astype("datetime64[ns, UTC]"),
        }
    )


def optional_ints(values: pd.Series, *, path: Path, first_line: int, field: str) -> pd.Series:
    """Integers where a field may be empty (NA); any other non-integer text is a DatasetError."""
    text = values.astype("string").str.strip()
    parsed = pd.to_numeric(text, errors="coerce")
    blank = text.isna() | (text == "")
    bad = (parsed.isna() & ~blank) | (parsed.notna() & (parsed % 1 != 0))
    if bool(bad.any()):
        row = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
        raise DatasetError(
            f"unparsable number {text.iloc[row]!r} in field {field}",
            path=path,
            line=first_line + row,
        )
    return parsed.astype("Int64").reset_index(drop=True)
