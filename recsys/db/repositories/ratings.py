"""Rating queries: one user's history, and the bulk export training reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.data.frames import Interactions
from recsys.db.models import Rating
from recsys.db.pgcopy import decode_ratings

_EXPORT_QUERY = "SELECT user_id, movie_id, rating, rated_at FROM ratings"


@dataclass(frozen=True, slots=True)
class RatingRecord:
    """One rating of a user's history."""

    movie_id: int
    rating: float
    rated_at: datetime


class RatingRepository:
    """Queries on ``ratings``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def history(self, user_id: int, *, limit: int | None = None) -> list[RatingRecord]:
        """The user's ratings, newest first (ties by movie id); at most ``limit`` if given."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        query = (
            select(Rating.movie_id, Rating.rating, Rating.rated_at)
            .where(Rating.user_id == user_id)
            .order_by(Rating.rated_at.desc(), Rating.movie_id)
            .limit(limit)
        )
        rows = (await self._session.execute(query)).all()
        return [RatingRecord(row.movie_id, row.rating, row.rated_at) for row in rows]

    async def export(self) -> Interactions:
        """Every rating as column arrays (unordered): binary COPY on PostgreSQL, no row objects."""
        connection = await self._session.connection()
        if connection.dialect.name == "postgresql":
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            chunks: list[bytes] = []

            async def sink(data: bytes) -> None:
                chunks.append(data)

            await driver.copy_from_query(_EXPORT_QUERY, output=sink, format="binary")
            return decode_ratings(b"".join(chunks))
        # SQLite: a plain select is fine at the sizes an embedded database holds.
        result = await connection.execute(
            text(
                "SELECT user_id, movie_id, rating, CAST(strftime('%s', rated_at) AS INTEGER) "
                "FROM ratings"
            )
        )
        rows = result.all()
        columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
        return Interactions(
            user_ids=np.asarray(columns[0], dtype=np.int64),
            movie_ids=np.asarray(columns[1], dtype=np.int64),
            ratings=np.asarray(columns[2], dtype=np.float32),
            timestamps=np.asarray(columns[3], dtype=np.int64),
        )
