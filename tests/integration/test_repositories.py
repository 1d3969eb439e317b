"""Repositories against the tiny dataset seeded by the migrations, on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.data.fingerprint import interactions_fingerprint
from recsys.db.repositories import (
    DatasetSeedRepository,
    MovieRecord,
    MovieRepository,
    RatingRepository,
    UserRepository,
)
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.settings import DEFAULT_EVENT_WEIGHTS

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset

Migrate = Callable[..., Awaitable[None]]


@pytest.fixture(scope="session")
async def sqlite_seeded_url(
    tmp_path_factory: pytest.TempPathFactory, migrate: Migrate, tiny_dataset: TinyDataset
) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "var" / "recsys.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir)
    return url


@pytest.fixture
async def sqlite_session(sqlite_seeded_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(sqlite_seeded_url)
    try:
        async with create_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> AsyncSession:
    """A session on the seeded tiny dataset, on each backend."""
    # A sync fixture: pytest-asyncio runs the chosen async fixture on the session loop for us.
    name = "session" if request.param == "postgresql" else "sqlite_session"
    session: AsyncSession = request.getfixturevalue(name)
    return session


async def test_get_many_keeps_the_requested_order_and_skips_unknown(db: AsyncSession) -> None:
    movies = await MovieRepository(db).get_many([7, 999, 1, 3, 1])
    assert movies == [
        MovieRecord(7, "Sabrina", 1995, ("Comedy", "Romance")),
        MovieRecord(1, "Toy Story", 1995, ("Animation", "Children's", "Comedy")),
        MovieRecord(3, "Heat", 1995, ("Action", "Crime", "Thriller")),
    ]
    assert await MovieRepository(db).get_many([]) == []


async def test_get_many_returns_every_catalogue_movie(
    db: AsyncSession, tiny_dataset: TinyDataset
) -> None:
    ids = [m.id for m in reversed(tiny_dataset.movies)]
    movies = await MovieRepository(db).get_many(ids)
    assert [m.id for m in movies] == ids
    assert {m.id: (m.title, m.year, m.genres) for m in movies} == {
        m.id: (m.title, m.year, m.genres) for m in tiny_dataset.movies
    }


async def test_user_exists(db: AsyncSession) -> None:
    users = UserRepository(db)
    assert await users.exists(1)
    assert await users.exists(4)
    assert not await users.exists(5)
    assert not await users.exists(-1)


async def test_history_is_newest_first_with_aware_utc_times(db: AsyncSession) -> None:
    history = await RatingRepository(db).history(1)
    assert [(h.movie_id, h.rating) for h in history] == [(7, 5.0), (1, 4.0), (5, 2.0), (3, 4.5)]
    assert history[0].rated_at == datetime.fromtimestamp(964983815, tz=UTC)
    assert all(h.rated_at.tzinfo is not None for h in history)


async def test_history_limit_and_ties(db: AsyncSession) -> None:
    ratings = RatingRepository(db)
    assert [h.movie_id for h in await ratings.history(1, limit=2)] == [7, 1]
    # User 2 rated movies 3 and 2 in the same second: ties go by movie id.
    assert [h.movie_id for h in await ratings.history(2)] == [2, 3, 1]
    assert await ratings.history(99) == []
    with pytest.raises(ValueError, match="limit"):
        await ratings.history(1, limit=-1)


async def test_export_equals_what_was_seeded(db: AsyncSession, tiny_dataset: TinyDataset) -> None:
    exported = await RatingRepository(db).export(WEIGHTS)
    assert exported.user_ids.dtype == np.int64
    assert exported.ratings.dtype == np.float32
    assert exported.timestamps.dtype == np.int64
    got = sorted(
        zip(
            exported.user_ids.tolist(),
            exported.movie_ids.tolist(),
            exported.ratings.tolist(),
            exported.timestamps.tolist(),
            strict=True,
        )
    )
    assert got == sorted(
        (r.user_id, r.movie_id, r.rating, r.timestamp) for r in tiny_dataset.ratings
    )
    seed = await DatasetSeedRepository(db).latest()
    assert seed is not None
    assert (seed.name, seed.users, seed.movies, seed.ratings) == ("tiny", 4, 6, 10)
    assert seed.fingerprint == interactions_fingerprint(exported)


async def test_export_of_an_empty_table(db: AsyncSession) -> None:
    # Inside the test's transaction (rolled back on PostgreSQL; never committed on SQLite).
    await db.execute(text("DELETE FROM ratings"))
    exported = await RatingRepository(db).export(WEIGHTS)
    assert len(exported) == 0
    assert exported.timestamps.dtype == np.int64
    await db.rollback()


async def test_session_fixture_rolls_back_between_tests_part_1(session: AsyncSession) -> None:
    await session.execute(text("INSERT INTO users (id) VALUES (1001)"))
    await session.commit()
    assert await UserRepository(session).exists(1001)


async def test_session_fixture_rolls_back_between_tests_part_2(session: AsyncSession) -> None:
    assert not await UserRepository(session).exists(1001)


@pytest.mark.realdata
@pytest.mark.slow
async def test_export_ml100k_matches_the_seed_fingerprint(
    pg_url: str, migrate: Migrate, ml100k_dir: Path
) -> None:
    await migrate(pg_url, "upgrade", "head", dataset=ml100k_dir.name, data_dir=ml100k_dir.parent)
    engine = create_engine(pg_url)
    try:
        async with create_session_factory(engine)() as session:
            exported = await RatingRepository(session).export(WEIGHTS)
            seed = await DatasetSeedRepository(session).latest()
    finally:
        await engine.dispose()
    assert len(exported) == 100_000
    assert seed is not None and seed.fingerprint == interactions_fingerprint(exported)
    assert float(exported.ratings.mean()) == pytest.approx(3.52986, abs=1e-5)


async def test_count_movies_is_the_exported_catalogue(db: AsyncSession) -> None:
    ratings = RatingRepository(db)
    exported = await ratings.export(WEIGHTS)
    assert await ratings.count_movies(WEIGHTS) == np.unique(exported.movie_ids).shape[0] > 1
