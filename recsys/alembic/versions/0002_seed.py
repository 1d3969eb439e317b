"""Seed the configured dataset (RECSYS_DATASET under RECSYS_DATA_DIR; `none` loads nothing).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-01

Override with `-x dataset=NAME -x data_dir=PATH` (or config.attributes). The work lives in
recsys.db.seed; see its docstring for the rules (empty tables only, validate before writing).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import context, op

from recsys.db import seed
from recsys.settings import Settings

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Load the dataset into the empty tables."""
    if context.is_offline_mode():
        raise seed.SeedError("the seed reads files and COPYs rows; it cannot run in --sql mode")
    settings = Settings()
    source = seed.resolve_source(
        attributes=context.config.attributes,
        x_args=context.get_x_argument(as_dictionary=True),
        default=seed.SeedSource(dataset=settings.dataset, data_dir=settings.data_dir),
    )
    seed.seed_database(op.get_bind(), source)


def downgrade() -> None:
    """Remove the rows the seed loaded and its dataset_seeds record."""
    x_args = context.get_x_argument(as_dictionary=True)
    force = context.config.attributes.get("force_unseed") or x_args.get("force_unseed", "")
    seed.unseed_database(op.get_bind(), force=str(force).lower() in ("1", "true", "yes"))
