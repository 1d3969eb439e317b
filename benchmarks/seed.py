"""Seed benchmark: the 0002 seed migration against a raw COPY of the same rows.

Generates an ML-1M-shaped synthetic dataset (6,040 users, 3,706 movies, 1M ratings by default)
with ``recsys.data.synth``, writes it in the MovieLens CSV layout, then, in fresh PostgreSQL
databases already at revision 0001:

- times ``alembic upgrade 0001:0002`` (read + parse + validate the files, COPY, commit), with
  the seed's own per-step timings;
- times a raw COPY of the same rows, already in memory, into the same schema: users and movies
  with ``copy_records_to_table``, ratings either as a prepared binary COPY buffer (the fastest
  a client can go) or with ``copy_records_to_table`` from prepared Python tuples;
- times ``RatingRepository.export()`` of all the ratings back into numpy arrays.

Target: migration <= 1.5x the raw COPY. Run:

    uv run python benchmarks/seed.py            # 1M ratings, 3 repeats, medians reported
    uv run python benchmarks/seed.py --ratings 100000 --repeat 1
    # catalogue scale (162,541 users x 62,423 movies), the dataset cached like benchmarks/train.py:
    uv run python benchmarks/seed.py --size 10m --repeat 2 --baselines bulk
    uv run python benchmarks/seed.py --size 25m --repeat 1 --baselines bulk

The bulk baseline (c) is written out here as plain SQL (COPY into the table stripped of its
keys and index, then ``ADD PRIMARY KEY``, both ``ADD FOREIGN KEY`` and ``CREATE INDEX`` with
``maintenance_work_mem`` 256MB), so it stays the same yardstick whatever the seed itself does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from alembic import command
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.util import await_
from train import SIZES, cache_root, dataset_dir  # benchmarks/train.py: the cached datasets

from recsys.cli.db import alembic_config
from recsys.data import load_dataset
from recsys.data.synth import generate
from recsys.data.validate import validate
from recsys.data.writer import write_dataset
from recsys.db.pgcopy import encode_ratings
from recsys.db.repositories import RatingRepository
from recsys.db.seed import PreparedSeed, prepare
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.settings import get_settings

# What the service reads with: RECSYS_EVENT_WEIGHTS, as before repositories took them.
WEIGHTS = EventWeights(get_settings().event_weights)

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
USER_COLUMNS = ("id", "gender", "age", "occupation", "zip_code")
MOVIE_COLUMNS = ("id", "title", "year", "genres")
RATING_COLUMNS = ("user_id", "movie_id", "rating", "rated_at")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Databases:
    """Creates throwaway databases and drops them all at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create(self) -> str:
        name = f"recsys_bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.created:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.clear()

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(_dsn(self.admin_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


class StepTimes(logging.Handler):
    """Collects the seed's per-step timings from its log records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        step = getattr(record, "step", None)
        if step is not None:
            self.steps[step] = float(record.__dict__["seconds"])


@contextmanager
def capture_steps() -> Iterator[StepTimes]:
    handler = StepTimes()
    # The seed's steps, and each key or index rebuilt after the COPY (recsys.db.bulk).
    logs = [logging.getLogger(name) for name in ("recsys.db.seed", "recsys.db.bulk")]
    for log in logs:
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        for log in logs:
            log.removeHandler(handler)


def time_migration(url: str, *, dataset: str, data_dir: Path) -> tuple[float, dict[str, float]]:
    """Seconds for ``alembic upgrade 0002`` from 0001, and the seed's own step timings."""
    command.upgrade(alembic_config(database_url=url), "0001")
    config = alembic_config(database_url=url, dataset=dataset, data_dir=data_dir)
    with capture_steps() as steps:
        start = time.perf_counter()
        command.upgrade(config, "0002")
        seconds = time.perf_counter() - start
    return seconds, steps.steps


async def _raw_copy(
    url: str, prepared: PreparedSeed, ratings: Callable[[Any], Awaitable[Any]]
) -> float:
    conn = await asyncpg.connect(_dsn(url))
    try:
        start = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("users", records=prepared.users, columns=USER_COLUMNS)
            await conn.copy_records_to_table(
                "movies", records=prepared.movies, columns=MOVIE_COLUMNS
            )
            await ratings(conn)
        return time.perf_counter() - start
    finally:
        await conn.close()


async def _source(chunks: list[memoryview]) -> AsyncIterator[memoryview]:
    for chunk in chunks:
        yield chunk


def time_raw_binary(url: str, prepared: PreparedSeed) -> float:
    """Seconds for a raw COPY with the ratings as a prepared binary buffer (built untimed)."""
    command.upgrade(alembic_config(database_url=url), "0001")
    chunks = encode_ratings(
        prepared.user_ids, prepared.movie_ids, prepared.ratings, prepared.rated_at_us
    )

    async def copy(conn: Any) -> Any:
        return await conn.copy_to_table(
            "ratings", source=_source(chunks), columns=RATING_COLUMNS, format="binary"
        )

    return asyncio.run(_raw_copy(url, prepared, copy))


# The textbook bulk load of ratings (PostgreSQL's "Populating a Database"): the table bare during
# the COPY, its keys and index built after, in the same transaction.
_BARE_RATINGS = (
    "ALTER TABLE ratings DROP CONSTRAINT fk_ratings_user_id_users",
    "ALTER TABLE ratings DROP CONSTRAINT fk_ratings_movie_id_movies",
    "ALTER TABLE ratings DROP CONSTRAINT pk_ratings",
    "DROP INDEX ix_ratings_user_id_rated_at",
)
_REBUILD_RATINGS = (
    "SET LOCAL maintenance_work_mem = '256MB'",
    "ALTER TABLE ratings ADD CONSTRAINT pk_ratings PRIMARY KEY (user_id, movie_id)",
    "ALTER TABLE ratings ADD CONSTRAINT fk_ratings_user_id_users FOREIGN KEY (user_id) "
    "REFERENCES users (id) ON DELETE CASCADE",
    "ALTER TABLE ratings ADD CONSTRAINT fk_ratings_movie_id_movies FOREIGN KEY (movie_id) "
    "REFERENCES movies (id) ON DELETE CASCADE",
    "CREATE INDEX ix_ratings_user_id_rated_at ON ratings (user_id, rated_at)",
)


def time_raw_binary_bulk(
    url: str, prepared: PreparedSeed, split: dict[str, float] | None = None
) -> float:
    """Seconds for the binary COPY into a bare ratings table plus rebuilding its keys/indexes.

    ``split`` receives the COPY's and each rebuild's seconds.
    """
    split = {} if split is None else split
    command.upgrade(alembic_config(database_url=url), "0001")
    chunks = encode_ratings(
        prepared.user_ids, prepared.movie_ids, prepared.ratings, prepared.rated_at_us
    )

    def load(connection: Connection) -> None:
        driver: Any = connection.connection.driver_connection
        await_(driver.copy_records_to_table("users", records=prepared.users, columns=USER_COLUMNS))
        await_(
            driver.copy_records_to_table("movies", records=prepared.movies, columns=MOVIE_COLUMNS)
        )
        for statement in _BARE_RATINGS:
            connection.exec_driver_sql(statement)
        start = time.perf_counter()
        await_(
            driver.copy_to_table(
                "ratings", source=_source(chunks), columns=RATING_COLUMNS, format="binary"
            )
        )
        split["copy"] = time.perf_counter() - start
        for statement in _REBUILD_RATINGS:
            start = time.perf_counter()
            connection.exec_driver_sql(statement)
            if " ADD CONSTRAINT " in statement or statement.startswith("CREATE INDEX"):
                # The constraint's or the index's name.
                name = statement.split()[5 if " ADD CONSTRAINT " in statement else 2]
                split[name] = time.perf_counter() - start

    async def run() -> float:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")  # connect outside the timing
                await conn.commit()
                start = time.perf_counter()
                async with conn.begin():
                    await conn.run_sync(load)
                return time.perf_counter() - start
        finally:
            await engine.dispose()

    return asyncio.run(run())


def time_raw_records(url: str, prepared: PreparedSeed) -> float:
    """Seconds for a raw ``copy_records_to_table`` of prepared tuples (built untimed)."""
    command.upgrade(alembic_config(database_url=url), "0001")
    stamps = [
        datetime.fromtimestamp(us / 1_000_000, tz=UTC) for us in prepared.rated_at_us.tolist()
    ]
    records = list(
        zip(
            prepared.user_ids.tolist(),
            prepared.movie_ids.tolist(),
            prepared.ratings.tolist(),
            stamps,
            strict=True,
        )
    )

    async def copy(conn: Any) -> Any:
        return await conn.copy_records_to_table("ratings", records=records, columns=RATING_COLUMNS)

    return asyncio.run(_raw_copy(url, prepared, copy))


def time_export(url: str) -> tuple[float, int]:
    """Seconds for ``RatingRepository.export()`` of every rating, and the row count."""

    async def run() -> tuple[float, int]:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                await session.connection()  # connect outside the timing
                start = time.perf_counter()
                exported = await RatingRepository(session).export(WEIGHTS)
                return time.perf_counter() - start, len(exported)
        finally:
            await engine.dispose()

    return asyncio.run(run())


BASELINES = ("binary", "records", "bulk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        help="a benchmarks/train.py shape, its CSVs cached and reused (overrides --ratings etc.)",
    )
    parser.add_argument("--cache-dir", type=Path, default=cache_root())
    parser.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help="comma-separated subset of binary,records,bulk (the constrained-table COPYs "
        "take minutes at 10M)",
    )
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=6_040)
    parser.add_argument("--movies", type=int, default=3_706)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    )
    args = parser.parse_args()
    wanted = set(args.baselines.split(","))
    if not wanted <= set(BASELINES):
        parser.error(f"--baselines: unknown {sorted(wanted - set(BASELINES))}")

    databases = Databases(args.admin_url)
    with tempfile.TemporaryDirectory(prefix="recsys-bench-") as tmp:
        start = time.perf_counter()
        if args.size is not None:
            data_dir = dataset_dir(SIZES[args.size], seed=args.seed, cache=args.cache_dir)
        else:
            data_dir = Path(tmp)
            synthetic = generate(
                users=args.users, items=args.movies, interactions=args.ratings, seed=args.seed
            )
            write_dataset(synthetic, data_dir / "synth")
        size = sum(f.stat().st_size for f in (data_dir / "synth").iterdir()) / 2**20
        print(
            f"dataset: {size:.1f} MiB of CSV in {data_dir} "
            f"(generated or found in {time.perf_counter() - start:.1f} s)",
            flush=True,
        )

        # Where the loader's time goes: parse vs its validation pass.
        start = time.perf_counter()
        dataset = load_dataset(data_dir / "synth", name="synth")
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        validate(dataset)
        validate_s = time.perf_counter() - start
        prepared = prepare(dataset)
        # The raw COPYs get the rows as the file lists them (the seed sorts them by key).
        ratings = dataset.ratings
        in_file_order = replace(
            prepared,
            user_ids=ratings["user_id"].to_numpy(dtype=np.int32),
            movie_ids=ratings["movie_id"].to_numpy(dtype=np.int32),
            ratings=ratings["rating"].to_numpy(dtype=np.float32),
            rated_at_us=ratings["rated_at"].to_numpy(dtype="datetime64[us]").view(np.int64),
        )

        migration: list[float] = []
        steps: list[dict[str, float]] = []
        raw_binary: list[float] = []
        raw_bulk: list[float] = []
        bulk_split: dict[str, float] = {}
        raw_records: list[float] = []
        exports: list[float] = []
        try:
            for run in range(args.repeat):
                url = databases.create()
                seconds, step_times = time_migration(url, dataset="synth", data_dir=data_dir)
                migration.append(seconds)
                steps.append(step_times)
                # The export reads the events table too (revision 0003 and later).
                command.upgrade(alembic_config(database_url=url), "head")
                export_s, rows = time_export(url)
                assert rows == len(dataset.ratings), (rows, len(dataset.ratings))
                exports.append(export_s)
                if "binary" in wanted:
                    raw_binary.append(time_raw_binary(databases.create(), in_file_order))
                if "bulk" in wanted:
                    raw_bulk.append(
                        time_raw_binary_bulk(databases.create(), in_file_order, bulk_split)
                    )
                if "records" in wanted:
                    raw_records.append(time_raw_records(databases.create(), in_file_order))
                databases.drop_all()
                print(
                    f"run {run + 1}: migration {seconds:.2f} s "
                    f"({', '.join(f'{k} {v:.2f}' for k, v in step_times.items())}); raw COPY: "
                    f"binary {_last(raw_binary)}, binary + rebuild {_last(raw_bulk)}, "
                    f"copy_records {_last(raw_records)} "
                    f"({', '.join(f'{k} {v:.2f}' for k, v in bulk_split.items())}); "
                    f"export {export_s:.2f} s; "
                    f"load average {_loadavg()}",
                    flush=True,
                )
        finally:
            databases.drop_all()

    med = statistics.median
    print()
    print(f"median of {args.repeat} runs, {len(dataset.ratings):,} ratings:")
    print(f"  {'seed migration (0001 -> 0002)':<46} {med(migration):6.2f} s")
    for step in steps[0]:
        print(f"    {step:<42} {med(s.get(step, float('nan')) for s in steps):6.2f} s")
    print(
        f"      (load outside the migration: {load_s:.2f} s, of which validate {validate_s:.2f} s)"
    )
    baselines = {
        "raw COPY, binary buffer, constrained table": raw_binary,
        "raw COPY, copy_records_to_table, constrained": raw_records,
        "raw COPY, binary buffer, bare table + rebuild": raw_bulk,
    }
    for label, times in baselines.items():
        if not times:
            continue
        ratio = med(migration) / med(times)
        print(f"  {label:<46} {med(times):6.2f} s   migration = {ratio:.2f}x")
    print(f"  {'export (RatingRepository.export)':<46} {med(exports):6.2f} s")


def _last(times: list[float]) -> str:
    return f"{times[-1]:.2f} s" if times else "-"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
