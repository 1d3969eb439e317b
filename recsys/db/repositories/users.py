"""User look-ups and creation: existence, per-movie interaction history, external ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Integer, cast, exists, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from recsys.db.models import Event, Rating, User
from recsys.db.repositories import _ids, _weights
from recsys.events import EventWeights

# One round trip answers "does the user exist, and what have they interacted with": no row means
# no user, one row with NULL arrays means a user without history. The ratings come as they are
# and the events already summed per movie ($2/$3: configured types and weights; events of a type
# no longer configured do not count); Python adds the two (few rows). Two plain laterals rather
# than one UNION ALL + GROUP BY: a user without events (the common case) costs one index probe
# more than the ratings-only query did, not a hash aggregate of their whole history
# (benchmarks/events_db.py). Sent through the driver (a prepared statement per connection)
# because this is the API's per-request query.
_RATED_MOVIES_PG = """
SELECT r.movie_ids, r.ratings, r.rated_at, e.movie_ids, e.weights, e.last_at
FROM users AS u
LEFT JOIN LATERAL (
    SELECT array_agg(movie_id) AS movie_ids, array_agg(rating) AS ratings,
           array_agg(floor(extract(epoch FROM rated_at))::bigint) AS rated_at
    FROM ratings WHERE user_id = u.id
) AS r ON true
LEFT JOIN LATERAL (
    SELECT array_agg(movie_id) AS movie_ids, array_agg(weight) AS weights,
           array_agg(last_at) AS last_at
    FROM (
        SELECT e.movie_id,
               sum(CASE WHEN e.type = 'rating' THEN e.value ELSE w.weight END) AS weight,
               floor(extract(epoch FROM max(e.occurred_at)))::bigint AS last_at
        FROM events AS e
        LEFT JOIN unnest($2::text[], $3::float8[]) AS w(type, weight) ON w.type = e.type
        WHERE e.user_id = u.id AND (e.type = 'rating' OR w.weight IS NOT NULL)
        GROUP BY e.movie_id
    ) AS per_movie
) AS e ON true
WHERE u.id = $1
"""


# What a lost or refused connection raises from the driver itself: SQLSTATE class 08, the
# 57P0x shutdown/crash errors a restart sends, and socket errors / timeouts (OSError covers
# ConnectionError and TimeoutError). And InternalClientError: a shutdown's FATAL message
# reaches an idle pooled connection a moment before the socket closes; asyncpg, not expecting
# a message while idle, parks the protocol in its error state, and the next query on it
# fails with "cannot switch to state 12; another operation (2) is in progress"
# (benchmarks/outage.py measured these as 500s). The connection can never be used again.
DISCONNECT_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.exceptions.InterfaceError,  # "connection is closed" (the socket went away)
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)


async def _invalidate(connection: AsyncConnection, raw: Any, exc: BaseException) -> None:
    """Do what SQLAlchemy does on a disconnect it sees: drop this connection, and mark every
    connection the pool opened before now stale, so the next checkouts reconnect instead of
    each failing once (pre-ping off). ``Pool._invalidate`` is the call SQLAlchemy's own
    ``Connection._handle_dbapi_exception`` makes; there is no public equivalent."""
    connection.sync_engine.pool._invalidate(raw, exc)
    await connection.invalidate(exc)


@dataclass(frozen=True, slots=True)
class RatedMovies:
    """Every movie a user has rated or sent events about, in no particular order.

    ``ratings`` holds each movie's interaction weight: its rating plus the weights of its events
    (recsys.events); ``last_at`` the Unix seconds of the latest rating or event on it.
    """

    movie_ids: list[int]
    ratings: list[float]
    last_at: list[int]


class UserRepository:
    """Queries on ``users``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def exists(self, user_id: int) -> bool:
        """True when ``user_id`` is a known user."""
        query = select(exists().where(User.id == user_id))
        return bool((await self._session.execute(query)).scalar())

    async def rated_movies(self, user_id: int, weights: EventWeights) -> RatedMovies | None:
        """The user's movies with summed weights and latest times; None when no such user.

        One query on PostgreSQL; ``weights`` says what each event type adds.
        """
        connection = await self._session.connection()
        if connection.dialect.name == "postgresql":
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            types, values = _weights.pg_arrays(weights)
            try:
                row = await driver.fetchrow(_RATED_MOVIES_PG, user_id, types, values)
            except DISCONNECT_ERRORS as exc:
                # The raw driver call bypasses SQLAlchemy's disconnect handling: without this
                # the dead connection (and its dead siblings) would go back into the pool.
                await _invalidate(connection, raw, exc)
                raise
            if row is None:
                return None
            rated = RatedMovies(list(row[0] or ()), list(row[1] or ()), list(row[2] or ()))
            if row[3] is None:
                return rated
            return _add_events(rated, row[3], row[4], row[5])
        if not await self.exists(user_id):
            return None
        event_weight = _weights.event_weight(weights)
        history = union_all(
            select(
                Rating.movie_id.label("movie_id"),
                Rating.rating.label("weight"),
                Rating.rated_at.label("at"),
            ).where(Rating.user_id == user_id),
            select(Event.movie_id, event_weight, Event.occurred_at)
            .where(Event.user_id == user_id)
            .where(event_weight.is_not(None)),
        ).subquery()
        # The stored text layout sorts chronologically, so max() of it is the latest time.
        last_at = cast(func.strftime("%s", func.max(history.c.at)), Integer)
        query = select(history.c.movie_id, func.sum(history.c.weight), last_at).group_by(
            history.c.movie_id
        )
        rows = (await connection.execute(query)).all()
        return RatedMovies(
            [int(row[0]) for row in rows],
            [float(row[1]) for row in rows],
            [int(row[2]) for row in rows],
        )

    async def missing(self, user_ids: Sequence[int]) -> list[int]:
        """The ``user_ids`` that are not users, in the order given, each once."""
        wanted = _ids.unique(int(i) for i in user_ids)
        if not wanted:
            return []
        present = await _ids.existing_ids(self._session, "users", wanted)
        return [i for i in wanted if i not in present]

    async def ensure(self, user_ids: Sequence[int]) -> None:
        """Create the users of ``user_ids`` that do not exist yet (bare rows, no demographics).

        So a brand-new user can send events. Safe under concurrent callers; does not commit.
        Raises ValueError for an id outside [1, 2**31 - 1].
        """
        wanted = _ids.unique(int(i) for i in user_ids)
        if not wanted:
            return
        _ids.check_int32(wanted, field="user id")
        present = await _ids.existing_ids(self._session, "users", wanted)
        missing = [i for i in wanted if i not in present]
        if not missing:
            return
        await _ids.lock_for_create(self._session, "users")
        await _ids.insert_ids(self._session, "users", missing)

    async def ids_for_external(self, keys: Sequence[str], *, create: bool) -> dict[str, int]:
        """``{external_id: user id}``; unknown keys are left out, or created when ``create``.

        New users get ids after the current maximum, safely under concurrent callers (see
        recsys.db.repositories._ids). Does not commit.
        """
        return await _ids.resolve_external(self._session, "users", keys, create=create)


def _add_events(
    rated: RatedMovies,
    movie_ids: Sequence[int],
    weights: Sequence[float],
    last_at: Sequence[int],
) -> RatedMovies:
    """``rated`` plus per-movie event sums: weights added, the later time kept."""
    position = {movie_id: i for i, movie_id in enumerate(rated.movie_ids)}
    for movie_id, weight, at in zip(movie_ids, weights, last_at, strict=True):
        i = position.get(movie_id)
        if i is None:
            position[movie_id] = len(rated.movie_ids)
            rated.movie_ids.append(movie_id)
            rated.ratings.append(float(weight))
            rated.last_at.append(int(at))
        else:
            rated.ratings[i] += float(weight)
            rated.last_at[i] = max(rated.last_at[i], int(at))
    return rated
