"""``recsys db`` on the zero-setup SQLite default, and its one-line errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from recsys.cli.db import app

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset

runner = CliRunner()


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_dataset: TinyDataset) -> Path:
    """A fresh working directory with the default (SQLite) URL and the tiny dataset configured."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECSYS_DATABASE_URL", raising=False)
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tiny_dataset.data_dir))
    monkeypatch.setenv("RECSYS_DATASET", tiny_dataset.name)
    return tmp_path


def counts(db: Path) -> dict[str, int | str | None]:
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        result = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("users", "movies", "ratings", "dataset_seeds")
            if t in tables
        }
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            result["version"] = row[0] if row else None
    return result


def test_sqlite_default_upgrade_current_downgrade(workdir: Path) -> None:
    db = workdir / "var" / "recsys.db"
    assert not db.parent.exists()

    result = runner.invoke(app, ["upgrade"])
    assert result.exit_code == 0, result.output
    assert "seed ratings: 10 rows in" in result.stderr
    assert counts(db) == {
        "users": 4,
        "movies": 6,
        "ratings": 10,
        "dataset_seeds": 1,
        "version": "0005",
    }

    result = runner.invoke(app, ["current"])
    assert result.exit_code == 0
    assert "0005 (head)" in result.stdout

    # -1 from head removes the catalogue version and movies.deleted_at (in place: the ratings
    # stay), the next the notify triggers (none on SQLite), the next -1 the (empty) events
    # table, keeping the seeded rows; the next -1 unseeds.
    assert runner.invoke(app, ["downgrade"]).exit_code == 0
    assert counts(db)["version"] == "0004"
    assert counts(db)["ratings"] == 10
    assert runner.invoke(app, ["downgrade"]).exit_code == 0
    assert counts(db)["version"] == "0003"
    assert runner.invoke(app, ["downgrade"]).exit_code == 0
    assert counts(db) == {
        "users": 4,
        "movies": 6,
        "ratings": 10,
        "dataset_seeds": 1,
        "version": "0002",
    }
    assert runner.invoke(app, ["downgrade"]).exit_code == 0
    assert counts(db) == {
        "users": 0,
        "movies": 0,
        "ratings": 0,
        "dataset_seeds": 0,
        "version": "0001",
    }

    assert runner.invoke(app, ["downgrade", "base"]).exit_code == 0
    assert counts(db) == {"version": None}


def test_sqlite_failed_seed_rolls_back_the_schema_too(workdir: Path) -> None:
    bad = workdir / "data" / "bad"
    bad.mkdir(parents=True)
    (bad / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,x,1\n")
    (bad / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Comedy\n")

    result = runner.invoke(
        app, ["upgrade", "--dataset", "bad", "--data-dir", str(workdir / "data")]
    )

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert f"{bad / 'ratings.csv'}:2:" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    # One transaction around 0001 + 0002 + 0003: not even the tables are left behind.
    assert counts(workdir / "var" / "recsys.db") == {}


def test_missing_dataset_is_one_red_line_naming_the_fetch_command(workdir: Path) -> None:
    result = runner.invoke(app, ["upgrade", "--dataset", "ml-1m"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: dataset folder ")
    assert "recsys data fetch ml-1m" in errors[0]
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    monkeypatch.setenv("RECSYS_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:9/recsys")
    result = runner.invoke(app, ["current"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the database postgresql+asyncpg://")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_revision_is_one_line(workdir: Path) -> None:
    result = runner.invoke(app, ["downgrade", "0007"])
    assert result.exit_code == 1
    assert "error: Can't locate revision identified by '0007'" in result.stderr
