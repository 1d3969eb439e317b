"""The streaming training read against the reader it replaced (one joined buffer, then decode).

Same query, same rows in the same order: the arrays must be identical, on real ML-100K with
events added and on a small synthetic dataset, and so must the fingerprint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recsys.data.fingerprint import interactions_fingerprint, is_sorted_by_pair
from recsys.data.frames import Interactions
from recsys.data.synth import generate
from recsys.data.writer import write_dataset
from recsys.db.models import Event
from recsys.db.pgcopy import decode_ratings
from recsys.db.repositories import DatasetSeedRepository, EventRepository, NewEvent, _weights
from recsys.db.repositories.ratings import _EXPORT_QUERY, _EXPORT_WITH_EVENTS
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.service.training import read_interactions

WEIGHTS = EventWeights({"watch": 1.0, "like": 2.0, "complete": 3.0})
Migrate = Callable[..., Awaitable[None]]


async def _reference_read(session: AsyncSession, weights: EventWeights) -> Interactions:
    """The previous export: every COPY chunk kept, joined into one buffer, decoded at once."""
    connection = await session.connection()
    has_events = bool((await connection.execute(select(exists().select_from(Event)))).scalar())
    driver: Any = (await connection.get_raw_connection()).driver_connection
    chunks: list[bytes] = []

    async def sink(data: bytes) -> None:
        chunks.append(data)

    if has_events:
        types, values = _weights.pg_arrays(weights)
        await driver.copy_from_query(
            _EXPORT_WITH_EVENTS, types, values, output=sink, format="binary"
        )
    else:
        await driver.copy_from_query(_EXPORT_QUERY, output=sink, format="binary")
    return decode_ratings(b"".join(chunks))


def _assert_identical(got: Interactions, want: Interactions) -> None:
    for name in ("user_ids", "movie_ids", "ratings", "timestamps"):
        have, expected = getattr(got, name), getattr(want, name)
        assert have.dtype == expected.dtype, name
        np.testing.assert_array_equal(have, expected, err_msg=name)
    assert interactions_fingerprint(got) == interactions_fingerprint(want)


async def _both(sessions: async_sessionmaker[AsyncSession]) -> tuple[Interactions, Interactions]:
    new = await read_interactions(sessions, WEIGHTS)
    async with sessions() as session:
        old = await _reference_read(session, WEIGHTS)
    return new, old


@pytest.mark.realdata
@pytest.mark.slow
async def test_ml100k_with_events_reads_the_same_arrays(
    ml100k_sessions: async_sessionmaker[AsyncSession],
) -> None:
    new, old = await _both(ml100k_sessions)
    assert len(new) == 100_000
    _assert_identical(new, old)
    # The seed stored the rows in (user, movie) order, so a plain scan returns them sorted and
    # the fingerprint needs no sort; it is still the seed's.
    assert is_sorted_by_pair(new.user_ids, new.movie_ids)
    async with ml100k_sessions() as session:
        seed = await DatasetSeedRepository(session).latest()
    assert seed is not None and seed.fingerprint == interactions_fingerprint(new)

    rng = np.random.default_rng(13)
    types = ["watch", "like", "complete", "rating", "unconfigured"]
    events = [
        NewEvent(
            int(rng.integers(1, 944)),
            int(rng.integers(1, 1683)),
            types[i % len(types)],
            float(rng.integers(1, 11) / 2),
            datetime.fromtimestamp(int(rng.integers(800_000_000, 1_700_000_000)), UTC),
        )
        for i in range(3_000)
    ]
    async with ml100k_sessions() as session:
        await EventRepository(session).add_many(events)
        await session.commit()
    try:
        new, old = await _both(ml100k_sessions)
        assert len(new) > 100_000
        _assert_identical(new, old)
    finally:
        async with ml100k_sessions() as session:
            await session.execute(delete(Event))
            await session.commit()


@pytest.mark.slow
async def test_synthetic_dataset_reads_the_same_arrays(
    pg_url: str, migrate: Migrate, tmp_path: Path
) -> None:
    synthetic = generate(users=400, items=300, interactions=30_000, seed=5)
    write_dataset(synthetic, tmp_path / "synth")
    await migrate(pg_url, "upgrade", "head", dataset="synth", data_dir=tmp_path)
    engine = create_engine(pg_url)
    try:
        sessions = create_session_factory(engine)
        new, old = await _both(sessions)
        async with sessions() as session:
            seed = await DatasetSeedRepository(session).latest()
    finally:
        await engine.dispose()
    assert len(new) == len(synthetic.ratings) == 30_000
    _assert_identical(new, old)
    assert seed is not None and seed.fingerprint == interactions_fingerprint(new)
    # And the seed's fingerprint is that of the files, whatever order they list the rows in.
    ratings = synthetic.ratings
    stamps = ratings["rated_at"].to_numpy(dtype="datetime64[s]").view(np.int64)
    from_files = Interactions(
        user_ids=ratings["user_id"].to_numpy(dtype=np.int64),
        movie_ids=ratings["movie_id"].to_numpy(dtype=np.int64),
        ratings=ratings["rating"].to_numpy(dtype=np.float32),
        timestamps=stamps,
    )
    assert not is_sorted_by_pair(from_files.user_ids, from_files.movie_ids)
    assert interactions_fingerprint(from_files) == seed.fingerprint
