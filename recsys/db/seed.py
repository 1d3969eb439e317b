"""The seed migration's work: load and validate a whole dataset, then bulk-write it.

Everything runs on the migration's own connection and transaction, so a failure at any point
leaves the database exactly as it was. Nothing is written before the whole dataset has parsed
and validated. PostgreSQL gets COPY on the raw asyncpg connection (the ratings as a binary COPY
buffer built with numpy, no per-row Python objects, in primary-key order, written frozen) into
``ratings`` stripped of its keys and indexes, rebuilt right after (recsys.db.bulk); SQLite gets
batched executemany.

The seed refuses to load a dataset unless users, movies and ratings are all empty: it is the
first load of a fresh schema, not a merge (dataset ``none`` writes nothing and always runs).
That also makes its downgrade exact: every row in those tables came from the seed, so removing
them removes exactly what it added (checked against the counts it recorded in
``dataset_seeds``; a mismatch refuses unless forced).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.util import await_

from recsys.data import load_dataset
from recsys.data.fingerprint import interactions_fingerprint, is_sorted_by_pair, pair_order
from recsys.data.frames import Dataset, DatasetError, Interactions, SourceRef
from recsys.db.bulk import without_constraints
from recsys.db.models import DatasetSeed, Movie, Rating, User
from recsys.db.pgcopy import encode_ratings

log = logging.getLogger(__name__)

NO_DATASET = "none"
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
_SQLITE_BATCH = 50_000
_USER_COLUMNS = ("id", "gender", "age", "occupation", "zip_code")
_MOVIE_COLUMNS = ("id", "title", "year", "genres")
_RATING_COLUMNS = ("user_id", "movie_id", "rating", "rated_at")
_SEEDED_TABLES = ("ratings", "movies", "users")
# Binary COPY framing: signature, flags, header-extension length; a -1 field count ends the data.


class SeedError(RuntimeError):
    """The database is not in a state the seed (or its downgrade) can safely act on."""


@dataclass(frozen=True)
class SeedSource:
    """Which dataset the seed loads: ``data_dir / dataset``, or nothing for ``none``."""

    dataset: str
    data_dir: Path

    @property
    def path(self) -> Path:
        """Folder holding the dataset's files."""
        return self.data_dir / self.dataset

    @property
    def is_none(self) -> bool:
        """True when the seed should load nothing."""
        return self.dataset.strip().lower() == NO_DATASET


def resolve_source(
    *,
    attributes: Mapping[str, Any],
    x_args: Mapping[str, str],
    default: SeedSource,
) -> SeedSource:
    """Dataset and data dir from Alembic attributes, then ``-x`` arguments, then ``default``.

    The caller (the migration) reads ``default`` from the settings: nothing under recsys/db
    reads them.
    """
    dataset = attributes.get("dataset") or x_args.get("dataset") or default.dataset
    data_dir = attributes.get("data_dir") or x_args.get("data_dir") or default.data_dir
    return SeedSource(dataset=str(dataset), data_dir=Path(data_dir))


@dataclass(frozen=True)
class PreparedSeed:
    """A validated dataset as column data ready to write (ids already known to fit int4)."""

    name: str
    users: list[tuple[Any, ...]]
    movies: list[tuple[Any, ...]]
    user_ids: npt.NDArray[np.int32]
    movie_ids: npt.NDArray[np.int32]
    ratings: npt.NDArray[np.float32]
    # Microseconds since the Unix epoch, UTC.
    rated_at_us: npt.NDArray[np.int64]

    def interactions(self) -> Interactions:
        """The ratings as the export returns them (epoch seconds)."""
        return Interactions(
            user_ids=self.user_ids.astype(np.int64),
            movie_ids=self.movie_ids.astype(np.int64),
            ratings=self.ratings,
            timestamps=np.floor_divide(self.rated_at_us, 1_000_000),
        )


@dataclass(frozen=True)
class SeedSummary:
    """What one seed run loaded."""

    name: str
    fingerprint: str | None
    users: int
    movies: int
    ratings: int


@contextmanager
def _timed(step: str, rows: int | None = None) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    what = f"{rows:,} rows in " if rows is not None else ""
    # `extra` lets a benchmark collect per-step timings from the log records.
    log.info("seed %s: %s%.2f s", step, what, seconds, extra={"step": step, "seconds": seconds})


def seed_database(connection: Connection, source: SeedSource) -> SeedSummary:
    """Load, validate and write ``source`` into empty tables on ``connection``'s transaction."""
    if source.is_none:
        # Writes no rows, so it is fine whatever the tables hold; its downgrade deletes none.
        summary = SeedSummary(NO_DATASET, None, 0, 0, 0)
        log.info("seed: dataset 'none', nothing loaded")
    else:
        _require_empty(connection)
        log.info("seed: loading dataset %r from %s", source.dataset, source.path)
        with _timed("load"):
            dataset = load_dataset(source.path, name=source.dataset)
        with _timed("prepare"):
            prepared = prepare(dataset)
            fingerprint = interactions_fingerprint(prepared.interactions())
        write_prepared(connection, prepared)
        summary = SeedSummary(
            name=prepared.name,
            fingerprint=fingerprint,
            users=len(prepared.users),
            movies=len(prepared.movies),
            ratings=int(prepared.user_ids.shape[0]),
        )
    connection.execute(
        insert(DatasetSeed).values(
            name=summary.name,
            fingerprint=summary.fingerprint,
            users=summary.users,
            movies=summary.movies,
            ratings=summary.ratings,
            seeded_at=datetime.now(UTC),
        )
    )
    return summary


