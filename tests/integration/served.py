"""The API over its real lifespan, for the HTTP tests: ``async with serve(settings) as client``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from recsys.api import create_app
from recsys.settings import Settings


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app for ``settings`` with its lifespan running, and a client talking to it."""
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://recsys.test"
        ) as client,
    ):
        yield client
