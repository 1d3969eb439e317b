"""Is the database there? The one place that turns a lost database into a domain error.

Any request path may meet a refused connect, a connection cut by a restart or a pool that
cannot hand one out. ``DatabaseAvailability.translate`` says which exceptions mean that (they
become ``DatabaseUnavailableError``, a 503) and logs one WARNING when the database goes away and
one INFO when a connection is handed out again (failures just after that are stragglers, not a
new outage: ``STRAGGLER_GRACE_S``), not a traceback per request. ``_record`` is the
single place every failure passes through (a metrics hook goes there).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from recsys.db.repositories.users import DISCONNECT_ERRORS
from recsys.service.errors import DatabaseUnavailableError
from recsys.service.metrics import count_database_error

logger = logging.getLogger(__name__)

# Always "unavailable": SQLAlchemy wraps the driver's connection failures in these, the pool
# raises TimeoutError when no connection frees up, and a refused or unreachable connect comes
# through raw as an OSError (ConnectionRefusedError, TimeoutError, gaierror). A query the
# statement timeout cancelled (RECSYS_DB_STATEMENT_TIMEOUT_MS) is a database too slow to
# answer: also a 503, on the raw-driver path as asyncpg's own error.
_ALWAYS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    asyncpg.exceptions.QueryCanceledError,
    *(e for e in DISCONNECT_ERRORS if e is not OSError),
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)
# A plain OSError is a lost database only for a network errno (or asyncpg's "Multiple
# exceptions" when every address of the host refused): a missing file is not, and must
# stay a 500 rather than pass for "database unavailable".
_NETWORK_ERRNOS = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.ECONNREFUSED, errno.EPIPE}
)
_QUERY_CANCELED = "57014"  # SQLSTATE of statement_timeout
# SQLSTATEs of a server that cannot serve us right now, whatever the driver's exception type:
# connection exceptions (class 08), a shutdown or crash that ends our session (57P01, 57P02),
# "the database system is shutting down / starting up" (57P03, what a new connection meets
# while `pg_ctl stop` or `start` is under way: SQLAlchemy wraps it in a plain DBAPIError with
# nothing invalidated, measured as 500s by benchmarks/outage.py), "too many clients" (53300,
# the pool refilling after a restart against other clients) and the statement timeout.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", _QUERY_CANCELED})
_CONNECTION_EXCEPTION_CLASS = "08"


# What the API routes to ``translate`` (it answers 500 for what translate returns None for).
UNAVAILABLE_TYPES: tuple[type[Exception], ...] = (*_ALWAYS, OSError, sa_exc.DBAPIError)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached (not a bad query or bad data)."""
    if isinstance(exc, _ALWAYS):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _NETWORK_ERRNOS or str(exc).startswith("Multiple exceptions")
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    # Any other DBAPI error SQLAlchemy judged a disconnect (it invalidated the pool for it), or
    # a server-side state that means "not now" (SQLAlchemy wraps most asyncpg errors in its
    # generic Error, which keeps the SQLSTATE).
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if not isinstance(sqlstate, str):
        return False
    return sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith(_CONNECTION_EXCEPTION_CLASS)


# After "database is back", failures for this long are stragglers unless they persist: the
# connects and queries that began before the database returned still fail for a moment (a
# server answers "the database system is starting up" to connects it received before it was
# ready). Without this, benchmarks/outage.py logged back/unavailable flapping 2-4 times per
# worker. A new outage that begins within the grace is announced when it outlasts it.
STRAGGLER_GRACE_S = 2.0


class DatabaseAvailability:
    """Whether the last thing we heard from the database was a failure; logs transitions."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._down = False
        self._announced = False  # the WARNING went out; the INFO "back" will follow
        self._clock = clock
        self._back_at = -STRAGGLER_GRACE_S
        self.failures = 0

    @property
    def down(self) -> bool:
        """True from a connection failure until the pool hands out a connection again."""
        return self._down

    def handed_out(self) -> None:
        """The pool handed out a connection: the database answers (logged once)."""
        if not self._down:
            return
        self._down = False
        if self._announced:
            self._announced = False
            self._back_at = self._clock()
            logger.info("database is back")

    def watch(self, engine: AsyncEngine) -> None:
        """Hear from ``engine``'s pool: a checkout means the database answers again.

        With pre-ping off a checkout can still hand out a dead connection, but only one the
        pool has not been told about: after the first failure the pool is invalidated and
        every checkout reconnects, so a checkout after a failure is a real connection.
        """

        def _on_checkout(*_args: Any) -> None:
            self.handed_out()

        def _on_error(context: ExceptionContext) -> None:
            # The driver's own timeout (command_timeout: a frozen database), socket errors and
            # a protocol left in its error state by a shutdown (InternalClientError, see
            # DISCONNECT_ERRORS) reach SQLAlchemy unwrapped, so it would put the connection
            # back in the pool; call them disconnects so it is dropped and the pool
            # re-validated.
            unwrapped = (OSError, asyncpg.exceptions.InternalClientError)
            if isinstance(context.original_exception, unwrapped) and not context.is_pre_ping:
                context.is_disconnect = True

        event.listen(engine.sync_engine, "checkout", _on_checkout)
        event.listen(engine.sync_engine, "handle_error", _on_error)

    def translate(self, exc: BaseException) -> DatabaseUnavailableError | None:
        """``DatabaseUnavailableError`` for a connection failure (recorded), else None."""
        if not is_unavailable(exc):
            return None
        self._record(exc)
        return DatabaseUnavailableError()

    def _record(self, exc: BaseException) -> None:
        self.failures += 1
        count_database_error(type(exc).__name__)  # a bounded set: the types _ALWAYS lists
        self._down = True
        if not self._announced and self._clock() - self._back_at >= STRAGGLER_GRACE_S:
            self._announced = True
            logger.warning("database unavailable (%s); answering 503", type(exc).__name__)
        # The driver's text stays out of answers and out of the WARNING: it may name hosts.
        logger.debug("database error", exc_info=exc)
