"""Movie look-ups: titles, years and genres for ranked ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Integer, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import Movie


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

    async def attributes(self) -> list[tuple[int, int | None, tuple[str, ...]]]:
        """(id, year or None, genres) of every movie, for models that read them."""
        rows = (await self._session.execute(select(Movie.id, Movie.year, Movie.genres))).all()
        return [(row.id, row.year, tuple(row.genres)) for row in rows]