def unseed_database(connection: Connection, *, force: bool = False) -> None:
    """Remove what the seed loaded: its rows and its ``dataset_seeds`` record."""
    record = connection.execute(
        select(DatasetSeed.id, DatasetSeed.users, DatasetSeed.movies, DatasetSeed.ratings)
        .order_by(DatasetSeed.id.desc())
        .limit(1)
    ).first()
    if record is None:
        log.info("unseed: no dataset_seeds record, nothing to remove")
        return
    expected = {"users": record.users, "movies": record.movies, "ratings": record.ratings}
    actual = _counts(connection)
    if any(expected.values()):
        if actual != expected and not force:
            raise SeedError(
                f"tables hold {_fmt(actual)} but the seed loaded {_fmt(expected)}: rows were "
                "added or removed since, refusing to delete them (pass -x force_unseed=true, "
                "or `recsys db downgrade --force`, to delete all rows anyway)"
            )
        with _timed("unseed", sum(actual.values())):
            _delete_all(connection)
    connection.execute(delete(DatasetSeed).where(DatasetSeed.id == record.id))


def prepare(dataset: Dataset) -> PreparedSeed:
    """Check what the schema adds to the loader's validation (int4 ids) and build columns."""
    # load_dataset already guarantees unique ids and pairs, known references and ratings in
    # range; the database's PK/FK constraints remain the backstop. Only the int4 range of the
    # id columns is a rule of this schema rather than of the dataset.
    users, movies, ratings = dataset.users, dataset.movies, dataset.ratings
    user_src, movie_src, rating_src = (
        dataset.sources.get(k) for k in ("users", "movies", "ratings")
    )
    user_ids = _int32_ids(users["id"], field="user id", source=user_src)
    movie_ids = _int32_ids(movies["id"], field="movie id", source=movie_src)
    rating_users = _int32_ids(ratings["user_id"], field="user id", source=rating_src)
    rating_movies = _int32_ids(ratings["movie_id"], field="movie id", source=rating_src)
    values = ratings["rating"].to_numpy(dtype=np.float32)
    rated_at_us = ratings["rated_at"].to_numpy(dtype="datetime64[us]").view(np.int64)
    if not is_sorted_by_pair(rating_users, rating_movies):
        # Rows in primary-key order (after the id checks, which report file lines in file
        # order): the key's index builds from presorted input, the table is stored clustered
        # by user (one user's history on few pages), and the fingerprint, here and in every
        # training read of this table, hashes the rows as they come, without sorting them.
        order = pair_order(rating_users, rating_movies)
        rating_users, rating_movies = rating_users[order], rating_movies[order]
        values, rated_at_us = values[order], rated_at_us[order]
        del order
    return PreparedSeed(
        name=dataset.name,
        users=_records(users, _USER_COLUMNS, ids=user_ids),
        movies=_records(movies, _MOVIE_COLUMNS, ids=movie_ids),
        user_ids=rating_users,
        movie_ids=rating_movies,
        ratings=values,
        rated_at_us=rated_at_us,
    )


def write_prepared(connection: Connection, prepared: PreparedSeed) -> None:
    """Bulk-insert prepared rows into the (empty) tables, logging rows and seconds per table."""
    if connection.dialect.name == "postgresql":
        _write_postgres(connection, prepared)
    else:
        _write_executemany(connection, prepared)


async def _aiter(chunks: Sequence[memoryview]) -> AsyncIterator[memoryview]:
    for chunk in chunks:
        yield chunk


def _write_postgres(connection: Connection, prepared: PreparedSeed) -> None:
    # The asyncpg connection under this SQLAlchemy connection, inside the same transaction;
    # await_ bridges into it from the synchronous migration code (SQLAlchemy's greenlet).
    driver: Any = connection.connection.driver_connection
    with _timed("users", len(prepared.users)):
        await_(driver.copy_records_to_table("users", records=prepared.users, columns=_USER_COLUMNS))
    with _timed("movies", len(prepared.movies)):
        await_(
            driver.copy_records_to_table("movies", records=prepared.movies, columns=_MOVIE_COLUMNS)
        )
    n = int(prepared.user_ids.shape[0])
    chunks = encode_ratings(
        prepared.user_ids, prepared.movie_ids, prepared.ratings, prepared.rated_at_us
    )
    with _timed("ratings", n), without_constraints(connection, "ratings", work_mem=_sort_memory(n)):
        # TRUNCATE (of a table checked empty) makes the table new in this transaction, which
        # lets COPY write its rows frozen and all-visible: the index builds, ANALYZE and the
        # first VACUUM then never rewrite every page to set hint bits. Rolled back with the rest.
        connection.exec_driver_sql("TRUNCATE TABLE ratings")
        with _timed("copy", n):
            await_(
                driver.copy_to_table(
                    "ratings",
                    source=_aiter(chunks),
                    columns=_RATING_COLUMNS,
                    format="binary",
                    freeze=True,
                )
            )
    with _timed("analyze"):
        # Fresh statistics so the API's first queries get good plans without waiting for autovacuum.
        connection.exec_driver_sql("ANALYZE users, movies, ratings")


