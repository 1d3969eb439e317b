"""PostgreSQL bulk-load helper: load a table without its keys and indexes, then rebuild them.

Per-row index maintenance and FK trigger checks make a COPY into a fully constrained table
several times slower than a COPY into a bare one followed by one sorted index build and one
set-based FK validation (PostgreSQL's own advice in "Populating a Database"). All of it is
transactional DDL on the caller's connection, so a failure restores the constraints with
everything else. Definitions are read from the catalogue, so whatever a later revision adds to
the table is rebuilt as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

_CONSTRAINTS = text(
    "SELECT conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = CAST(:table AS regclass) AND contype IN ('p', 'u', 'f') ORDER BY conname"
)
# Indexes that are not the backing index of a PK/unique constraint (those go with the constraint).
_INDEXES = text(
    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
    "JOIN pg_class i ON i.oid = x.indexrelid "
    "WHERE x.indrelid = CAST(:table AS regclass) AND NOT EXISTS ("
    "  SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid "
    "  AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x')"
    ") ORDER BY i.relname"
)


@dataclass(frozen=True)
class _Saved:
    keys: list[tuple[str, str]]  # primary/unique: (name, definition)
    foreign: list[tuple[str, str]]
    indexes: list[tuple[str, str]]  # (name, CREATE INDEX statement)


@contextmanager
def without_constraints(
    connection: Connection, table: str, *, work_mem: str = "256MB"
) -> Iterator[None]:
    """Drop ``table``'s keys, FKs and indexes for the block, then rebuild them (PostgreSQL)."""
    quote = connection.dialect.identifier_preparer.quote
    saved = _saved(connection, table)
    for name, _ in saved.foreign + saved.keys:
        connection.exec_driver_sql(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
    for name, _ in saved.indexes:
        connection.exec_driver_sql(f"DROP INDEX {quote(name)}")
    yield
    # Bigger sort memory for the index builds, for this transaction only.
    connection.execute(text("SELECT set_config('maintenance_work_mem', :v, true)"), {"v": work_mem})
    for name, definition in saved.keys + saved.foreign:
        _timed(
            connection,
            name,
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}",
        )
    for name, statement in saved.indexes:
        _timed(connection, name, statement)


def _timed(connection: Connection, name: str, statement: str) -> None:
    start = time.perf_counter()
    connection.exec_driver_sql(statement)
    seconds = time.perf_counter() - start
    # `extra` lets a benchmark collect each rebuild's time from the log records.
    log.info("rebuilt %s in %.2f s", name, seconds, extra={"step": name, "seconds": seconds})


def _saved(connection: Connection, table: str) -> _Saved:
    constraints = connection.execute(_CONSTRAINTS, {"table": table}).all()
    indexes = connection.execute(_INDEXES, {"table": table}).all()
    return _Saved(
        keys=[(row[0], row[2]) for row in constraints if row[1] in ("p", "u")],
        foreign=[(row[0], row[2]) for row in constraints if row[1] == "f"],
        indexes=[(row[0], row[1]) for row in indexes],
    )
