"""What the lifespan builds and every request reads: engine, sessions, models, settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recsys.api.registry import ModelRegistry
from recsys.api.reload import LiveModels
from recsys.recommender import RecommenderService
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
