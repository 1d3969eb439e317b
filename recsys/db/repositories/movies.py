"""Movie look-ups: titles, years and genres for ranked ids; external ids; catalogue checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import Movie
from recsys.db.repositories import _ids


@dataclass(frozen=True, slots=True)
class MovieRecord:
    """A movie as the service shows it; immutable, so it is safe to cache across requests."""

    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]


class MovieRepository:
    """Queries on ``movies``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_many(self, ids: Sequence[int]) -> list[MovieRecord]:
        """Movies for ``ids`` in the order given (one query); unknown ids are left out."""
        if not ids:
            return []
        wanted = list(dict.fromkeys(int(i) for i in ids))
        query = select(Movie.id, Movie.title, Movie.year, Movie.genres)
        if self._session.get_bind().dialect.name == "postgresql":
            # One array parameter (= ANY) instead of N placeholders: same plan for any k.
            ids_param = bindparam("ids", wanted, type_=postgresql.ARRAY(Integer()))
            query = query.where(Movie.id == any_(ids_param))
        else:
            query = query.where(Movie.id.in_(wanted))
        rows = (await self._session.execute(query)).all()
        found = {
            row.id: MovieRecord(row.id, row.title, row.year, tuple(row.genres)) for row in rows
        }
        return [found[i] for i in wanted if i in found]

    async def ids_for_external(self, keys: Sequence[str], *, create: bool) -> dict[str, int]:
        """``{external_id: movie id}``; unknown keys are left out, or created when ``create``.

        A created movie's title is its key and it has no genres until metadata arrives. New ids
        come after the current maximum, safely under concurrent callers. Does not commit.
        """
        return await _ids.resolve_external(self._session, "movies", keys, create=create)

    async def external_ids(self, ids: Sequence[int]) -> dict[int, str]:
        """``{movie id: external_id}`` for the ``ids`` that have one (one query)."""
        wanted = _ids.unique(int(i) for i in ids)
        found: dict[int, str] = {}
        if not wanted:
            return found
        for id_filter in self._id_filters(wanted):
            query = select(Movie.id, Movie.external_id).where(
                id_filter, Movie.external_id.is_not(None)
            )
            rows = (await self._session.execute(query)).all()
            found.update({row[0]: str(row[1]) for row in rows})
        return found

    async def missing(self, ids: Sequence[int]) -> list[int]:
        """The ``ids`` that are not in the catalogue, in the order given, each once."""
        wanted = _ids.unique(int(i) for i in ids)
        if not wanted:
            return []
        present = await _ids.existing_ids(self._session, "movies", wanted)
        return [i for i in wanted if i not in present]

    def _id_filters(self, ids: list[int]) -> list[ColumnElement[bool]]:
        """``Movie.id`` in ``ids``: one array parameter on PostgreSQL, IN chunks on SQLite."""
        if _ids.is_postgres(self._session):
            ids_param = bindparam("ids", ids, type_=postgresql.ARRAY(Integer()))
            return [Movie.id == any_(ids_param)]
        return [Movie.id.in_(part) for part in _ids.chunks(ids, _ids.SQLITE_CHUNK)]

    async def attributes(self) -> list[tuple[int, int | None, tuple[str, ...]]]:
        """(id, year or None, genres) of every movie, for models that read them."""
        rows = (await self._session.execute(select(Movie.id, Movie.year, Movie.genres))).all()
        return [(row.id, row.year, tuple(row.genres)) for row in rows]
