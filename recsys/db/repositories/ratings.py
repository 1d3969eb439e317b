"""Rating queries: one user's history, and the bulk export of interactions training reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Integer, cast, exists, func, select, union, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from recsys.data.frames import Interactions
from recsys.db.models import Event, Rating
from recsys.db.pgcopy import RatingsDecoder
from recsys.db.repositories import _weights
from recsys.events import EventWeights

_EXPORT_QUERY = "SELECT user_id, movie_id, rating, rated_at FROM ratings"
# With events: sum them per (user, movie) first (small next to the ratings), then one hash
# full join against the ratings, so the ratings are scanned once and never sorted. The columns
# keep the ratings' binary layout (int4, int4, float4, timestamptz), so RatingsDecoder reads it.
# greatest() ignores NULLs: the latest of the rating and the events.
_EXPORT_WITH_EVENTS = """
WITH per_pair AS (
    SELECT e.user_id, e.movie_id,
           sum(CASE WHEN e.type = 'rating' THEN e.value ELSE w.weight END) AS weight,
           max(e.occurred_at) AS at
    FROM events AS e
    LEFT JOIN unnest($1::text[], $2::float8[]) AS w(type, weight) ON w.type = e.type
    WHERE e.type = 'rating' OR w.weight IS NOT NULL
    GROUP BY e.user_id, e.movie_id
)
SELECT coalesce(r.user_id, p.user_id), coalesce(r.movie_id, p.movie_id),
       (coalesce(r.rating::float8, 0) + coalesce(p.weight, 0))::real,
       greatest(r.rated_at, p.at)
FROM ratings AS r
FULL JOIN per_pair AS p ON p.user_id = r.user_id AND p.movie_id = r.movie_id
"""
# The planner's row counts (exact right after the seed's ANALYZE, kept close by autovacuum):
# only a size hint for the decoder's arrays, never trusted as the answer.
_ROW_ESTIMATE = """
SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class
WHERE oid IN (to_regclass('ratings'), to_regclass($1))
"""


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

    async def count_movies(self, weights: EventWeights) -> int:
        """How many movies ``export`` would return interactions for (its matrix's columns).

        One scan of the movie ids and no rows sent: a model's size limit can refuse the
        catalogue before the export is read.
        """
        event_weight = _weights.event_weight(weights)
        movies = union(
            select(Rating.movie_id),
            select(Event.movie_id).where(event_weight.is_not(None)),
        ).subquery()
        count = (await self._session.execute(select(func.count()).select_from(movies))).scalar()
        return int(count or 0)

    async def export(self, weights: EventWeights) -> Interactions:
        """Every (user, movie) interaction as column arrays (unordered), ratings and events summed.

        An interaction's weight is its rating plus its events' weights (recsys.events), its
        timestamp the latest of them (``weights``: what each event type adds). Binary COPY on
        PostgreSQL, no row objects; with no events at all it is the plain ratings COPY. The
        COPY is decoded as it streams into the final arrays (28 bytes a row), so the read's
        peak memory is those arrays plus a few MiB, whatever the table's size.
        """
        connection = await self._session.connection()
        has_events = bool((await connection.execute(select(exists().select_from(Event)))).scalar())
        if connection.dialect.name == "postgresql":
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            # With events the output has at most one row per rating plus one per event.
            expected = await driver.fetchval(_ROW_ESTIMATE, "events" if has_events else "ratings")
            decoder = RatingsDecoder(int(expected or 0))

            async def sink(data: bytes) -> None:
                decoder.feed(data)

            if has_events:
                types, values = _weights.pg_arrays(weights)
                await driver.copy_from_query(
                    _EXPORT_WITH_EVENTS, types, values, output=sink, format="binary"
                )
            else:
                await driver.copy_from_query(_EXPORT_QUERY, output=sink, format="binary")
            return decoder.finish()
        return await _export_sqlite(connection, weights if has_events else None)


async def _export_sqlite(connection: AsyncConnection, weights: EventWeights | None) -> Interactions:
    """The export on SQLite: a plain select, fine at the sizes an embedded database holds."""
    # The stored text layout sorts chronologically, so max() of it is the latest time.
    query: Any = select(
        Rating.user_id,
        Rating.movie_id,
        Rating.rating,
        cast(func.strftime("%s", Rating.rated_at), Integer),
    )
    if weights is not None:
        event_weight = _weights.event_weight(weights)
        rows = union_all(
            select(Rating.user_id, Rating.movie_id, Rating.rating, Rating.rated_at),
            select(Event.user_id, Event.movie_id, event_weight, Event.occurred_at).where(
                event_weight.is_not(None)
            ),
        ).subquery()
        user_id, movie_id, weight, at = rows.c
        query = select(
            user_id, movie_id, func.sum(weight), cast(func.strftime("%s", func.max(at)), Integer)
        ).group_by(user_id, movie_id)
    result = (await connection.execute(query)).all()
    columns = list(zip(*result, strict=True)) if result else [(), (), (), ()]
    return Interactions(
        user_ids=np.asarray(columns[0], dtype=np.int64),
        movie_ids=np.asarray(columns[1], dtype=np.int64),
        ratings=np.asarray(columns[2], dtype=np.float32),
        timestamps=np.asarray(columns[3], dtype=np.int64),
    )