def _sort_memory(rows: int) -> str:
    """maintenance_work_mem for the key and index builds: enough to sort ``rows`` in memory.

    About 80 bytes a row (a sort tuple plus its index tuple) keeps the PK build of up to 25M
    rows an in-memory quicksort instead of an external merge through temp files; floored at
    the old fixed 256MB and capped at 2GB (it is only held while each index builds).
    """
    megabytes = min(max(rows * 80 >> 20, 256), 2048)
    return f"{megabytes}MB"


def _write_executemany(connection: Connection, prepared: PreparedSeed) -> None:
    # Raw qmark SQL with pre-converted values: no per-row type processing by SQLAlchemy.
    movies = [(*row[:3], json.dumps(row[3])) for row in prepared.movies]
    # The text layout SQLAlchemy's SQLite DateTime writes and parses back.
    stamps = np.strings.replace(
        np.datetime_as_string(prepared.rated_at_us.astype("datetime64[us]"), unit="us"), "T", " "
    )
    ratings = zip(
        prepared.user_ids.tolist(),
        prepared.movie_ids.tolist(),
        prepared.ratings.tolist(),
        stamps.tolist(),
        strict=True,
    )
    for table, columns, rows, n in (
        ("users", _USER_COLUMNS, iter(prepared.users), len(prepared.users)),
        ("movies", _MOVIE_COLUMNS, iter(movies), len(movies)),
        ("ratings", _RATING_COLUMNS, ratings, int(prepared.user_ids.shape[0])),
    ):
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with _timed(table, n):
            while batch := _take(rows, _SQLITE_BATCH):
                connection.exec_driver_sql(sql, batch)


def _take(rows: Iterator[tuple[Any, ...]], n: int) -> list[tuple[Any, ...]]:
    return [row for _, row in zip(range(n), rows, strict=False)]


def _require_empty(connection: Connection) -> None:
    counts = _counts(connection)
    if any(counts.values()):
        raise SeedError(
            f"refusing to seed: the tables already hold {_fmt(counts)}; the seed loads a fresh "
            "schema only (downgrade first, or set RECSYS_DATASET=none)"
        )


def _counts(connection: Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, table in (("users", User), ("movies", Movie), ("ratings", Rating)):
        counts[name] = int(connection.execute(select(func.count()).select_from(table)).scalar_one())
    return counts


def _delete_all(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # TRUNCATE is transactional on PostgreSQL and far faster than DELETE for millions of rows.
        connection.execute(text("TRUNCATE TABLE ratings, movies, users"))
    else:
        for table in _SEEDED_TABLES:
            connection.execute(text(f"DELETE FROM {table}"))


def _fmt(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[k]:,} {k}" for k in ("users", "movies", "ratings"))


def _fail(message: str, *, source: SourceRef | None, row: int) -> DatasetError:
    if source is None:
        return DatasetError(message)
    return DatasetError(message, path=source.path, line=source.line_of(row))


def _int32_ids(values: pd.Series, *, field: str, source: SourceRef | None) -> npt.NDArray[np.int32]:
    ids = values.to_numpy(dtype=np.int64)
    bad = (ids < _INT32_MIN) | (ids > _INT32_MAX)
    if bool(bad.any()):
        row = int(np.flatnonzero(bad)[0])
        raise _fail(
            f"{field} {ids[row]} is out of range [{_INT32_MIN}, {_INT32_MAX}]",
            source=source,
            row=row,
        )
    return ids.astype(np.int32)


def _records(
    frame: pd.DataFrame, columns: Sequence[str], *, ids: npt.NDArray[np.int32]
) -> list[tuple[Any, ...]]:
    """Rows as plain Python tuples with None for missing values (what the drivers accept)."""
    values: list[list[Any]] = [ids.tolist()]
    for name in columns[1:]:
        column = frame[name]
        if name == "genres":
            values.append([list(g) for g in column.tolist()])
            continue
        values.append(_column_values(column))
    return list(zip(*values, strict=True))


def _column_values(column: pd.Series) -> list[Any]:
    if isinstance(column.dtype, pd.StringDtype | pd.Int64Dtype):
        # Vectorised: these dtypes hold Python str / int and pd.NA; one conversion instead of a
        # pd.isna call per value (4 of the 6 s `prepare` took for ML-25M-sized user tables).
        array = column.to_numpy(dtype=object)
        array[column.isna().to_numpy()] = None
        values: list[Any] = array.tolist()
        return values
    return [None if pd.isna(v) else _plain(v) for v in column.tolist()]


def _plain(value: Any) -> Any:
    # numpy scalars (e.g. from Int64 columns) -> Python ints/str, which asyncpg and sqlite3 take.
    return value.item() if isinstance(value, np.generic) else value
