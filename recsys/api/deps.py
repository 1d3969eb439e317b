"""FastAPI dependencies as ``Annotated`` aliases: ``StateDep``, ``SessionDep``, ``ServiceDep``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.api.state import STATE_KEY, AppState
from recsys.service.recommend import RecommenderService
from recsys.service.registry import ModelRegistry

# Every dependency is `async def`: FastAPI runs plain `def` dependencies in a worker thread,
# a hop that costs more than everything these functions do.


async def get_state(request: Request) -> AppState:
    """The state the lifespan built (engine, sessions, models)."""
    return cast(AppState, getattr(request.state, STATE_KEY))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; the API only reads, so it is closed (rolled back), not committed."""
    state = cast(AppState, getattr(request.state, STATE_KEY))
    async with state.session_factory() as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One read-write transaction per request: the route commits what it accepts.

    Whatever is not committed when the request ends (an error, a refused batch) is rolled back.
    """
    state = cast(AppState, getattr(request.state, STATE_KEY))
    async with state.write_session_factory() as session:
        yield session


async def get_service(request: Request) -> RecommenderService:
    """The recommender service over the loaded models."""
    return cast(AppState, getattr(request.state, STATE_KEY)).service


async def get_registry(request: Request) -> ModelRegistry:
    """Which configured models are loaded, which are missing and why."""
    return cast(AppState, getattr(request.state, STATE_KEY)).registry


StateDep = Annotated[AppState, Depends(get_state)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session)]
ServiceDep = Annotated[RecommenderService, Depends(get_service)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
