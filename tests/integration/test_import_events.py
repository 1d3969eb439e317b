"""``recsys data import-events`` against real databases: ids created, all-or-nothing, training.

Each test gets a fresh PostgreSQL database at head with the tiny dataset (users 1-4, movies
1, 2, 3, 5, 7, 11; user 1 rated movie 1 with 4.0), or a SQLite file with the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from recsys.cli.data import app
from recsys.db import event_import
from recsys.db.repositories import RatingRepository
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import open_store
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset

Migrate = Callable[..., Awaitable[None]]
runner = CliRunner()
HEADER = "userId,videoId,interactionType,interactionValue,location,timestamp"
SEED = [
    "u001,v001,watch,1,USA,2025-01-01 10:10:00",
    "u001,v001,like,2,USA,2025-01-01 10:20:00",
    "u001,v002,watch,1,USA,2025-01-02 09:00:00",
    "u002,v003,watch,1,UK,2025-01-03 14:30:00",
    "u002,v003,complete,3,UK,2025-01-03 14:45:00",
]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(params=["postgresql", "sqlite"])
async def db_url(
    request: pytest.FixtureRequest,
    _pg_databases: Callable[[], Awaitable[str]],
    migrate: Migrate,
    tiny_dataset: TinyDataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A fresh database at head with the tiny dataset; RECSYS_DATABASE_URL points at it."""
    if request.param == "postgresql":
        url = await _pg_databases()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'recsys.db'}"
    await migrate(url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir)
    monkeypatch.setenv("RECSYS_DATABASE_URL", url)
    monkeypatch.delenv("RECSYS_EVENT_WEIGHTS", raising=False)
    return url


async def invoke(*args: str) -> Result:
    # The command runs its own event loop (asyncio.run), so it needs a thread without one.
    return await asyncio.to_thread(runner.invoke, app, ["import-events", *args])


async def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: await query(url, f"SELECT * FROM {table} ORDER BY 1, 2")
        for table in ("users", "movies", "ratings", "events")
    }


async def test_import_creates_unknown_users_and_movies_with_external_ids(
    db_url: str, tmp_path: Path
) -> None:
    result = await invoke(str(write(tmp_path / "seed.csv", SEED)))
    assert result.exit_code == 0, result.output
    assert "imported 5 events" in result.stdout
    assert "2 users (2 new), 3 movies (3 new)" in result.stdout

    # After the seeded users 1-4 and movies up to 11; a new movie is titled by its id.
    assert await query(db_url, "SELECT id, external_id FROM users WHERE id > 4 ORDER BY id") == [
        (5, "u001"),
        (6, "u002"),
    ]
    movies = await query(db_url, "SELECT id, external_id, title, year FROM movies WHERE id > 11")
    assert sorted(movies) == [
        (12, "v001", "v001", None),
        (13, "v002", "v002", None),
        (14, "v003", "v003", None),
    ]
    events = await query(
        db_url, "SELECT user_id, movie_id, type, value FROM events ORDER BY occurred_at"
    )
    assert events == [
        (5, 12, "watch", 1.0),
        (5, 12, "like", 2.0),
        (5, 13, "watch", 1.0),
        (6, 14, "watch", 1.0),
        (6, 14, "complete", 3.0),
    ]

    # A second file: u001 and v003 are known now, u003 and v004 are new.
    more = write(
        tmp_path / "more.csv",
        ["u001,v003,like,2,USA,2025-01-04 10:00:00", "u003,v004,watch,1,FR,2025-01-04 11:00:00"],
    )
    result = await invoke(str(more))
    assert result.exit_code == 0, result.output
    assert "2 users (1 new), 2 movies (1 new)" in result.stdout
    assert await query(db_url, "SELECT id FROM users WHERE external_id = 'u003'") == [(7,)]
    assert await query(db_url, "SELECT count(*) FROM events WHERE user_id = 5") == [(4,)]


