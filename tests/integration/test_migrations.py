"""Alembic migrations on a real PostgreSQL: schema, seed, downgrade, and failed seeds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from recsys.data import DatasetError, DatasetNotFoundError
from recsys.db.models import Base
from recsys.db.seed import SeedError
from recsys.db.session import create_engine

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset

Migrate = Callable[..., Awaitable[None]]
WriteDataset = Callable[..., Path]

TABLES = ("users", "movies", "ratings", "dataset_seeds")


async def db_state(url: str) -> dict[str, Any]:
    """Tables, row counts and alembic version, read with plain SQL (not our repositories)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            present = set(
                (
                    await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
            state: dict[str, Any] = {"tables": present}
            for table in TABLES:
                if table in present:
                    count = await conn.execute(text(f"SELECT count(*) FROM {table}"))
                    state[table] = count.scalar_one()
            if "alembic_version" in present:
                version = await conn.execute(text("SELECT version_num FROM alembic_version"))
                state["version"] = version.scalars().all()
            return state
    finally:
        await engine.dispose()


async def test_upgrade_seeds_tiny_dataset_and_downgrade_removes_it(
    pg_url: str, migrate: Migrate, tiny_dataset: TinyDataset
) -> None:
    await migrate(
        pg_url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
    )
    state = await db_state(pg_url)
    assert state["version"] == ["0005"]
    assert (state["users"], state["movies"], state["ratings"]) == (4, 6, 10)
    assert state["dataset_seeds"] == 1

    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT user_id, movie_id, rating, "
                        "extract(epoch FROM rated_at)::bigint FROM ratings"
                    )
                )
            ).all()
            movie = (
                await conn.execute(text("SELECT title, year, genres FROM movies WHERE id = 1"))
            ).one()
            seed = (
                await conn.execute(text("SELECT name, users, movies, ratings FROM dataset_seeds"))
            ).one()
    finally:
        await engine.dispose()
    assert sorted(tuple(r) for r in rows) == sorted(
        (r.user_id, r.movie_id, r.rating, r.timestamp) for r in tiny_dataset.ratings
    )
    assert tuple(movie) == ("Toy Story", 1995, ["Animation", "Children's", "Comedy"])
    assert tuple(seed) == ("tiny", 4, 6, 10)

    await migrate(pg_url, "downgrade", "0001")
    state = await db_state(pg_url)
    assert state["version"] == ["0001"]
    assert [state[t] for t in TABLES] == [0, 0, 0, 0]

    await migrate(pg_url, "downgrade", "base")
    state = await db_state(pg_url)
    assert state["tables"] == {"alembic_version"}
    assert state["version"] == []


async def schema_diff(url: str) -> list[Any]:
    """Differences between the database's schema and the ORM models (empty when they agree)."""
    engine = create_engine(url)

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


async def test_schema_from_migrations_matches_the_models(
    pg_url: str, migrate: Migrate, tmp_path: Path
) -> None:
    await migrate(pg_url, "upgrade", "head", dataset="none", data_dir=tmp_path)
    assert await schema_diff(pg_url) == []


async def test_seed_rebuilds_every_key_and_index_it_set_aside(
    pg_url: str, migrate: Migrate, tiny_dataset: TinyDataset
) -> None:
    constraints = text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'ratings'::regclass ORDER BY conname"
    )
    indexes = text("SELECT indexdef FROM pg_indexes WHERE tablename = 'ratings' ORDER BY 1")
    await migrate(pg_url, "upgrade", "0001")
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            before = ((await conn.execute(constraints)).all(), (await conn.execute(indexes)).all())
        await migrate(
            pg_url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
        )
        async with engine.connect() as conn:
            after = ((await conn.execute(constraints)).all(), (await conn.execute(indexes)).all())
    finally:
        await engine.dispose()
    assert len(before[0]) == 3 and len(before[1]) == 2  # pk, 2 fks; pk index + (user, rated_at)
    assert after == before
    assert await schema_diff(pg_url) == []


async def test_dataset_none_seeds_nothing_but_records_the_run(
    pg_url: str, migrate: Migrate, tmp_path: Path
) -> None:
    await migrate(pg_url, "upgrade", "head", dataset="none", data_dir=tmp_path)
    state = await db_state(pg_url)
    assert state["version"] == ["0005"]
    assert (state["users"], state["movies"], state["ratings"], state["dataset_seeds"]) == (
        0,
        0,
        0,
        1,
    )
    await migrate(pg_url, "downgrade", "0001")
    assert (await db_state(pg_url))["dataset_seeds"] == 0


