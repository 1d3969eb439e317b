"""Fixtures shared by the integration modules: a PostgreSQL database with real ML-100K seeded.

Module-scoped, so each test module gets its own database and may write to it freely.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recsys.db.session import create_engine, create_session_factory


@pytest.fixture(scope="module")
async def ml100k_url(
    _pg_databases: Callable[[], Awaitable[str]],
    ml100k_dir: Path,
    migrate: Callable[..., Awaitable[None]],
) -> str:
    """A PostgreSQL database at head with the real MovieLens 100K seeded."""
    url = await _pg_databases()
    await migrate(url, "upgrade", "head", dataset="ml-100k", data_dir=ml100k_dir.parent)
    return url


@pytest.fixture(scope="module")
async def ml100k_engine(ml100k_url: str) -> AsyncIterator[AsyncEngine]:
    """Engine on ``ml100k_url``."""
    engine = create_engine(ml100k_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def ml100k_sessions(ml100k_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``ml100k_url`` that really commit: clean up what you write."""
    return create_session_factory(ml100k_engine)
