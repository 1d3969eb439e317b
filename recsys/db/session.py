"""Async engine and session factories; callers own them (no module-global engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry


def is_sqlite_url(url: str) -> bool:
    """True for a SQLite URL (any driver)."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """File a SQLite URL points at, or None for an in-memory database or another backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite database file (e.g. ./var/) if it is missing."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 5,
    max_overflow: int = 10,
    pre_ping: bool = True,
    connect_timeout: float | None = None,
    statement_timeout_ms: int | None = None,
) -> AsyncEngine:
    """Async engine for ``url``: SQLite gets FKs, WAL and real transactions; PostgreSQL a pool.

    The API passes ``pool_size`` >= the requests one worker serves at once, no overflow and
    ``pre_ping`` off. Measured with wrk at 32 connections, a 5 + 10-overflow pool starved
    waiters (p99 in seconds: asyncio's queue lets a newcomer take a returned connection before
    a woken waiter, and overflow connections are closed on check-in and reopened), and the
    pre-ping costs a round trip per checkout. Without it the pool still heals: the first error
    on a connection broken by a database restart makes SQLAlchemy invalidate the whole pool
    (every connection opened before it reconnects on its next checkout), and the one query
    sent through the raw driver (UserRepository.rated_movies) does the same by hand. That
    first request fails (the service answers 503); the ones after it reconnect.

    ``connect_timeout`` (seconds) bounds opening a connection and waiting for a pooled one;
    ``statement_timeout_ms`` each query, twice: PostgreSQL's ``statement_timeout`` cancels a
    slow query server-side, and the driver's ``command_timeout`` (a little longer) gives up
    on a database that answers nothing at all (frozen, or a dead network path).
    """
    if is_sqlite_url(url):
        engine = _create_async_engine(url, echo=echo)
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    if statement_timeout_ms is not None:
        connect_args["server_settings"] = {"statement_timeout": str(statement_timeout_ms)}
        connect_args["command_timeout"] = statement_timeout_ms / 1000 + 1.0
    return _create_async_engine(
        url,
        echo=echo,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=connect_timeout if connect_timeout is not None else 30,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory whose objects stay readable after commit (expire_on_commit=False)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _on_begin): sqlite3's legacy mode would not
        # wrap DDL in the transaction, so a failed migration could leave half a schema behind.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets the API read while a training job or a seed writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")