MOVIES = ["1,Toy Story (1995),Animation|Comedy", "3,Heat (1995),Action|Crime|Thriller"]
# Each case: ratings.csv lines, movies.csv lines, the file and 1-based line the error must name.
BAD_DATASETS = {
    "unparsable number": (
        ["1,1,4.0,964982703", "1,3,four,964981247"],
        MOVIES,
        ("ratings.csv", 3),
    ),
    "unknown movie": (
        ["1,1,4.0,964982703", "2,3,3.0,964982703", "2,999,3.0,964982703"],
        MOVIES,
        ("ratings.csv", 4),
    ),
    "duplicate pair": (
        ["1,1,4.0,964982703", "1,3,4.0,964982703", "1,1,2.0,964982999"],
        MOVIES,
        ("ratings.csv", 4),
    ),
    "wrong column count": (
        ["1,1,4.0,964982703", "1,3,4.0", "2,3,4.0,964982703"],
        MOVIES,
        ("ratings.csv", 3),
    ),
    "wrong column count in movies": (
        ["1,1,4.0,964982703"],
        ["1,Toy Story (1995),Comedy", "2,Jumanji (1995),Adventure,extra"],
        ("movies.csv", 3),
    ),
}


@pytest.mark.parametrize("start", ["0001", "base"])
@pytest.mark.parametrize("case", sorted(BAD_DATASETS))
async def test_bad_dataset_names_file_and_line_and_leaves_db_unchanged(
    pg_url: str,
    migrate: Migrate,
    write_dataset: WriteDataset,
    tmp_path: Path,
    case: str,
    start: str,
) -> None:
    ratings, movies, (filename, line) = BAD_DATASETS[case]
    write_dataset(tmp_path / "bad", ratings=ratings, movies=movies)
    if start != "base":
        await migrate(pg_url, "upgrade", start)
    before = await db_state(pg_url)

    with pytest.raises(DatasetError) as caught:
        await migrate(pg_url, "upgrade", "head", dataset="bad", data_dir=tmp_path)

    assert caught.value.path is not None
    assert caught.value.path.name == filename
    assert caught.value.line == line
    assert f"{filename}:{line}:" in str(caught.value)
    assert await db_state(pg_url) == before


async def test_missing_dataset_names_the_fetch_command_and_leaves_db_unchanged(
    pg_url: str, migrate: Migrate, tmp_path: Path
) -> None:
    await migrate(pg_url, "upgrade", "0001")
    before = await db_state(pg_url)
    with pytest.raises(DatasetNotFoundError, match=r"recsys data fetch ml-1m"):
        await migrate(pg_url, "upgrade", "head", dataset="ml-1m", data_dir=tmp_path)
    assert await db_state(pg_url) == before


async def test_seed_refuses_tables_that_already_hold_rows(
    pg_url: str, migrate: Migrate, tiny_dataset: TinyDataset
) -> None:
    await migrate(pg_url, "upgrade", "0001")
    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (id) VALUES (42)"))
    finally:
        await engine.dispose()
    before = await db_state(pg_url)
    with pytest.raises(SeedError, match="already hold 1 users"):
        await migrate(
            pg_url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
        )
    assert await db_state(pg_url) == before


async def test_downgrade_refuses_rows_added_after_the_seed_unless_forced(
    pg_url: str, migrate: Migrate, tiny_dataset: TinyDataset
) -> None:
    await migrate(
        pg_url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
    )
    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (id) VALUES (42)"))
    finally:
        await engine.dispose()
    with pytest.raises(SeedError, match="5 users, 6 movies, 10 ratings but the seed loaded 4"):
        await migrate(pg_url, "downgrade", "0001")
    assert (await db_state(pg_url))["users"] == 5

    await migrate(pg_url, "downgrade", "0001", force_unseed=True)
    state = await db_state(pg_url)
    assert state["version"] == ["0001"]
    assert [state[t] for t in TABLES] == [0, 0, 0, 0]


@pytest.mark.realdata
@pytest.mark.slow
async def test_ml100k_round_trip(pg_url: str, migrate: Migrate, ml100k_dir: Path) -> None:
    await migrate(pg_url, "upgrade", "head", dataset=ml100k_dir.name, data_dir=ml100k_dir.parent)
    state = await db_state(pg_url)
    assert (state["ratings"], state["users"], state["movies"]) == (100_000, 943, 1_682)
    assert state["version"] == ["0005"]

    await migrate(pg_url, "downgrade", "0001")
    state = await db_state(pg_url)
    assert (state["ratings"], state["users"], state["movies"], state["dataset_seeds"]) == (
        0,
        0,
        0,
        0,
    )


