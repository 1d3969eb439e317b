"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator, TypeEngine

# A real text[] on PostgreSQL (indexable, ANY()-searchable); JSON on SQLite, which has no arrays.
GENRES_TYPE: TypeEngine[Any] = JSON().with_variant(postgresql.ARRAY(Text()), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamptz`` that always hands back aware UTC datetimes, also on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        # SQLite stores the wall-clock digits only, so normalise to UTC before they are written.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite returns naive values; they were written as UTC (see process_bind_param).
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
