"""Events (what users did, with a type and weight) and external ids for users and movies.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-02

Written out explicitly, like 0001. Comes after the seed, so the seed keeps loading into the
0001 tables; new users and movies (import-events, the API) get ids from
recsys.db.repositories.ids (max + 1 under a transaction-scoped advisory lock on PostgreSQL), so
no sequence is needed here. SQLite cannot ADD a UNIQUE column, and rebuilding ``users`` or
``movies`` in batch mode would cascade-delete their ratings, so there the uniqueness of
``external_id`` is a unique index (the same guarantee) rather than a table constraint.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from recsys.db.seed import SeedError

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EXTERNAL_ID_TABLES = ("users", "movies")


def upgrade() -> None:
    """Add users/movies.external_id and create the events table."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _EXTERNAL_ID_TABLES:
        op.add_column(table, sa.Column("external_id", sa.Text(), nullable=True))
        name = f"uq_{table}_external_id"
        if postgres:
            op.create_unique_constraint(name, table, ["external_id"])
        else:
            op.create_index(name, table, ["external_id"], unique=True)
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("value", sa.REAL(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"], ["movies.id"], name=op.f("fk_events_movie_id_movies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_events_idempotency_key")),
    )
    op.create_index("ix_events_user_id_occurred_at", "events", ["user_id", "occurred_at"])


def downgrade() -> None:
    """Drop the events table and the external_id columns; refuses to lose data unless forced."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    x_args = context.get_x_argument(as_dictionary=True)
    force = context.config.attributes.get("force_unseed") or x_args.get("force_unseed", "")
    if str(force).lower() not in ("1", "true", "yes"):
        held = {
            "events": "SELECT count(*) FROM events",
            "users with an external id": "SELECT count(external_id) FROM users",
            "movies with an external id": "SELECT count(external_id) FROM movies",
        }
        counts = {what: int(bind.exec_driver_sql(sql).scalar_one()) for what, sql in held.items()}
        if any(counts.values()):
            found = ", ".join(f"{n:,} {what}" for what, n in counts.items() if n)
            raise SeedError(
                f"refusing to drop {found}: they would be lost (pass -x force_unseed=true, "
                "or `recsys db downgrade --force`, to drop them anyway)"
            )
    op.drop_index("ix_events_user_id_occurred_at", table_name="events")
    op.drop_table("events")
    for table in reversed(_EXTERNAL_ID_TABLES):
        name = f"uq_{table}_external_id"
        if postgres:
            op.drop_constraint(name, table, type_="unique")
        else:
            op.drop_index(name, table_name=table)
        # SQLite >= 3.35 drops a column in place (no table rebuild, so no cascade).
        op.drop_column(table, "external_id")