async def test_a_bad_line_names_file_line_and_field_and_writes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    before = await snapshot(db_url)
    bad = write(tmp_path / "bad.csv", [*SEED[:3], "u002,v003,rating,9,UK,2025-01-03 14:30:00"])
    result = await invoke(str(bad))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {bad}:5: interactionValue: rating value 9 is out of range [0.5, 5]"
    )
    assert "Traceback" not in result.output
    assert await snapshot(db_url) == before


async def test_internal_ids_create_users_but_not_movies(db_url: str, tmp_path: Path) -> None:
    before = await snapshot(db_url)
    lines = ["1,7,like,2,US,2025-01-01 10:00:00", "900,3,watch,1,US,2025-01-01 10:00:00"]
    missing = write(tmp_path / "missing.csv", [*lines, "900,999,watch,1,US,2025-01-01 11:00:00"])
    result = await invoke(str(missing), "--ids", "internal")
    assert result.exit_code == 1
    assert f"{missing}:4: videoId: movie 999 is not in the catalogue" in result.stderr
    assert await snapshot(db_url) == before

    result = await invoke(str(write(tmp_path / "ok.csv", lines)), "--ids", "internal")
    assert result.exit_code == 0, result.output
    assert "2 users (1 new), 2 movies (0 new)" in result.stdout
    assert await query(db_url, "SELECT id, external_id FROM users WHERE id = 900") == [(900, None)]
    assert await query(db_url, "SELECT user_id, movie_id FROM events ORDER BY 1") == [
        (1, 7),
        (900, 3),
    ]
    result = await invoke(str(missing), "--ids", "other")
    assert result.exit_code == 1 and "--ids must be external or internal" in result.stderr


async def test_a_failure_while_writing_rolls_back_every_batch(
    pg_url: str,
    migrate: Migrate,
    tiny_dataset: TinyDataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await migrate(
        pg_url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
    )
    monkeypatch.setenv("RECSYS_DATABASE_URL", pg_url)
    # Two events per INSERT, and a real database error on the third batch: the users, movies and
    # the two batches written before it must all disappear with the transaction.
    monkeypatch.setattr(event_import, "BATCH", 2)
    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_complete BEFORE INSERT ON events FOR EACH ROW "
                    "WHEN (NEW.type = 'complete') EXECUTE FUNCTION refuse()"
                )
            )
    finally:
        await engine.dispose()
    before = await snapshot(pg_url)
    result = await invoke(str(write(tmp_path / "seed.csv", SEED)))
    assert result.exit_code == 1
    assert "refused by a test trigger" in result.stderr
    assert await snapshot(pg_url) == before


async def test_training_reads_ratings_and_imported_events_summed(
    db_url: str, tmp_path: Path
) -> None:
    assert (await invoke(str(write(tmp_path / "seed.csv", SEED)))).exit_code == 0
    engine = create_engine(db_url)
    try:
        report = await train(
            create_session_factory(engine),
            model_type="popularity",
            store=open_store(f"file://{tmp_path / 'artifacts'}"),
            weights=EventWeights({"watch": 1.0, "like": 2.0, "complete": 3.0}),
        )
        async with create_session_factory(engine)() as session:
            exported = await RatingRepository(session).export(WEIGHTS)
    finally:
        await engine.dispose()
    # 10 seeded ratings + 3 new (user, movie) pairs: (u001, v001), (u001, v002), (u002, v003).
    assert report.rows_read == 13
    assert (report.n_users, report.n_items) == (6, 8)
    pairs = {
        (u, m): (w, t)
        for u, m, w, t in zip(
            exported.user_ids.tolist(),
            exported.movie_ids.tolist(),
            exported.ratings.tolist(),
            exported.timestamps.tolist(),
            strict=True,
        )
    }
    # watch 1 + like 2 at the like's time; watch 1 + complete 3 at the complete's time.
    assert pairs[(5, 12)] == (3.0, int(datetime(2025, 1, 1, 10, 20, tzinfo=UTC).timestamp()))
    assert pairs[(6, 14)] == (4.0, int(datetime(2025, 1, 3, 14, 45, tzinfo=UTC).timestamp()))
