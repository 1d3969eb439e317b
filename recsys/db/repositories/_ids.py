"""Shared by the user and movie repositories: creating rows by id or by external id, safely.

Ids of ``users`` and ``movies`` are plain integer keys (the seed COPYs MovieLens's own ids, and
the API may create a numeric user it is told about), so a sequence would not know about ids
written explicitly. New ids are ``max(id) + 1`` instead, taken while holding a
transaction-scoped advisory lock per table on PostgreSQL: every writer that creates rows in that
table (by id or by external id) takes the same lock, so two concurrent requests cannot pick the
same id, and under READ COMMITTED each statement after the lock sees what the previous holder
committed. The lock is held until the caller's transaction ends; only transactions that really
create rows take it. SQLite serialises writers itself (a second writer gets "database is
locked" rather than a duplicate id).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from sqlalchemy import ARRAY, Integer, Text, any_, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import CatalogState, Movie, User

Table = Literal["users", "movies"]
INT32_MAX = 2**31 - 1
# "recs" in ASCII: the advisory-lock namespace of this service; the second key names the table.
_LOCK_NAMESPACE = 0x72656373
_LOCK_KEYS: dict[Table, int] = {"users": 1, "movies": 2}
# Below SQLite's 32,766 bound-parameter limit with room for several columns per row.
SQLITE_CHUNK = 5_000

_MODELS: dict[Table, type[User] | type[Movie]] = {"users": User, "movies": Movie}


def is_postgres(session: AsyncSession) -> bool:
    """True when the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``values`` in consecutive slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def unique(values: Iterable[Any]) -> list[Any]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))


async def lock_for_create(session: AsyncSession, table: Table) -> None:
    """Serialise row creation in ``table`` until the transaction ends (PostgreSQL)."""
    if is_postgres(session):
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
            {"namespace": _LOCK_NAMESPACE, "key": _LOCK_KEYS[table]},
        )


async def existing_ids(session: AsyncSession, table: Table, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` are rows of ``table``."""
    model = _MODELS[table]
    found: set[int] = set()
    if is_postgres(session):
        param = bindparam("ids", list(ids), type_=postgresql.ARRAY(Integer()))
        query = select(model.id).where(model.id == any_(param))
        found.update((await session.execute(query)).scalars())
        return found
    for part in chunks(ids, SQLITE_CHUNK):
        found.update((await session.execute(select(model.id).where(model.id.in_(part)))).scalars())
    return found


async def ids_by_external(
    session: AsyncSession, table: Table, keys: Sequence[str]
) -> dict[str, int]:
    """``{external_id: id}`` for the keys that are rows of ``table``."""
    model = _MODELS[table]
    found: dict[str, int] = {}
    if is_postgres(session):
        param = bindparam("keys", list(keys), type_=ARRAY(Text()))
        query = select(model.external_id, model.id).where(model.external_id == any_(param))
        found.update({str(row[0]): row[1] for row in (await session.execute(query)).all()})
        return found
    for part in chunks(keys, SQLITE_CHUNK):
        query = select(model.external_id, model.id).where(model.external_id.in_(part))
        found.update({str(row[0]): row[1] for row in (await session.execute(query)).all()})
    return found


def check_int32(ids: Iterable[int], *, field: str) -> None:
    """Raise ValueError naming the first id outside the int4 key range [1, 2**31 - 1]."""
    for value in ids:
        if not 1 <= value <= INT32_MAX:
            raise ValueError(f"{field} {value} is out of range [1, {INT32_MAX}]")


async def insert_ids(session: AsyncSession, table: Table, ids: Sequence[int]) -> None:
    """Create bare rows with these ids, skipping any that exist (the caller holds the lock)."""
    model = _MODELS[table]
    rows = [_bare_row(table, i, None) for i in ids]
    if is_postgres(session):
        statement: Any = postgresql.insert(model).on_conflict_do_nothing(index_elements=["id"])
    else:
        statement = sqlite.insert(model).on_conflict_do_nothing(index_elements=["id"])
    for part in chunks(rows, SQLITE_CHUNK // 4):
        await session.execute(statement, list(part))


async def create_external(
    session: AsyncSession, table: Table, keys: Sequence[str]
) -> dict[str, int]:
    """Create one row per new external key with ids after the current maximum (lock held)."""
    model = _MODELS[table]
    top = (await session.execute(select(func.coalesce(func.max(model.id), 0)))).scalar_one()
    if top + len(keys) > INT32_MAX:
        raise ValueError(f"{table}: no ids left below {INT32_MAX} for {len(keys)} new rows")
    created = {key: top + 1 + offset for offset, key in enumerate(keys)}
    rows = [_bare_row(table, new_id, key) for key, new_id in created.items()]
    for part in chunks(rows, SQLITE_CHUNK // 4):
        # executemany: SQLAlchemy batches it into multi-row INSERTs (insertmanyvalues).
        await session.execute(insert(model), list(part))
    if table == "movies" and created:
        # New catalogue entries: serving workers reload their catalogue (migration 0005).
        await session.execute(
            update(CatalogState)
            .where(CatalogState.id == 1)
            .values(version=CatalogState.version + 1)
        )
    return created


async def resolve_external(
    session: AsyncSession, table: Table, keys: Sequence[str], *, create: bool
) -> dict[str, int]:
    """``{external_id: id}`` of ``table``; missing keys left out, or created when ``create``."""
    wanted = unique(str(k) for k in keys)
    if not wanted:
        return {}
    found = await ids_by_external(session, table, wanted)
    if not create or len(found) == len(wanted):
        return found
    await lock_for_create(session, table)
    # Another transaction may have created some of them while this one waited for the lock.
    found = await ids_by_external(session, table, wanted)
    missing = [key for key in wanted if key not in found]
    if missing:
        found.update(await create_external(session, table, missing))
    return found


def _bare_row(table: Table, row_id: int, key: str | None) -> dict[str, Any]:
    if table == "users":
        return {"id": row_id, "external_id": key}
    # A catalogue entry known only by its id until metadata arrives: the key is its title.
    return {"id": row_id, "external_id": key, "title": key or str(row_id), "genres": []}
