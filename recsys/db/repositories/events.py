"""Storing events: one INSERT per batch, a replayed idempotency key stored once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import REAL, DateTime, Integer, Text, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import Event
from recsys.db.repositories import _ids

# unnest() of one array per column: six parameters whatever the batch size, so one prepared
# statement (and plan) serves every batch. NULL keys never conflict, so keyless events always go in.
_INSERT_PG = """
INSERT INTO events (user_id, movie_id, type, value, occurred_at, idempotency_key)
SELECT * FROM unnest(:user_ids, :movie_ids, :types, :values, :occurred_at, :keys)
ON CONFLICT (idempotency_key) DO NOTHING
"""
# SQLite's bound-parameter limit divided by the six columns, rounded down.
_SQLITE_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to store; ``occurred_at`` must be timezone-aware."""

    user_id: int
    movie_id: int
    type: str
    value: float | None
    occurred_at: datetime
    idempotency_key: str | None = None


class EventRepository:
    """Writes to ``events``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, events: Sequence[NewEvent]) -> list[bool]:
        """Insert in one statement; True = stored, False = its idempotency key was already
        stored (a replay: not stored again). Does not commit: the caller commits.

        A key repeated inside ``events`` counts as a replay of its first occurrence. A key
        another transaction is inserting waits for that transaction, then reads as a replay.
        Users and movies must exist (foreign keys). Raises ValueError for a naive timestamp.
        """
        if not events:
            return []
        first_of_key: set[str] = set()
        fresh: list[NewEvent] = []
        stored = [False] * len(events)
        positions: list[int] = []
        for position, event in enumerate(events):
            if event.occurred_at.tzinfo is None:
                raise ValueError(
                    f"event {position}: naive occurred_at {event.occurred_at!r}; pass an aware "
                    "datetime (UTC)"
                )
            key = event.idempotency_key
            if key is not None:
                if key in first_of_key:
                    continue
                first_of_key.add(key)
            fresh.append(event)
            positions.append(position)
        inserted_keys = await self._insert(fresh, returning_keys=bool(first_of_key))
        for position, event in zip(positions, fresh, strict=True):
            key = event.idempotency_key
            stored[position] = key is None or key in inserted_keys
        return stored

    async def _insert(self, events: list[NewEvent], *, returning_keys: bool) -> set[str]:
        """Insert ``events`` (keys distinct) skipping stored keys; the keys it did insert."""
        if _ids.is_postgres(self._session):
            return await self._insert_postgres(events, returning_keys=returning_keys)
        inserted: set[str] = set()
        for part in _ids.chunks(events, _SQLITE_ROWS):
            statement: Any = (
                sqlite.insert(Event)
                .values([_row(event) for event in part])
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            if returning_keys:
                result = await self._session.execute(statement.returning(Event.idempotency_key))
                inserted.update(key for key in result.scalars() if key is not None)
            else:
                await self._session.execute(statement)
        return inserted

    async def _insert_postgres(self, events: list[NewEvent], *, returning_keys: bool) -> set[str]:
        sql = _INSERT_PG + (" RETURNING idempotency_key" if returning_keys else "")
        statement = text(sql).bindparams(
            bindparam("user_ids", [e.user_id for e in events], type_=_array(Integer())),
            bindparam("movie_ids", [e.movie_id for e in events], type_=_array(Integer())),
            bindparam("types", [e.type for e in events], type_=_array(Text())),
            bindparam("values", [e.value for e in events], type_=_array(REAL())),
            bindparam(
                "occurred_at",
                [e.occurred_at for e in events],
                type_=_array(DateTime(timezone=True)),
            ),
            bindparam("keys", [e.idempotency_key for e in events], type_=_array(Text())),
        )
        result = await self._session.execute(statement)
        if not returning_keys:
            return set()
        return {key for key in result.scalars() if key is not None}


def _array(item: Any) -> postgresql.ARRAY[Any]:
    return postgresql.ARRAY(item)


def _row(event: NewEvent) -> dict[str, Any]:
    return {
        "user_id": event.user_id,
        "movie_id": event.movie_id,
        "type": event.type,
        "value": event.value,
        "occurred_at": event.occurred_at,
        "idempotency_key": event.idempotency_key,
    }
