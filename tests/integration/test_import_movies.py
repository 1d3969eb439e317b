"""``recsys data import-movies``: validated whole with FILE:LINE: field, one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from recsys.cli.data import app
from recsys.db.session import create_engine

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset

Migrate = Callable[..., Awaitable[None]]
runner = CliRunner()
HEADER = "id,title,year,genres,external_id"


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
    return url


async def invoke(path: Path) -> Result:
    return await asyncio.to_thread(runner.invoke, app, ["import-movies", str(path)])


async def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


async def test_import_creates_and_updates_in_one_go(db_url: str, tmp_path: Path) -> None:
    csv = write(
        tmp_path / "movies.csv",
        [
            "1,Toy Story (Remastered),1995,Animation|Comedy,",
            ",New Movie,2026,Drama|Sci-Fi,n1",
            "40,Given Id,,,",
        ],
    )
    result = await invoke(csv)
    assert result.exit_code == 0, result.output
    assert "3 movies" in result.output and "2 new, 1 updated" in result.output
    rows = await query(
        db_url,
        "SELECT id, title, year, external_id FROM movies WHERE id IN (1, 40, 41) ORDER BY id",
    )
    # The new movie without an id gets the next after the largest (40, given in the file).
    assert rows == [
        (1, "Toy Story (Remastered)", 1995, None),
        (40, "Given Id", None, None),
        (41, "New Movie", 2026, "n1"),
    ]
    assert (await query(db_url, "SELECT version FROM catalog_state"))[0][0] == 1
    # Again, by external id: an update, not a second movie.
    again = write(tmp_path / "again.csv", [",Renamed,2026,Drama,n1"])
    assert (await invoke(again)).exit_code == 0
    assert await query(db_url, "SELECT title FROM movies WHERE external_id = 'n1'") == [
        ("Renamed",)
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x,Title,2000,Drama,", ":3: id: 'x' is not an integer"),
        ("50,,2000,Drama,", ":3: title: must be 1 to 500 characters"),
        ("50,Title,1200,Drama,", ":3: year: 1200 is out of range [1870, 2100]"),
        ("50,Title,2000,Drama|Drama,", ":3: genres: a genre is listed twice"),
        ("50,Title,2000", ":3: row: 3 fields, the header has 5"),
        ("20,Dup,2000,Drama,", ":3: id: 20 is also on line 2"),
    ],
)
async def test_a_bad_line_is_named_and_nothing_is_written(
    db_url: str, tmp_path: Path, line: str, message: str
) -> None:
    csv = write(tmp_path / "bad.csv", ["20,Good,2000,Drama,", line])
    result = await invoke(csv)
    assert result.exit_code == 1
    assert f"{csv}{message}" in result.output
    assert await query(db_url, "SELECT count(*) FROM movies") == [(6,)]


async def test_an_external_id_of_another_movie_is_refused_whole(
    db_url: str, tmp_path: Path
) -> None:
    assert (await invoke(write(tmp_path / "a.csv", [",A,2000,Drama,k1"]))).exit_code == 0
    csv = write(tmp_path / "b.csv", ["30,B,2000,Drama,", "1,Toy,1995,Comedy,k1"])
    result = await invoke(csv)
    assert result.exit_code == 1
    assert f"{csv}:3: external_id: 'k1' is already movie" in result.output
    assert await query(db_url, "SELECT count(*) FROM movies WHERE id = 30") == [(0,)]


async def test_a_bad_header_is_line_one(db_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "h.csv"
    csv.write_text("movieId,title\n1,X\n", encoding="utf-8")
    result = await invoke(csv)
    assert result.exit_code == 1
    assert f"{csv}:1: header: expected columns" in result.output
