"""What ``recsys db`` needs beside Alembic: the SQLite folder, and the errors a seed can raise."""

from __future__ import annotations

from recsys.data.frames import DatasetError, DatasetNotFoundError
from recsys.db.seed import SeedError
from recsys.db.session import ensure_sqlite_dir

# Failures a user can act on (a missing or malformed dataset, a refused unseed): one line.
SEED_ERRORS: tuple[type[Exception], ...] = (DatasetError, DatasetNotFoundError, SeedError)

__all__ = ["SEED_ERRORS", "ensure_sqlite_dir"]
