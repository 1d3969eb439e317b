"""What the lifespan builds and every request reads: engine, sessions, models, settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recsys.db.session import create_session_factory
from recsys.service.recommend import RecommenderService
from recsys.service.registry import ModelRegistry
from recsys.service.reload import LiveModels
from recsys.settings import Settings

# The key of the lifespan state (``request.state.recsys``).
STATE_KEY = "recsys"


@dataclass(frozen=True)
class AppState:
    """Immutable for the life of the app, except what ``live`` serves: a reload swaps that."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    live: LiveModels

    @property
    def registry(self) -> ModelRegistry:
        """Which configured models serve now, which are missing and why."""
        return self.live.current.registry

    @property
    def service(self) -> RecommenderService:
        """The recommender service over the models that serve now."""
        return self.live.current.service

    @property
    def default_model(self) -> str:
        """The model type requests get when they name none."""
        return self.settings.default_model

    @cached_property
    def write_session_factory(self) -> async_sessionmaker[AsyncSession]:
        """Read-write sessions for the write routes: one transaction each, which the route
        commits before it answers (``session_factory`` is autocommit and only reads)."""
        # Built on first use and kept (cached_property writes the instance's __dict__, which a
        # frozen dataclass allows); same engine, so the same pool as the reads.
        return create_session_factory(self.engine)
