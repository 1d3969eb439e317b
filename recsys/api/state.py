"""What the lifespan builds and every request reads: engine, sessions, models, settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recsys.api.registry import ModelRegistry
from recsys.recommender import RecommenderService
from recsys.settings import Settings

# The key of the lifespan state (``request.state.recsys``).
STATE_KEY = "recsys"


@dataclass(frozen=True)
class AppState:
    """Immutable for the life of the app; a reload would build a new one and swap it."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    registry: ModelRegistry
    service: RecommenderService
    # Read-write sessions (one transaction each, committed by the route) for the write routes;
    # ``session_factory`` above is autocommit and only reads.
    write_session_factory: async_sessionmaker[AsyncSession]

    @property
    def default_model(self) -> str:
        """The model type requests get when they name none."""
        return self.settings.default_model
