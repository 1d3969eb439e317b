"""Tell serving processes which users' histories changed: NOTIFY from ratings and events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

The API keeps every user's history in process memory (recsys.service.histories) instead of
querying it per request. Any write to ``ratings`` or ``events``, from the API, the CLI or
another system writing straight to the database, must reach every worker of every pod: these
triggers send ``NOTIFY recsys_history`` with the changed user ids when the transaction
commits, and every serving process ``LISTEN``s. Statement-level triggers with transition
tables, so a bulk load costs one notification per statement, not a trigger call per row;
a statement touching more than ``_MAX_IDS`` users sends ``*`` (everything changed) instead of
a payload over NOTIFY's 8000-byte limit. PostgreSQL only: SQLite has no NOTIFY, and the API
does not cache histories there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "recsys_history"
# Comma-separated ids up to 10 digits: 600 ids stay under NOTIFY's 8000-byte payload limit.
_MAX_IDS = 600
_TABLES = ("ratings", "events")

_FUNCTION = f"""
CREATE OR REPLACE FUNCTION recsys_notify_history() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids text;
    n integer;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{CHANNEL}', '*');
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT count(*), string_agg(user_id::text, ',') INTO n, ids
        FROM (SELECT DISTINCT user_id FROM new_rows LIMIT {_MAX_IDS + 1}) AS changed;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT count(*), string_agg(user_id::text, ',') INTO n, ids
        FROM (SELECT DISTINCT user_id FROM old_rows LIMIT {_MAX_IDS + 1}) AS changed;
    ELSE
        SELECT count(*), string_agg(user_id::text, ',') INTO n, ids
        FROM (
            SELECT user_id FROM new_rows UNION SELECT user_id FROM old_rows LIMIT {_MAX_IDS + 1}
        ) AS changed;
    END IF;
    IF n > {_MAX_IDS} THEN
        PERFORM pg_notify('{CHANNEL}', '*');
    ELSIF n > 0 THEN
        PERFORM pg_notify('{CHANNEL}', ids);
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    """The notify function and, per table, one statement trigger per kind of write."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    for table in _TABLES:
        # One trigger per operation: a trigger with transition tables takes a single event.
        op.execute(
            f"CREATE TRIGGER {table}_notify_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION recsys_notify_history()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_notify_update AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION recsys_notify_history()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_notify_delete AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION recsys_notify_history()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_notify_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION recsys_notify_history()"
        )


def downgrade() -> None:
    """Drop the triggers and the function."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        for kind in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_{kind} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS recsys_notify_history()")
