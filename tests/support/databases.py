"""PostgreSQL URLs and Alembic runs for the tests' throwaway databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from alembic import command
from sqlalchemy.engine import make_url

from recsys.cli.db import alembic_config

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

Migrate = Callable[..., Awaitable[None]]


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as a DSN asyncpg connects to (password kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def run_alembic(url: str, action: str, revision: str = "head", **attributes: Any) -> None:
    """Run ``alembic upgrade|downgrade REVISION`` against ``url`` as the CLI does."""
    config = alembic_config(database_url=url)
    config.attributes.update(attributes)
    fn = {"upgrade": command.upgrade, "downgrade": command.downgrade}[action]
    # env.py runs its own event loop (asyncio.run), so it needs a thread without one.
    await asyncio.to_thread(fn, config, revision)
