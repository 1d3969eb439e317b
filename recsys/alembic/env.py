"""Alembic environment: async engine, URL from recsys Settings unless the caller overrides it.

Precedence for the database: ``config.attributes["connection"]`` (a sync Connection a caller
already opened, e.g. tests via ``AsyncConnection.run_sync``), then
``config.attributes["database_url"]``, then ``-x database_url=...``, then
``Settings().database_url`` (RECSYS_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from recsys.db.models import Base
from recsys.db.session import create_engine, ensure_sqlite_dir
from recsys.settings import Settings

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get(
        "database_url"
    )
    return str(url) if url else Settings().database_url


def _run_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # One transaction around the whole upgrade, SQLite included (its engine emits a real
        # BEGIN, see recsys.db.session), so a failed seed also undoes the schema it ran after.
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    ensure_sqlite_dir(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        _run_offline()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    asyncio.run(_run_online(_database_url()))


_main()
