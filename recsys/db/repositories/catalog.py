"""Catalogue writes (create, update, soft delete, bulk import) and the catalogue version.

Every write here raises ``catalog_state.version`` in the caller's transaction, so a serving
worker that polls the version (recsys.service.catalog_state) reloads its catalogue once the
write commits. New ids come after the current maximum under the movies creation lock
(recsys.db.repositories._ids), as for movies created by external id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import CatalogState, Movie
from recsys.db.repositories import _ids


@dataclass(frozen=True, slots=True)
class MovieFields:
    """What a client may set on a movie: title, year, genres, optional external id."""

    title: str
    year: int | None
    genres: tuple[str, ...]
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One catalogue row as the serving snapshot reads it (deleted ones included)."""

    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    deleted: bool


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One row of ``import-movies``: ``id`` None = find by external id, else a new movie."""

    id: int | None
    fields: MovieFields


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import did."""

    created: int
    updated: int


class ExternalIdTakenError(ValueError):
    """Another movie already has this external id."""


class CatalogRepository:
    """Writes on ``movies`` and ``catalog_state``; none of them commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def version(self) -> int:
        """The catalogue version (0 for a database no write has touched)."""
        value = await self._session.scalar(select(CatalogState.version).where(CatalogState.id == 1))
        return int(value or 0)

    async def bump(self) -> None:
        """Raise the version (in the caller's transaction: seen once it commits)."""
        await self._session.execute(
            update(CatalogState)
            .where(CatalogState.id == 1)
            .values(version=CatalogState.version + 1)
        )

    async def rows(self) -> list[CatalogRow]:
        """Every movie, soft-deleted ones flagged, by id."""
        query = select(
            Movie.id, Movie.title, Movie.year, Movie.genres, Movie.deleted_at.is_not(None)
        ).order_by(Movie.id)
        return [
            CatalogRow(int(r[0]), str(r[1]), r[2], tuple(r[3]), bool(r[4]))
            for r in (await self._session.execute(query)).all()
        ]

    async def create(self, fields: MovieFields) -> int:
        """A new movie with the next free id; ``ExternalIdTakenError`` if its key is used."""
        await self._check_external(fields.external_id, None)
        await _ids.lock_for_create(self._session, "movies")
        top = await self._session.scalar(select(func.coalesce(func.max(Movie.id), 0)))
        new_id = int(top or 0) + 1
        _ids.check_int32([new_id], field="movie id")
        self._session.add(_movie(new_id, fields))
        await self._session.flush()
        await self.bump()
        return new_id

    async def update(self, movie_id: int, fields: MovieFields) -> bool:
        """Replace a live movie's fields; False when there is no such (undeleted) movie."""
        await self._check_external(fields.external_id, movie_id)
        result = await self._session.execute(
            update(Movie)
            .where(Movie.id == movie_id, Movie.deleted_at.is_(None))
            .values(**_values(fields))
        )
        if not _changed(result):
            return False
        await self.bump()
        return True

    async def soft_delete(self, movie_id: int) -> bool:
        """Mark a live movie deleted (history kept); False when there is none to delete."""
        result = await self._session.execute(
            update(Movie)
            .where(Movie.id == movie_id, Movie.deleted_at.is_(None))
            .values(deleted_at=datetime.now(UTC))
        )
        if not _changed(result):
            return False
        await self.bump()
        return True

    async def is_deleted(self, movie_id: int) -> bool:
        """True when the movie exists and is soft-deleted."""
        value = await self._session.scalar(
            select(Movie.deleted_at.is_not(None)).where(Movie.id == movie_id)
        )
        return bool(value)

    async def import_rows(self, rows: Sequence[ImportRow]) -> ImportCounts:
        """Create or update every row (already validated); one bump for the lot.

        A row with an id updates that movie or creates it with that id; a row without one
        updates the movie of its external id, or creates a movie with the next free id.
        """
        await _ids.lock_for_create(self._session, "movies")
        keys = [r.fields.external_id for r in rows if r.id is None and r.fields.external_id]
        by_key = await _ids.ids_by_external(self._session, "movies", keys) if keys else {}
        given = [r.id for r in rows if r.id is not None]
        present = await _ids.existing_ids(self._session, "movies", given) if given else set()
        top = int(await self._session.scalar(select(func.coalesce(func.max(Movie.id), 0))) or 0)
        top = max([top, *given])
        created = updated = 0
        for row in rows:
            movie_id = row.id if row.id is not None else by_key.get(row.fields.external_id or "")
            if movie_id is not None and (movie_id in present or movie_id in by_key.values()):
                await self._session.execute(
                    update(Movie)
                    .where(Movie.id == movie_id)
                    .values(**_values(row.fields), deleted_at=None)
                )
                updated += 1
                continue
            if movie_id is None:
                top += 1
                movie_id = top
            _ids.check_int32([movie_id], field="movie id")
            self._session.add(_movie(movie_id, row.fields))
            created += 1
        await self._session.flush()
        await self.bump()
        return ImportCounts(created=created, updated=updated)

    async def _check_external(self, key: str | None, movie_id: int | None) -> None:
        if key is None:
            return
        owner = (await _ids.ids_by_external(self._session, "movies", [key])).get(key)
        if owner is not None and owner != movie_id:
            raise ExternalIdTakenError(f"external id {key!r} is already movie {owner}")


def _values(fields: MovieFields) -> dict[str, object]:
    return {
        "title": fields.title,
        "year": fields.year,
        "genres": list(fields.genres),
        "external_id": fields.external_id,
    }


def _movie(movie_id: int, fields: MovieFields) -> Movie:
    return Movie(
        id=movie_id,
        title=fields.title,
        year=fields.year,
        genres=list(fields.genres),
        external_id=fields.external_id,
    )


def _changed(result: object) -> bool:
    # CursorResult.rowcount: the rows the UPDATE matched.
    return int(getattr(result, "rowcount", 0) or 0) > 0
