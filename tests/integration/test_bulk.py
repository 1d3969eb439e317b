"""recsys.db.bulk on PostgreSQL: constraints come back, and still guard the data."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from recsys.db.bulk import without_constraints
from recsys.db.session import create_engine

DEFINITIONS = text(
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = 'ratings'::regclass "
    "UNION ALL SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ratings' "
    "ORDER BY 1"
)


async def test_rows_that_break_a_key_fail_the_rebuild_and_roll_back(migrated_db: str) -> None:
    engine = create_engine(migrated_db)
    try:
        async with engine.connect() as conn:
            before = (await conn.execute(DEFINITIONS)).all()
            count = (await conn.execute(text("SELECT count(*) FROM ratings"))).scalar_one()
            await conn.rollback()

            inside: dict[str, object] = {}

            def load_duplicate(sync_conn: Connection) -> None:
                with without_constraints(sync_conn, "ratings"):
                    inside["definitions"] = sync_conn.execute(DEFINITIONS).all()
                    # Duplicates an existing (user, movie) pair: accepted without the PK...
                    sync_conn.exec_driver_sql("INSERT INTO ratings SELECT * FROM ratings LIMIT 1")
                    count_sql = "SELECT count(*) FROM ratings"
                    inside["count"] = sync_conn.exec_driver_sql(count_sql).scalar_one()

            # ...but rebuilding the primary key refuses it.
            with pytest.raises(IntegrityError, match="pk_ratings"):
                async with conn.begin():
                    await conn.run_sync(load_duplicate)

            assert inside == {"definitions": [], "count": count + 1}
            assert len(before) == 5  # pk + 2 fks, pk index + (user_id, rated_at) index
            assert (await conn.execute(DEFINITIONS)).all() == before
            assert (await conn.execute(text("SELECT count(*) FROM ratings"))).scalar_one() == count
            await conn.rollback()
    finally:
        await engine.dispose()
