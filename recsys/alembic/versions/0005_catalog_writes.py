"""Catalogue writes: soft-deleted movies and a catalogue version every serving worker polls.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

``movies.deleted_at`` marks a soft-deleted movie (``DELETE /movies/{id}``): it is never
recommended or returned as similar again, and its ratings and events stay (history kept).
``catalog_state`` holds one row whose ``version`` every catalogue write (the API's movie routes,
``recsys data import-movies``, movies created by ``import-events``) raises in its transaction;
each API worker reads it every RECSYS_CATALOG_POLL_SECONDS and reloads its catalogue when it
moved (recsys.service.catalog_state). SQLite (3.35+) adds and drops the column in place: a
batch rebuild of ``movies`` would cascade-delete its ratings.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from recsys.db.seed import SeedError

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add movies.deleted_at and the one-row catalog_state table."""
    op.add_column("movies", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    table = op.create_table(
        "catalog_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_state")),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    """Drop both; refuses while movies are soft-deleted (they would come back) unless forced."""
    bind = op.get_bind()
    x_args = context.get_x_argument(as_dictionary=True)
    force = context.config.attributes.get("force_unseed") or x_args.get("force_unseed", "")
    if str(force).lower() not in ("1", "true", "yes"):
        deleted = int(bind.exec_driver_sql("SELECT count(deleted_at) FROM movies").scalar_one())
        if deleted:
            raise SeedError(
                f"refusing to drop movies.deleted_at: {deleted:,} soft-deleted movies would be "
                "served again (pass -x force_unseed=true, or `recsys db downgrade --force`)"
            )
    op.drop_table("catalog_state")
    op.drop_column("movies", "deleted_at")
