"""User look-ups."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.models import User


class UserRepository:
    """Queries on ``users``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def exists(self, user_id: int) -> bool:
        """True when ``user_id`` is a known user."""
        query = select(exists().where(User.id == user_id))
        return bool((await self._session.execute(query)).scalar())
