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

# PostgreSQL binary COPY: 11-byte signature, int32 flags, int32 header-extension length.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# One exported row: field count, then (length, value) for int4, int4, float4, timestamptz (int8).
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("user_len", ">i4"),
        ("user", ">i4"),
        ("movie_len", ">i4"),
        ("movie", ">i4"),
        ("rating_len", ">i4"),
        ("rating", ">f4"),
        ("ts_len", ">i4"),
        ("ts", ">i8"),
    ]
)
# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
_PG_EPOCH_S = 946_684_800
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
            return parse_copy_export(b"".join(chunks))
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


def parse_copy_export(data: bytes) -> Interactions:
    """Decode a binary COPY of (int4, int4, float4, timestamptz) rows into column arrays."""
    if not data.startswith(_COPY_SIGNATURE):
        raise ValueError("not PostgreSQL binary COPY data (bad signature)")
    extension = int.from_bytes(data[15:19], "big")
    start = 19 + extension
    end = len(data) - 2  # the int16 -1 trailer
    body = memoryview(data)[start:end]
    if len(body) % _COPY_ROW.itemsize:
        raise ValueError("unexpected COPY row layout (a NULL or a changed column type?)")
    rows = np.frombuffer(body, dtype=_COPY_ROW)
    expected = (("fields", 4), ("user_len", 4), ("movie_len", 4), ("rating_len", 4), ("ts_len", 8))
    for field, value in expected:
        if rows.shape[0] and not bool((rows[field] == value).all()):
            raise ValueError(f"unexpected COPY row layout in {field!r}")
    micros = rows["ts"].astype(np.int64)
    return Interactions(
        user_ids=rows["user"].astype(np.int64),
        movie_ids=rows["movie"].astype(np.int64),
        ratings=rows["rating"].astype(np.float32),
        timestamps=np.floor_divide(micros, 1_000_000) + _PG_EPOCH_S,
    )