async def test_dataset_none_leaves_rows_loaded_by_other_means_alone(
    pg_url: str, migrate: Migrate, tmp_path: Path
) -> None:
    await migrate(pg_url, "upgrade", "0001")
    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (id) VALUES (7)"))
    finally:
        await engine.dispose()
    await migrate(pg_url, "upgrade", "head", dataset="none", data_dir=tmp_path)
    await migrate(pg_url, "downgrade", "0001")
    state = await db_state(pg_url)
    assert (state["version"], state["users"], state["dataset_seeds"]) == (["0001"], 1, 0)


async def columns_of(url: str, table: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = :table ORDER BY ordinal_position"
                ),
                {"table": table},
            )
            return list(rows.scalars())
    finally:
        await engine.dispose()


async def test_events_revision_up_and_down_keeps_the_seed_and_guards_events(
    pg_url: str, migrate: Migrate, tiny_dataset: TinyDataset
) -> None:
    seed = {"dataset": tiny_dataset.name, "data_dir": tiny_dataset.data_dir}
    await migrate(pg_url, "upgrade", "0002", **seed)
    await migrate(pg_url, "upgrade", "0003")
    state = await db_state(pg_url)
    assert state["version"] == ["0003"] and "events" in state["tables"]
    assert (state["users"], state["movies"], state["ratings"]) == (4, 6, 10)
    assert await columns_of(pg_url, "events") == [
        "id",
        "user_id",
        "movie_id",
        "type",
        "value",
        "occurred_at",
        "received_at",
        "idempotency_key",
    ]
    assert (await columns_of(pg_url, "users"))[-1] == "external_id"
    assert (await columns_of(pg_url, "movies"))[-1] == "external_id"

    engine = create_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO events (user_id, movie_id, type, occurred_at) "
                    "VALUES (1, 2, 'like', now())"
                )
            )
            received = await conn.scalar(text("SELECT received_at IS NOT NULL FROM events"))
            assert received
            await conn.execute(text("UPDATE users SET external_id = 'u001' WHERE id = 1"))
            # external ids are unique
            with pytest.raises(Exception, match="uq_users_external_id"):
                async with conn.begin_nested():
                    await conn.execute(text("UPDATE users SET external_id = 'u001' WHERE id = 2"))
    finally:
        await engine.dispose()

    # Dropping the revision would lose the event and the external id: refused unless forced.
    with pytest.raises(SeedError, match="refusing to drop 1 events, 1 users with an external id"):
        await migrate(pg_url, "downgrade", "-1")
    assert (await db_state(pg_url))["version"] == ["0003"]
    await migrate(pg_url, "downgrade", "-1", force_unseed=True)
    state = await db_state(pg_url)
    assert state["version"] == ["0002"] and "events" not in state["tables"]
    assert (state["users"], state["movies"], state["ratings"]) == (4, 6, 10)
    assert "external_id" not in await columns_of(pg_url, "users")
    assert "external_id" not in await columns_of(pg_url, "movies")
    await migrate(pg_url, "upgrade", "head")
    assert await schema_diff(pg_url) == []


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_catalog_revision_keeps_ratings_and_guards_soft_deletes(
    backend: str, pg_url: str, migrate: Migrate, tiny_dataset: TinyDataset, tmp_path: Path
) -> None:
    url = pg_url if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    await migrate(url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            assert await conn.scalar(text("SELECT version FROM catalog_state WHERE id = 1")) == 0
            await conn.execute(
                text("UPDATE movies SET deleted_at = CURRENT_TIMESTAMP WHERE id = 1")
            )
    finally:
        await engine.dispose()
    # A soft-deleted movie would be served again: refused unless forced.
    with pytest.raises(SeedError, match="1 soft-deleted movies would be served again"):
        await migrate(url, "downgrade", "-1")
    await migrate(url, "downgrade", "-1", force_unseed=True)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            # In place, not a rebuild: the ratings of movies (which cascade) are all there.
            assert await conn.scalar(text("SELECT count(*) FROM ratings")) == 10
            assert await conn.scalar(text("SELECT count(*) FROM movies")) == 6
    finally:
        await engine.dispose()
    await migrate(url, "upgrade", "head")
