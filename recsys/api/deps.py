"""FastAPI dependencies as ``Annotated`` aliases: ``RuntimeDep``, ``SessionDep``, ``ServiceDep``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.service.recommend import RecommenderService
from recsys.service.registry import ModelRegistry
from recsys.service.runtime import Runtime

# The key of the lifespan state (``request.state.recsys``): the Runtime the lifespan opened.
STATE_KEY = "recsys"

# Every dependency is `async def`: FastAPI runs plain `def` dependencies in a worker thread,
# a hop that costs more than everything these functions do.


async def get_runtime(request: Request) -> Runtime:
    """The runtime the lifespan built (engine, sessions, models)."""
    runtime: Runtime = request.state.recsys
    return runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; the API only reads, so it is closed (rolled back), not committed."""
    runtime: Runtime = request.state.recsys
    async with runtime.read_sessions() as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One read-write transaction per request: the route commits what it accepts.

    Whatever is not committed when the request ends (an error, a refused batch) is rolled back.
    """
    runtime: Runtime = request.state.recsys
    async with runtime.write_sessions() as session:
        yield session


async def get_service(request: Request) -> RecommenderService:
    """The recommender service over the loaded models."""
    runtime: Runtime = request.state.recsys
    return runtime.service


async def get_registry(request: Request) -> ModelRegistry:
    """Which configured models are loaded, which are missing and why."""
    runtime: Runtime = request.state.recsys
    return runtime.registry


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session)]
ServiceDep = Annotated[RecommenderService, Depends(get_service)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
