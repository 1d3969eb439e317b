"""User look-ups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import Rating, User

# One round trip answers "does the user exist, and what have they rated": no row means no user,
# one row with NULL arrays means a user without ratings. Sent through the driver (a prepared
# statement per connection) because this is the API's per-request query.
_RATED_MOVIES_PG = """
SELECT r.movie_ids, r.ratings
FROM users AS u
LEFT JOIN LATERAL (
    SELECT array_agg(movie_id) AS movie_ids, array_agg(rating) AS ratings
    FROM ratings WHERE user_id = u.id
) AS r ON true
WHERE u.id = $1
"""


@dataclass(frozen=True, slots=True)
class RatedMovies:
    """Every movie a user has rated with the rating, in no particular order."""

    movie_ids: list[int]
    ratings: list[float]


class UserRepository:
    """Queries on ``users``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def exists(self, user_id: int) -> bool:
        """True when ``user_id`` is a known user."""
        query = select(exists().where(User.id == user_id))
        return bool((await self._session.execute(query)).scalar())

    async def rated_movies(self, user_id: int) -> RatedMovies | None:
        """The user's rated movies and ratings in one query; None when the user does not exist."""
        connection = await self._session.connection()
        if connection.dialect.name == "postgresql":
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            row = await driver.fetchrow(_RATED_MOVIES_PG, user_id)
            if row is None:
                return None
            return RatedMovies(list(row[0] or ()), list(row[1] or ()))
        query = (
            select(Rating.movie_id, Rating.rating)
            .select_from(User)
            .outerjoin(Rating, Rating.user_id == User.id)
            .where(User.id == user_id)
        )
        rows = (await connection.execute(query)).all()
        if not rows:
            return None
        rated = [row for row in rows if row.movie_id is not None]
        return RatedMovies([row.movie_id for row in rated], [row.rating for row in rated])
