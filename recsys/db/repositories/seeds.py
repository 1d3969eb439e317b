"""What the seed migration loaded (the ``dataset_seeds`` record)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import DatasetSeed


@dataclass(frozen=True, slots=True)
class DatasetSeedRecord:
    """Dataset name, ratings fingerprint and row counts of one seed run."""

    name: str
    fingerprint: str | None
    users: int
    movies: int
    ratings: int
    seeded_at: datetime


class DatasetSeedRepository:
    """Queries on ``dataset_seeds``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def latest(self) -> DatasetSeedRecord | None:
        """The most recent seed record, or None if the database was never seeded."""
        query = select(DatasetSeed).order_by(DatasetSeed.id.desc()).limit(1)
        seed = (await self._session.execute(query)).scalar_one_or_none()
        if seed is None:
            return None
        return DatasetSeedRecord(
            name=seed.name,
            fingerprint=seed.fingerprint,
            users=seed.users,
            movies=seed.movies,
            ratings=seed.ratings,
            seeded_at=seed.seeded_at,
        )
