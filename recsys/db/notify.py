"""Which users' histories changed: ``LISTEN recsys_history`` on a dedicated asyncpg connection.

Migration 0004 makes every write to ``ratings`` or ``events`` send ``NOTIFY recsys_history``
with the changed user ids ("12,40") or ``*`` (too many to list, or a TRUNCATE) when its
transaction commits. ``listen_history`` keeps one connection listening for the life of the
process, reconnecting after a loss, and tells its ``HistorySubscriber``:

- ``connected()`` once LISTEN is in place (after the first connect and after each reconnect):
  from then on every committed write reaches ``changed``;
- ``changed(ids)`` per notification, ``ids`` None meaning "everything may have changed";
- ``lost(reason)`` when the connection is gone: writes may be missed until ``connected()``.

The callbacks run on the event loop, in order, and must not block.

``HistoryListener.sync()`` makes a writer's own commits visible to its own process before it
answers: it notifies a marker on the listening connection and waits for it to come back.
PostgreSQL delivers notifications in commit order, so by then every change committed before
the call has been handed to ``changed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

CHANNEL = "recsys_history"
# The triggers migration 0004 creates: without all of them, the notifications are incomplete.
TRIGGERS = tuple(
    f"{table}_notify_{kind}"
    for table in ("ratings", "events")
    for kind in ("insert", "update", "delete", "truncate")
)
CONNECT_TIMEOUT_S = 5.0
# How the listening session shows in pg_stat_activity.
APPLICATION_NAME = "recsys-history-listener"
# Retry backoff after a lost or refused connection: doubling from the first to the last.
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
# How often the idle connection is checked: a silently dead link (a frozen or partitioned
# server) sends no termination, so an unanswered ping is the only sign notifications stopped.
PING_EVERY_S = 5.0
# How long a writer waits for its own marker before answering anyway.
SYNC_TIMEOUT_S = 1.0
_SYNC_PREFIX = "sync:"
# How often a database without the triggers is checked again (someone may migrate it).
MISSING_TRIGGERS_RETRY_S = 60.0


# What the driver raises on a lost or broken connection. InternalClientError: a shutdown's
# FATAL message reached the idle connection before its close did, and asyncpg parked the
# protocol in its error state (the next query: "another operation (2) is in progress"); the
# ping can run into that before the close reaches the termination listener.
_DRIVER_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
_SYNC_ERRORS: tuple[type[Exception], ...] = (TimeoutError, OSError, *_DRIVER_ERRORS)


class MissingTriggersError(RuntimeError):
    """The database was not migrated to 0004: writes would send no notifications."""


class HistorySubscriber(Protocol):
    """What ``listen_history`` reports to."""

    def connected(self) -> None: ...

    def changed(self, user_ids: tuple[int, ...] | None) -> None: ...

    def lost(self, reason: str) -> None: ...


def parse_payload(payload: str) -> tuple[int, ...] | None:
    """``"12,40"`` -> (12, 40); ``"*"`` or anything unreadable -> None (everything changed)."""
    if payload == "*":
        return None
    try:
        return tuple(int(part) for part in payload.split(","))
    except ValueError:
        return None


def asyncpg_dsn(database_url: str) -> str:
    """The plain libpq URL asyncpg takes, from a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def has_notify_triggers(connection: Any) -> bool:
    """True when the database has every trigger of migration 0004 (an asyncpg connection)."""
    found = await connection.fetchval(
        "SELECT count(*) FROM pg_trigger WHERE tgname = ANY($1::text[]) AND NOT tgisinternal",
        list(TRIGGERS),
    )
    return int(found) == len(TRIGGERS)


class HistoryListener:
    """One LISTEN connection, kept open in a background task (see ``listen_history``)."""

    def __init__(self, dsn: str, subscriber: HistorySubscriber) -> None:
        self._dsn = dsn
        self._subscriber = subscriber
        self._connection: Any = None
        # One operation at a time on the connection (the pinger and sync share it).
        self._lock = asyncio.Lock()
        self._markers = itertools.count()
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._told_missing = False

    async def sync(self, timeout: float = SYNC_TIMEOUT_S) -> bool:
        """Wait until every change committed before this call reached the subscriber.

        False when not listening or the marker did not come back within ``timeout``.
        """
        connection = self._connection
        if connection is None:
            return False
        marker = f"{_SYNC_PREFIX}{id(self)}:{next(self._markers)}"
        arrived = asyncio.get_running_loop().create_future()
        self._waiting[marker] = arrived
        try:
            async with asyncio.timeout(timeout):
                async with self._lock:
                    await connection.execute(f"NOTIFY {CHANNEL}, '{marker}'")
                await arrived
        except _SYNC_ERRORS:
            return False
        finally:
            self._waiting.pop(marker, None)
        return True

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff."""
        delay = RETRY_FIRST_S
        while True:
            try:
                await self._listen_once()
                reason = "connection closed"
            except asyncio.CancelledError:
                raise
            except MissingTriggersError as exc:
                self._subscriber.lost(str(exc))
                if not self._told_missing:
                    logger.warning("history cache off: %s", exc)
                    self._told_missing = True
                await asyncio.sleep(MISSING_TRIGGERS_RETRY_S)
                continue
            except Exception as exc:
                # Whatever ended the connection, the task must live on: a listener that dies
                # leaves the cache trusting what it holds with nobody telling it of writes
                # (benchmarks/outage.py: InternalClientError from the ping, below, killed it,
                # and one worker answered stale histories after the outage).
                reason = f"{type(exc).__name__}: {exc}"
            else:
                delay = RETRY_FIRST_S
            self._subscriber.lost(reason)
            logger.warning("history notifications lost (%s); retrying in %.1f s", reason, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(_SYNC_PREFIX):
            arrived = self._waiting.get(payload)
            if arrived is not None and not arrived.done():
                arrived.set_result(None)
            return
        self._subscriber.changed(parse_payload(payload))

    async def _listen_once(self) -> None:
        # Returns (or raises) when the connection is lost.
        connection = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={"application_name": APPLICATION_NAME},
        )
        closed = asyncio.Event()
        try:
            if not await has_notify_triggers(connection):
                raise MissingTriggersError(
                    "the database lacks migration 0004's triggers (run `recsys db upgrade`): "
                    "histories are read per request"
                )
            connection.add_termination_listener(lambda _conn: closed.set())
            await connection.add_listener(CHANNEL, self._on_notify)
            self._connection = connection
            self._subscriber.connected()
            while not closed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), PING_EVERY_S)
                    break
                async with asyncio.timeout(CONNECT_TIMEOUT_S), self._lock:
                    await connection.fetchval("SELECT 1")
        finally:
            self._connection = None
            if not connection.is_closed():
                connection.terminate()


@contextlib.asynccontextmanager
async def listen_history(
    database_url: str, subscriber: HistorySubscriber
) -> AsyncIterator[HistoryListener]:
    """Listen in a background task for the body of the ``async with``; reconnects by itself."""
    listener = HistoryListener(asyncpg_dsn(database_url), subscriber)
    task = asyncio.create_task(listener.run())
    try:
        yield listener
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
