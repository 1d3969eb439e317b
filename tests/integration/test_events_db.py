"""Events in the database: idempotent inserts, ratings + events summed per movie, external ids.

On the tiny dataset (user 1 rated movies 1 (4.0), 3 (4.5), 5 (2.0) and 7 (5.0)), on PostgreSQL
and SQLite. Concurrency tests run on PostgreSQL only, with real commits on a fresh database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from recsys.db.repositories import (
    EventRepository,
    MovieRepository,
    NewEvent,
    RatingRepository,
    UserRepository,
)
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset

Migrate = Callable[..., Awaitable[None]]
WEIGHTS = EventWeights({"watch": 1.0, "like": 2.0, "complete": 3.0})


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# User 1: a watch on rated movie 1 (after the rating) and on rated movie 3 (before it), a like
# and a complete on unrated movie 2, a rating event on unrated movie 11.
USER_1_EVENTS = [
    NewEvent(1, 1, "watch", None, at(1_700_000_000)),
    NewEvent(1, 3, "watch", None, at(900_000_000)),
    NewEvent(1, 2, "like", 2.0, at(1_700_000_100)),
    NewEvent(1, 2, "complete", 3.0, at(1_700_000_200)),
    NewEvent(1, 11, "rating", 3.5, at(1_600_000_000)),
]


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> AsyncSession:
    """A session on the seeded tiny dataset, on each backend, rolled back after the test."""
    session: AsyncSession = request.getfixturevalue(
        "session" if request.param == "postgresql" else "sqlite_db"
    )
    return session


async def count_events(db: AsyncSession) -> int:
    return int((await db.execute(text("SELECT count(*) FROM events"))).scalar_one())


async def test_add_many_stores_a_replayed_key_once(db: AsyncSession) -> None:
    events = EventRepository(db)
    first = await events.add_many(
        [
            NewEvent(1, 2, "watch", None, at(1_700_000_000), idempotency_key="k1"),
            NewEvent(1, 2, "like", None, at(1_700_000_001)),  # no key: always stored
            NewEvent(1, 2, "watch", None, at(1_700_000_000), idempotency_key="k1"),  # in-batch
            NewEvent(2, 5, "complete", None, at(1_700_000_002), idempotency_key="k2"),
        ]
    )
    assert first == [True, True, False, True]
    assert await count_events(db) == 3

    replay = await events.add_many(
        [
            NewEvent(2, 5, "complete", None, at(1_700_000_002), idempotency_key="k2"),
            NewEvent(3, 7, "like", None, at(1_700_000_003), idempotency_key="k3"),
            NewEvent(1, 2, "like", None, at(1_700_000_001)),
        ]
    )
    assert replay == [False, True, True]
    assert await count_events(db) == 5
    keys = (await db.execute(text("SELECT idempotency_key, count(*) FROM events GROUP BY 1"))).all()
    assert {tuple(row) for row in keys} == {("k1", 1), ("k2", 1), ("k3", 1), (None, 2)}
    assert await events.add_many([]) == []


async def test_add_many_refuses_naive_timestamps_and_unknown_movies(db: AsyncSession) -> None:
    events = EventRepository(db)
    with pytest.raises(ValueError, match="event 1: naive occurred_at"):
        await events.add_many(
            [USER_1_EVENTS[0], NewEvent(1, 1, "watch", None, datetime(2025, 1, 1))]
        )
    with pytest.raises(IntegrityError):
        await events.add_many([NewEvent(1, 999, "watch", None, at(1_700_000_000))])


async def test_rated_movies_sums_ratings_and_events_per_movie(db: AsyncSession) -> None:
    await EventRepository(db).add_many(USER_1_EVENTS)
    # A type no longer configured does not count, not even as "seen" (inserted behind the
    # repository's back, as an old row would be).
    await db.execute(
        text(
            "INSERT INTO events (user_id, movie_id, type, occurred_at) VALUES (1, 5, 'share', :at)"
        ),
        {"at": at(1_800_000_000)},
    )
    rated = await UserRepository(db).rated_movies(1, WEIGHTS)
    assert rated is not None
    # 4.0 + watch 1 (the watch is later); like 2 + complete 3; 4.5 + watch 1 (the rating is
    # later); ratings alone; a rating event weighs its value.
    assert sorted(zip(rated.movie_ids, rated.ratings, rated.last_at, strict=True)) == [
        (1, 5.0, 1_700_000_000),
        (2, 5.0, 1_700_000_200),
        (3, 5.5, 964981247),
        (5, 2.0, 964982224),
        (7, 5.0, 964983815),
        (11, 3.5, 1_600_000_000),
    ]

    # Other weights: only "watch" counts now, ten times; movie 2's like/complete drop out.
    custom = await UserRepository(db).rated_movies(1, EventWeights({"watch": 10.0}))
    assert custom is not None
    assert dict(zip(custom.movie_ids, custom.ratings, strict=True)) == {
        1: 14.0,
        3: 14.5,
        5: 2.0,
        7: 5.0,
        11: 3.5,
    }
    # Still None for an unknown user, empty lists for a user without history.
    assert await UserRepository(db).rated_movies(999, WEIGHTS) is None
    await UserRepository(db).ensure([50])
    empty = await UserRepository(db).rated_movies(50, WEIGHTS)
    assert empty is not None and (empty.movie_ids, empty.ratings, empty.last_at) == ([], [], [])


async def test_the_runtime_weighs_events_as_configured(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Repositories read no settings: the runtime builds EventWeights once from
    # RECSYS_EVENT_WEIGHTS and every query is given them.
    from recsys.service.runtime import open_runtime
    from recsys.settings import Settings

    monkeypatch.setenv("RECSYS_EVENT_WEIGHTS", '{"watch": 7}')
    async with open_runtime(Settings(database_url="sqlite+aiosqlite://")) as runtime:
        weights = runtime.weights
    await EventRepository(db).add_many(USER_1_EVENTS[:1])
    rated = await UserRepository(db).rated_movies(1, weights)
    assert rated is not None and rated.ratings[rated.movie_ids.index(1)] == 11.0


async def test_export_sums_ratings_and_events_with_the_latest_time(
    db: AsyncSession, tiny_dataset: TinyDataset
) -> None:
    await EventRepository(db).add_many(
        [*USER_1_EVENTS, NewEvent(4, 2, "watch", None, at(1_000_000_000))]
    )
    exported = await RatingRepository(db).export(WEIGHTS)
    got = {
        (u, m): (w, t)
        for u, m, w, t in zip(
            exported.user_ids.tolist(),
            exported.movie_ids.tolist(),
            exported.ratings.tolist(),
            exported.timestamps.tolist(),
            strict=True,
        )
    }
    expected = {(r.user_id, r.movie_id): (r.rating, r.timestamp) for r in tiny_dataset.ratings}
    expected[(1, 1)] = (5.0, 1_700_000_000)  # rating 4.0 + watch 1, the watch is later
    expected[(1, 3)] = (5.5, 964981247)  # rating 4.5 + watch 1, the rating is later
    expected[(1, 2)] = (5.0, 1_700_000_200)  # like 2 + complete 3
    expected[(1, 11)] = (3.5, 1_600_000_000)  # a rating event
    expected[(4, 2)] = (5.0, 1_230_000_000)  # rating 4.0 + watch 1, the rating is later
    assert len(exported) == len(expected) == 12
    assert got == expected


async def test_count_movies_counts_what_the_export_returns(
    db: AsyncSession, tiny_dataset: TinyDataset
) -> None:
    ratings = RatingRepository(db)
    rated = {r.movie_id for r in tiny_dataset.ratings}
    assert 11 not in rated
    assert await ratings.count_movies(WEIGHTS) == len(rated)
    # An event of a type no longer configured is not exported, so not counted either.
    await db.execute(
        text(
            "INSERT INTO events (user_id, movie_id, type, occurred_at) VALUES (1, 11, 'share', :at)"
        ),
        {"at": at(1_800_000_000)},
    )
    assert await ratings.count_movies(WEIGHTS) == len(rated)
    await EventRepository(db).add_many(USER_1_EVENTS)  # movie 11's rating event counts
    exported = await ratings.export(WEIGHTS)
    assert (
        await ratings.count_movies(WEIGHTS)
        == len(set(exported.movie_ids.tolist()))
        == len(rated | {11})
    )


async def test_ensure_creates_only_missing_users(db: AsyncSession) -> None:
    users = UserRepository(db)
    await users.ensure([1, 500, 500, 501])
    ids = (await db.execute(text("SELECT id FROM users ORDER BY id"))).scalars().all()
    assert list(ids) == [1, 2, 3, 4, 500, 501]
    await users.ensure([])
    with pytest.raises(ValueError, match=r"user id 0 is out of range \[1, 2147483647\]"):
        await users.ensure([0])


async def test_external_ids_resolve_and_create(db: AsyncSession) -> None:
    users, movies = UserRepository(db), MovieRepository(db)
    assert await users.ids_for_external(["u001"], create=False) == {}
    created = await users.ids_for_external(["u001", "u002", "u001"], create=True)
    assert created == {"u001": 5, "u002": 6}  # after the seeded users 1..4
    again = await users.ids_for_external(["u002", "u003"], create=True)
    assert again == {"u002": 6, "u003": 7}

    made = await movies.ids_for_external(["v001", "v002"], create=True)
    assert made == {"v001": 12, "v002": 13}  # after the seeded movie 11
    assert await movies.ids_for_external(["v002", "nope"], create=False) == {"v002": 13}
    titled = await movies.get_many([12])
    assert [(m.title, m.year, m.genres) for m in titled] == [("v001", None, ())]
    assert await movies.external_ids([1, 13, 12, 999]) == {13: "v002", 12: "v001"}
    assert await movies.missing([1, 999, 12, 998, 999]) == [999, 998]
    assert await movies.missing([]) == []


# --------------------------------------------------------------------- concurrency (PostgreSQL)


@pytest.fixture
async def fresh_engine(
    pg_url: str, migrate: Migrate, tiny_dataset: TinyDataset
) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh PostgreSQL database at head with the tiny dataset (commits are real)."""
    await migrate(
        pg_url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
    )
    engine = create_engine(pg_url)
    yield engine
    await engine.dispose()


