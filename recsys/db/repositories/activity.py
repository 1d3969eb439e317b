"""What the web pages read: a user's ratings and events as one timeline, a movie's counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import Event, Rating

RATING_KIND = "rating"


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """One rating (``kind`` "rating") or one event (``kind`` its type) of a user."""

    movie_id: int
    kind: str
    value: float | None
    at: datetime


@dataclass(frozen=True, slots=True)
class MovieCounts:
    """How many ratings and how many events a movie has."""

    ratings: int
    events: int


class ActivityRepository:
    """Read-only queries over ``ratings`` and ``events`` together."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def recent(self, user_id: int, *, limit: int) -> list[ActivityRecord]:
        """The user's latest ``limit`` ratings and events, newest first (ties by movie id).

        Events are listed one by one, as they arrived (a like and a watch of one movie are two
        rows): the page shows what the user did, not the summed interaction weight.
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        ratings = select(
            Rating.movie_id.label("movie_id"),
            literal(RATING_KIND).label("kind"),
            Rating.rating.label("value"),
            Rating.rated_at.label("at"),
        ).where(Rating.user_id == user_id)
        events = select(
            Event.movie_id.label("movie_id"),
            Event.type.label("kind"),
            Event.value.label("value"),
            Event.occurred_at.label("at"),
        ).where(Event.user_id == user_id)
        both = union_all(ratings, events).subquery()
        query = select(both).order_by(both.c.at.desc(), both.c.movie_id).limit(limit)
        rows = (await self._session.execute(query)).all()
        return [
            ActivityRecord(
                int(row.movie_id),
                str(row.kind),
                None if row.value is None else float(row.value),
                _aware(row.at),
            )
            for row in rows
        ]

    async def movie_counts(self, movie_id: int) -> MovieCounts:
        """Ratings and events of one movie (zeros for a movie nobody touched)."""
        ratings = select(func.count()).select_from(Rating).where(Rating.movie_id == movie_id)
        events = select(func.count()).select_from(Event).where(Event.movie_id == movie_id)
        row = (
            await self._session.execute(
                select(ratings.scalar_subquery().label("r"), events.scalar_subquery().label("e"))
            )
        ).one()
        return MovieCounts(ratings=int(row.r), events=int(row.e))


def _aware(value: datetime) -> datetime:
    # The union's column carries the first select's UTC type, so this is already aware; the
    # guard keeps a naive value (a driver that drops the type) from comparing wrongly.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
