"""ReadinessProbe on SQLite: what it says of a migrated, an unmigrated and an absent database."""

from __future__ import annotations

import logging
from pathlib import Path
from types import MappingProxyType

import pytest

from recsys.db.session import create_engine, create_session_factory
from recsys.service.readiness import ReadinessProbe
from recsys.service.registry import ModelRegistry

NOTHING = ModelRegistry(configured=(), loaded=MappingProxyType({}), missing=MappingProxyType({}))


async def database_status(url: str, probe: ReadinessProbe) -> str:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            return (await probe.check(session, NOTHING)).database
    finally:
        await engine.dispose()


async def test_a_migrated_database_is_ok(tiny_sqlite_url: str) -> None:
    assert await database_status(tiny_sqlite_url, ReadinessProbe()) == "ok"


async def test_an_unmigrated_database_says_so_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    probe = ReadinessProbe()
    with caplog.at_level(logging.INFO, logger="recsys.service.readiness"):
        statuses = [await database_status(url, probe) for _ in range(3)]
    assert statuses == ["not migrated (run: recsys db upgrade)"] * 3
    [logged] = caplog.records
    assert "no such table" in logged.getMessage()  # the detail is in the log, once


async def test_a_database_that_cannot_be_opened_is_unreachable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'recsys.db'}"
    status = await database_status(url, ReadinessProbe())
    assert status == "unreachable"