async def wait_until_blocked(engine: AsyncEngine, pid: int) -> None:
    """Return once backend ``pid`` waits for a lock (so it has read what it read before it)."""
    async with engine.connect() as conn:
        for _ in range(500):
            waiting = await conn.scalar(
                text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


async def backend_pid(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.mark.parametrize("second", ["create", "ensure"])
async def test_concurrent_creates_do_not_collide(fresh_engine: AsyncEngine, second: str) -> None:
    factory = create_session_factory(fresh_engine)
    async with factory() as first, factory() as other:
        # The first transaction creates u001 (id 5) and has not committed yet.
        created = await UserRepository(first).ids_for_external(["u001"], create=True)
        assert created == {"u001": 5}
        pid = await backend_pid(other)

        async def other_creates() -> dict[str, int]:
            if second == "create":
                result = await UserRepository(other).ids_for_external(["u002"], create=True)
            else:
                # A numeric id the first transaction's max + 1 would also pick.
                await UserRepository(other).ensure([6])
                result = await UserRepository(other).ids_for_external(["u003"], create=True)
            await other.commit()
            return result

        task = asyncio.create_task(other_creates())
        # The other transaction read max(id) = 4 already, or waits to: either way it is blocked
        # until the first commits, and must not then reuse id 5.
        await wait_until_blocked(fresh_engine, pid)
        await first.commit()
        result = await task
    async with factory() as check:
        rows = (await check.execute(text("SELECT id, external_id FROM users WHERE id > 4"))).all()
    if second == "create":
        assert result == {"u002": 6}
        assert sorted(tuple(r) for r in rows) == [(5, "u001"), (6, "u002")]
    else:
        assert result == {"u003": 7}
        assert sorted(tuple(r) for r in rows) == [(5, "u001"), (6, None), (7, "u003")]


async def test_concurrent_creates_of_the_same_key_agree(fresh_engine: AsyncEngine) -> None:
    factory = create_session_factory(fresh_engine)
    async with factory() as first, factory() as other:
        assert await MovieRepository(first).ids_for_external(["v001"], create=True) == {"v001": 12}
        pid = await backend_pid(other)

        async def other_creates() -> dict[str, int]:
            result = await MovieRepository(other).ids_for_external(["v001", "v002"], create=True)
            await other.commit()
            return result

        task = asyncio.create_task(other_creates())
        await wait_until_blocked(fresh_engine, pid)
        await first.commit()
        assert await task == {"v001": 12, "v002": 13}


async def test_concurrent_replays_of_a_key_store_it_once(fresh_engine: AsyncEngine) -> None:
    factory = create_session_factory(fresh_engine)
    event = NewEvent(1, 2, "like", None, at(1_700_000_000), idempotency_key="same")
    async with factory() as first, factory() as other:
        assert await EventRepository(first).add_many([event]) == [True]
        pid = await backend_pid(other)
        task = asyncio.create_task(EventRepository(other).add_many([event]))
        await wait_until_blocked(fresh_engine, pid)
        await first.commit()
        assert await task == [False]
        await other.commit()
    async with factory() as check:
        assert await count_events(check) == 1
