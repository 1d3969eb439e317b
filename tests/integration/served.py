"""The API over its real lifespan, for the HTTP tests: ``async with serve(settings) as client``.

On PostgreSQL the app keeps users' histories in memory, kept current by the database's
notifications (recsys.service.histories). A test that writes straight to the database, as
another system would, calls ``settle()`` before it reads through the API: it waits until
every app served here has heard of every write committed so far (notifications arrive in
commit order), which is what makes the next answer deterministic rather than "within a few
milliseconds".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from recsys.api import create_app
from recsys.api.deps import STATE_KEY
from recsys.service.runtime import Runtime
from recsys.settings import Settings

_serving: list[Runtime] = []


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
        runtime: Runtime = manager._state[STATE_KEY]
        _serving.append(runtime)
        try:
            if runtime.histories is not None:
                await runtime.sync_histories()  # listening, so settle() can rely on it
                await runtime.histories.wait_warm()
            yield client
        finally:
            _serving.remove(runtime)


async def settle() -> None:
    """Every app being served has heard of every write committed before this call."""
    for runtime in _serving:
        await runtime.sync_histories()
