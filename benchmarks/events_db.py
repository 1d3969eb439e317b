"""Events in the database: what revision 0003 costs the training read and the history query,
and how fast ``recsys data import-events`` loads a seed-format file.

For each dataset (real ML-100K from data/ml-100k; an ML-1M-shaped synthetic set, generated once
and cached), in a fresh throwaway PostgreSQL database seeded through the migrations:

- **export**, empty events table: the training read before this change (binary COPY of
  ``ratings``, decoded with numpy, exactly the old ``RatingRepository.export``) against the new
  ``RatingRepository.export()`` (one EXISTS check, then the same COPY), interleaved, medians;
- **history query**: the API's per-request ``rated_movies`` SQL before (ratings only) and now
  (ratings + events summed per movie), for every user in turn on one connection, medians per call;
- **import-events**: a synthetic seed-format CSV (``--events`` rows, 5,000 users ``u00001``...,
  2,000 videos, watch/like/complete/rating) loaded with ``recsys data import-events`` as a
  subprocess (wall time incl. interpreter start-up) and its own parse/total split;
- **export with events**: ``RatingRepository.export()`` again once the events are in (the
  aggregated hash-full-join path).

Run (needs PostgreSQL at TEST_DATABASE_URL, default local trust auth):

    uv run python benchmarks/events_db.py                      # ml-100k and 1m, 100k events
    uv run python benchmarks/events_db.py --datasets ml-100k --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import numpy as np
from alembic import command
from sqlalchemy.engine import make_url

from recsys.cli.db import alembic_config
from recsys.data.frames import Interactions
from recsys.data.synth import generate
from recsys.data.writer import write_dataset
from recsys.db.pgcopy import decode_ratings
from recsys.db.repositories import RatingRepository
from recsys.db.repositories.users import _RATED_MOVIES_PG
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.settings import get_settings

# What the service reads with: RECSYS_EVENT_WEIGHTS, as before repositories took them.
WEIGHTS = EventWeights(get_settings().event_weights)

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
REPO = Path(__file__).resolve().parent.parent
# The per-request query as it was before revision 0003 (ratings only).
OLD_RATED_MOVIES = """
SELECT r.movie_ids, r.ratings
FROM users AS u
LEFT JOIN LATERAL (
    SELECT array_agg(movie_id) AS movie_ids, array_agg(rating) AS ratings
    FROM ratings WHERE user_id = u.id
) AS r ON true
WHERE u.id = $1
"""
T = TypeVar("T")
SEEDED_USERS = "SELECT id FROM users WHERE external_id IS NULL ORDER BY id"
USERS_WITH_EVENTS = "SELECT DISTINCT user_id FROM events ORDER BY 1"
WEIGHT_TYPES, WEIGHT_VALUES = ["complete", "like", "watch"], [3.0, 2.0, 1.0]


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn(admin_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def synthetic_1m(cache: Path) -> Path:
    """data_dir holding ``synth/`` (ML-1M shape, seed 0); generated once, then reused."""
    data_dir = cache / "synth-6040u-3706m-1000000r-seed0"
    if (data_dir / "synth" / "ratings.csv").is_file():
        return data_dir
    dataset = generate(users=6_040, items=3_706, interactions=1_000_000, seed=0)
    tmp = data_dir.with_name(data_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    write_dataset(dataset, tmp / "synth")
    tmp.rename(data_dir)
    return data_dir


def write_event_csv(path: Path, n: int, *, seed: int = 0) -> None:
    """``n`` seed-format rows: 5,000 users, 2,000 videos, watch/like/complete/rating."""
    rng = np.random.default_rng(seed)
    users = rng.integers(1, 5_001, n)
    videos = np.minimum(rng.zipf(1.3, n), 2_000)
    types = rng.choice(["watch", "like", "complete", "rating"], n, p=[0.6, 0.2, 0.15, 0.05])
    seconds = 1_735_689_600 + rng.integers(0, 90 * 86_400, n)
    stamps = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    ratings = rng.integers(1, 11, n) / 2
    weight = {"watch": "1", "like": "2", "complete": "3"}
    with path.open("w", encoding="utf-8") as out:
        out.write("userId,videoId,interactionType,interactionValue,location,timestamp\n")
        for u, v, t, s, r in zip(users, videos, types, stamps, ratings, strict=True):
            value = f"{r:g}" if t == "rating" else weight[t]
            out.write(f"u{u:05d},v{v:05d},{t},{value},US,{s.replace('T', ' ')}\n")


async def _fetch(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(dsn(url))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def old_export(url: str) -> Callable[[], Coroutine[Any, Any, Interactions]]:
    # The same engine and session as the new export, so only the query path differs.
    async def read() -> Interactions:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                connection = await session.connection()
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                chunks: list[bytes] = []

                async def sink(data: bytes) -> None:
                    chunks.append(data)

                query = "SELECT user_id, movie_id, rating, rated_at FROM ratings"
                await driver.copy_from_query(query, output=sink, format="binary")
                return decode_ratings(b"".join(chunks))
        finally:
            await engine.dispose()

    return read


def new_export(url: str) -> Callable[[], Coroutine[Any, Any, Interactions]]:
    async def read() -> Interactions:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                return await RatingRepository(session).export(WEIGHTS)
        finally:
            await engine.dispose()

    return read


def time_export(read: Callable[[], Coroutine[Any, Any, Interactions]]) -> tuple[float, int]:
    start = time.perf_counter()
    rows = len(run(read()))
    return time.perf_counter() - start, rows


async def history_query_ms(url: str, *, new: bool, users_sql: str = SEEDED_USERS) -> float:
    """Median ms per call of the per-request history query over every user ``users_sql`` lists."""
    conn = await asyncpg.connect(dsn(url))
    try:
        user_ids = [row[0] for row in await conn.fetch(users_sql)]
        times = []
        for user_id in user_ids:
            start = time.perf_counter()
            if new:
                await conn.fetchrow(_RATED_MOVIES_PG, user_id, WEIGHT_TYPES, WEIGHT_VALUES)
            else:
                await conn.fetchrow(OLD_RATED_MOVIES, user_id)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000
    finally:
        await conn.close()


_IMPORTED = re.compile(r"imported ([\d,]+) events .* in ([\d.]+) s \(parse ([\d.]+) s\)")


def import_events(url: str, csv: Path) -> tuple[float, float, float, int]:
    """(wall s, command's own total s, parse s, events) of one ``recsys data import-events``."""
    env = {**os.environ, "RECSYS_DATABASE_URL": url, "COLUMNS": "200"}
    script = Path(sys.executable).with_name("recsys")
    start = time.perf_counter()
    proc = subprocess.run(
        [str(script), "data", "import-events", str(csv)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    found = _IMPORTED.search(proc.stdout.replace("\n", " "))
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"import-events failed:\n{proc.stdout}\n{proc.stderr}")
    return wall, float(found[2]), float(found[3]), int(found[1].replace(",", ""))


def bench(name: str, data_dir: Path, args: argparse.Namespace, csv: Path) -> None:
    db = f"recsys_bench_{uuid.uuid4().hex[:10]}"
    run(admin(args.admin_url, f'CREATE DATABASE "{db}"'))
    url = make_url(args.admin_url).set(database=db).render_as_string(hide_password=False)
    try:
        command.upgrade(alembic_config(database_url=url, dataset=name, data_dir=data_dir), "head")
        old, new = [], []
        rows = 0
        for _ in range(args.repeats):
            seconds, rows = time_export(old_export(url))
            old.append(seconds)
            seconds, same = time_export(new_export(url))
            new.append(seconds)
            assert same == rows
        print(f"\n{name}: {rows:,} ratings, {args.repeats} interleaved repeats, medians")
        print(f"  export before 0003 (ratings COPY)       {statistics.median(old):7.3f} s")
        print(f"  export now, empty events table          {statistics.median(new):7.3f} s")
        before = run(history_query_ms(url, new=False))
        after = run(history_query_ms(url, new=True))
        print(f"  history query per user, before          {before:7.3f} ms")
        print(f"  history query per user, now (no events) {after:7.3f} ms")
        wall, total, parse, n = import_events(url, csv)
        print(
            f"  import-events {n:,} rows: {wall:.2f} s wall ({n / wall:,.0f} events/s), "
            f"command {total:.2f} s (parse {parse:.2f} s, write {total - parse:.2f} s: "
            f"{n / (total - parse):,.0f} events/s)"
        )
        exports = [time_export(new_export(url))[0] for _ in range(args.repeats)]
        rows_after = time_export(new_export(url))[1]
        print(
            f"  export now, with {n:,} events           {statistics.median(exports):7.3f} s"
            f" ({rows_after:,} interactions)"
        )
        seeded = run(history_query_ms(url, new=True))
        print(f"  history query per user, now, seeded users (no events) {seeded:7.3f} ms")
        with_events = run(history_query_ms(url, new=True, users_sql=USERS_WITH_EVENTS))
        per_user = n / len(run(_fetch(url, USERS_WITH_EVENTS)))
        print(
            f"  history query per user, now, imported users ({per_user:.0f} events each) "
            f"{with_events:7.3f} ms"
        )
    finally:
        run(admin(args.admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="ml-100k,1m", help="ml-100k and/or 1m")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--events", type=int, default=100_000, help="rows of the import CSV")
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    )
    args = parser.parse_args()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recsys/benchmarks"
    cache.mkdir(parents=True, exist_ok=True)
    csv = cache / f"seed-events-{args.events}.csv"
    if not csv.is_file():
        write_event_csv(csv, args.events)
    for name in args.datasets.split(","):
        if name == "ml-100k":
            bench("ml-100k", REPO / "data", args, csv)
        elif name == "1m":
            bench("synth", synthetic_1m(cache), args, csv)
        else:
            raise SystemExit(f"unknown dataset {name!r}: ml-100k or 1m")


if __name__ == "__main__":
    main()
