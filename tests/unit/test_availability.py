"""Which errors mean "the database is gone" (503) and which stay bugs (500)."""

from __future__ import annotations

import errno
import logging

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

from recsys.service.availability import STRAGGLER_GRACE_S, DatabaseAvailability, is_unavailable


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
        ConnectionResetError(errno.ECONNRESET, "reset by peer"),
        TimeoutError(),
        OSError(errno.EHOSTUNREACH, "No route to host"),
        OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
        # A pooled connection whose protocol a shutdown's FATAL message left in its error state.
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation"),
    ],
)
def test_network_errors_mean_unavailable(exc: BaseException) -> None:
    assert is_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        FileNotFoundError(errno.ENOENT, "No such file", "/artifacts/als/LATEST"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
        ValueError("bad input"),
    ],
)
def test_other_errors_stay_bugs(exc: BaseException) -> None:
    assert not is_unavailable(exc)


def _wrapped(driver_error: asyncpg.PostgresError) -> sa_exc.DBAPIError:
    # What SQLAlchemy raises for an asyncpg error met while connecting: its adapter's generic
    # Error (keeping the SQLSTATE) inside a plain DBAPIError, with nothing invalidated.
    adapted = AsyncAdapt_asyncpg_dbapi.Error(str(driver_error), driver_error)  # type: ignore[no-untyped-call]
    return sa_exc.DBAPIError(None, None, adapted)


@pytest.mark.parametrize(
    "driver_error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),  # class 08
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    ],
)
def test_server_states_that_mean_not_now_are_unavailable(
    driver_error: asyncpg.PostgresError,
) -> None:
    error = _wrapped(driver_error)
    assert not error.connection_invalidated
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "driver_error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.UndefinedTableError('relation "ratings" does not exist'),
        asyncpg.exceptions.InvalidPasswordError("password authentication failed"),
    ],
)
def test_database_errors_of_our_own_making_stay_bugs(driver_error: asyncpg.PostgresError) -> None:
    assert not is_unavailable(_wrapped(driver_error))


def test_each_translated_failure_is_counted_by_kind() -> None:
    def count() -> float:
        value = REGISTRY.get_sample_value(
            "recsys_database_errors_total", {"kind": "ConnectionRefusedError"}
        )
        return value or 0.0

    before = count()
    availability = DatabaseAvailability()
    assert availability.translate(ConnectionRefusedError(errno.ECONNREFUSED, "x")) is not None
    assert availability.translate(FileNotFoundError(errno.ENOENT, "x")) is None
    assert count() == before + 1
    assert availability.down


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_each_way_and_stragglers_after_a_return_are_not_a_new_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="recsys.service.availability")
    clock = _Clock()
    availability = DatabaseAvailability(clock=clock)
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "x")

    def lines() -> list[str]:
        return [r.getMessage().split(" (")[0] for r in caplog.records]

    for _ in range(3):
        assert availability.translate(refused) is not None
    availability.handed_out()
    assert lines() == ["database unavailable", "database is back"]
    # A connect that began before the return fails a moment after it, then all is well.
    clock.now += STRAGGLER_GRACE_S / 2
    availability.translate(refused)
    assert availability.down
    availability.handed_out()
    assert not availability.down
    assert lines() == ["database unavailable", "database is back"]
    # A new outage that begins inside the grace is announced once it outlasts it.
    availability.translate(refused)
    clock.now += STRAGGLER_GRACE_S
    availability.translate(refused)
    availability.handed_out()
    assert lines() == ["database unavailable", "database is back"] * 2
