"""Which errors mean "the database is gone" (503) and which stay bugs (500)."""

from __future__ import annotations

import errno

import pytest
from prometheus_client import REGISTRY

from recsys.service.availability import DatabaseAvailability, is_unavailable


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
        ConnectionResetError(errno.ECONNRESET, "reset by peer"),
        TimeoutError(),
        OSError(errno.EHOSTUNREACH, "No route to host"),
        OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
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
