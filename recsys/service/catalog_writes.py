"""Catalogue writes: one movie (the API) or a CSV file of them (``recsys data import-movies``).

A write raises the catalogue version in its transaction (recsys.db.repositories.catalog); the
caller commits, then ``Runtime.sync_catalog`` reloads this worker's catalogue, and the other
workers see it within RECSYS_CATALOG_POLL_SECONDS (recsys.service.catalog_state). A soft delete
keeps the movie's row, ratings and events (history kept); it is never recommended or returned
as similar again.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import (
    CatalogRepository,
    ExternalIdTakenError,
    ImportCounts,
    ImportRow,
    MovieFields,
)
from recsys.db.repositories._ids import INT32_MAX, ids_by_external
from recsys.service.errors import (
    ExternalIdConflictError,
    InvalidMovieFileError,
    UnknownMovieError,
)

# MovieFields: what the API's bodies build (the api layer reaches the db only through here).
__all__ = [
    "MovieFields",
    "check_fields",
    "create_movie",
    "delete_movie",
    "import_movies",
    "read_movies_csv",
    "update_movie",
]

YEAR_MIN, YEAR_MAX = 1870, 2100
TITLE_MAX = 500
GENRES_MAX = 30
GENRE_MAX = 64
EXTERNAL_ID_MAX = 255
CSV_COLUMNS = ("id", "title", "year", "genres", "external_id")
REQUIRED_COLUMNS = ("title", "genres")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a movie's fields."""

    field: str
    message: str


def check_fields(
    title: str, year: int | None, genres: Sequence[str], external_id: str | None
) -> list[Problem]:
    """What is wrong with these fields (empty when they make a valid movie)."""
    problems = []
    if not title.strip() or len(title) > TITLE_MAX:
        problems.append(Problem("title", f"must be 1 to {TITLE_MAX} characters, not blank"))
    if year is not None and not YEAR_MIN <= year <= YEAR_MAX:
        problems.append(Problem("year", f"{year} is out of range [{YEAR_MIN}, {YEAR_MAX}]"))
    if len(genres) > GENRES_MAX:
        problems.append(Problem("genres", f"at most {GENRES_MAX} genres, got {len(genres)}"))
    for genre in genres:
        if not genre.strip() or len(genre) > GENRE_MAX or "|" in genre:
            problems.append(
                Problem("genres", f"{genre!r}: a genre is 1 to {GENRE_MAX} characters, no '|'")
            )
            break
    if len(set(genres)) != len(genres):
        problems.append(Problem("genres", "a genre is listed twice"))
    if external_id is not None and not 1 <= len(external_id) <= EXTERNAL_ID_MAX:
        problems.append(Problem("external_id", f"must be 1 to {EXTERNAL_ID_MAX} characters"))
    return problems


async def create_movie(session: AsyncSession, fields: MovieFields) -> int:
    """A new movie; its id. Does not commit."""
    try:
        return await CatalogRepository(session).create(fields)
    except ExternalIdTakenError as exc:
        raise ExternalIdConflictError(str(exc)) from exc


async def update_movie(session: AsyncSession, movie_id: int, fields: MovieFields) -> None:
    """Replace a live movie's fields; ``UnknownMovieError`` if there is none. Does not commit."""
    try:
        changed = await CatalogRepository(session).update(movie_id, fields)
    except ExternalIdTakenError as exc:
        raise ExternalIdConflictError(str(exc)) from exc
    if not changed:
        raise UnknownMovieError(movie_id)


async def delete_movie(session: AsyncSession, movie_id: int) -> None:
    """Soft-delete a live movie; ``UnknownMovieError`` if there is none. Does not commit."""
    if not await CatalogRepository(session).soft_delete(movie_id):
        raise UnknownMovieError(movie_id)


def read_movies_csv(path: Path) -> list[tuple[int, ImportRow]]:
    """(line, row) of every movie in the file, all validated; ``InvalidMovieFileError`` names
    the first bad line as ``FILE:LINE: field: message`` and counts the others."""
    errors: list[str] = []
    rows: list[tuple[int, ImportRow]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidMovieFileError(f"{path}: cannot read it as UTF-8 text: {exc}") from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise InvalidMovieFileError(f"{path}:1: header: the file is empty")
    names = [h.strip() for h in header]
    unknown = [n for n in names if n not in CSV_COLUMNS]
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if unknown or missing or len(set(names)) != len(names):
        raise InvalidMovieFileError(
            f"{path}:1: header: expected columns {','.join(CSV_COLUMNS)} (title and genres "
            f"required, each once), got {','.join(names)}"
        )
    seen_ids: dict[int, int] = {}
    seen_keys: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            errors.append(f"{path}:{line}: row: {len(cells)} fields, the header has {len(names)}")
            continue
        value = dict(zip(names, (c.strip() for c in cells), strict=True))
        problems: list[Problem] = []
        movie_id = _int(value.get("id", ""), "id", 1, INT32_MAX, problems)
        year = _int(value.get("year", ""), "year", YEAR_MIN, YEAR_MAX, problems)
        genres = [g.strip() for g in value["genres"].split("|")] if value["genres"] else []
        key = value.get("external_id") or None
        problems += check_fields(value["title"], year, genres, key)
        if movie_id is not None and movie_id in seen_ids:
            problems.append(Problem("id", f"{movie_id} is also on line {seen_ids[movie_id]}"))
        if key is not None and key in seen_keys:
            problems.append(Problem("external_id", f"{key!r} is also on line {seen_keys[key]}"))
        if problems:
            errors += [f"{path}:{line}: {p.field}: {p.message}" for p in problems]
            continue
        if movie_id is not None:
            seen_ids[movie_id] = line
        if key is not None:
            seen_keys[key] = line
        fields = MovieFields(value["title"], year, tuple(genres), key)
        rows.append((line, ImportRow(movie_id, fields)))
    _raise_first(errors)
    if not rows:
        raise InvalidMovieFileError(f"{path}:2: row: no movies in the file")
    return rows


async def import_movies(
    session: AsyncSession, path: Path, rows: Sequence[tuple[int, ImportRow]]
) -> ImportCounts:
    """Write every row (one transaction: the caller commits); external ids that belong to
    another movie than the row's id are refused whole, naming the line. Does not commit."""
    keyed = [(line, r) for line, r in rows if r.fields.external_id is not None]
    owners = await ids_by_external(
        session, "movies", [r.fields.external_id or "" for _, r in keyed]
    )
    errors = [
        f"{path}:{line}: external_id: {r.fields.external_id!r} is already movie {owner}"
        for line, r in keyed
        if r.id is not None
        and (owner := owners.get(r.fields.external_id or "")) is not None
        and owner != r.id
    ]
    _raise_first(errors)
    return await CatalogRepository(session).import_rows([r for _, r in rows])


def _int(text: str, field: str, low: int, high: int, problems: list[Problem]) -> int | None:
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        problems.append(Problem(field, f"{text!r} is not an integer"))
        return None
    if not low <= value <= high:
        problems.append(Problem(field, f"{value} is out of range [{low}, {high}]"))
        return None
    return value


def _raise_first(errors: list[str]) -> None:
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise InvalidMovieFileError(errors[0] + more)
