"""The one-query user history and the movie cache, on the tiny dataset, PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import UserRepository
from recsys.events import EventWeights
from recsys.service.catalog import MovieCatalog
from recsys.settings import DEFAULT_EVENT_WEIGHTS

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

if TYPE_CHECKING:
    pass

Migrate = Callable[..., Awaitable[None]]


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> AsyncSession:
    """A session on the seeded tiny dataset, on each backend."""
    session: AsyncSession = request.getfixturevalue(
        "session" if request.param == "postgresql" else "sqlite_db"
    )
    return session


async def test_rated_movies_answers_existence_and_history_at_once(db: AsyncSession) -> None:
    users = UserRepository(db)
    rated = await users.rated_movies(1, WEIGHTS)
    assert rated is not None
    assert sorted(zip(rated.movie_ids, rated.ratings, strict=True)) == [
        (1, 4.0),
        (3, 4.5),
        (5, 2.0),
        (7, 5.0),
    ]
    assert await users.rated_movies(999, WEIGHTS) is None
    await db.execute(text("INSERT INTO users (id) VALUES (50)"))
    empty = await users.rated_movies(50, WEIGHTS)
    assert empty is not None and empty.movie_ids == [] and empty.ratings == []
    await db.rollback()


async def test_rated_movies_sees_the_sessions_own_writes(session: AsyncSession) -> None:
    # PostgreSQL reads through the driver: it must still run inside the session's transaction.
    await session.execute(text("INSERT INTO ratings VALUES (3, 7, 4.0, now())"))
    rated = await UserRepository(session).rated_movies(3, WEIGHTS)
    assert rated is not None and sorted(rated.movie_ids) == [5, 7]


async def test_catalog_keeps_order_skips_unknown_and_queries_once(db: AsyncSession) -> None:
    catalog = MovieCatalog()
    statements: list[str] = []

    def count(*args: object) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN
            statements.append(str(args[2]))

    bind = db.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        first = await catalog.get_many(db, [7, 999, 1, 7])
        again = await catalog.get_many(db, [1, 7])
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert [m.id for m in first] == [7, 1]
    assert [(m.id, m.title, m.year, m.genres) for m in again] == [
        (1, "Toy Story", 1995, ("Animation", "Children's", "Comedy")),
        (7, "Sabrina", 1995, ("Comedy", "Romance")),
    ]
    assert len(statements) == 1  # the second call is served from memory
    assert (catalog.hits, catalog.misses) == (2, 3)


async def test_catalog_is_bounded_least_recently_used_out(db: AsyncSession) -> None:
    catalog = MovieCatalog(max_movies=2)
    assert await catalog.warm(db, [1, 2, 3]) == 2
    await catalog.get_many(db, [2])  # 2 is now the most recent
    await catalog.get_many(db, [5])  # evicts the least recent
    assert len(catalog) == 2
    misses = catalog.misses
    await catalog.get_many(db, [2, 5])
    assert catalog.misses == misses
    assert await catalog.get(db, 11) is not None and len(catalog) == 2
    with pytest.raises(ValueError, match="max_movies must be >= 1"):
        MovieCatalog(max_movies=0)
