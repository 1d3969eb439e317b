"""``create_app(settings)``: the FastAPI application and the lifespan that loads its state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from recsys.api.deps import STATE_KEY
from recsys.api.errors import install_error_handlers
from recsys.api.hot import HotRecommendations
from recsys.api.observe import RequestMiddleware
from recsys.api.pages import install_pages
from recsys.api.routes import (
    admin,
    catalog,
    compat,
    events,
    health,
    metrics,
    movies,
    sagemaker,
    users,
)
from recsys.service.heap import freeze_long_lived, thaw
from recsys.service.logs import install_request_ids
from recsys.service.reload import poll_latest
from recsys.service.runtime import check_settings, load_configured, open_runtime
from recsys.settings import Settings, get_settings

DESCRIPTION = """\
Top-k movie recommendations with titles and genres, from models trained on the ratings in the
database (`recsys train`) and loaded from the artifact store at startup.

Already-rated movies are never recommended, including ratings added after training. Errors
answer `{"detail": ...}`: 404 unknown user or movie, 413 a body over `RECSYS_MAX_BODY_BYTES`,
422 bad parameter or a model the service does not load, 503 a configured model whose artifact is
missing, or the database unavailable (with `Retry-After`). Every answer carries an
`X-Request-ID` (the client's when it sends a sane one).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (default: the environment's); state is built in the lifespan.

    Raises ``ConfigurationError`` when the settings name an unknown model type.
    """
    settings = settings or get_settings()
    check_settings(settings)
    install_request_ids()  # every log line written while answering names its request

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # One BLAS thread per scoring call: requests are the parallelism (one worker per core).
        # A 50K-movie ALS top-10 took 16 ms with OpenBLAS's default threads on a busy 2-vCPU
        # machine against 2 ms with one.
        blas = threadpool_limits(limits=1, user_api="blas")
        try:
            registry = await load_configured(settings)
            async with (
                open_runtime(settings, registry=registry, serving=True) as runtime,
                poll_latest(runtime.live, every=settings.reload_poll_seconds),
            ):
                freeze_long_lived()  # start-up's objects out of the collector's full passes
                yield {STATE_KEY: runtime}
        finally:
            thaw()
            blas.restore_original_limits()

    app = FastAPI(
        title="recsys",
        summary="Movie recommendations over HTTP.",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(events.router)
    app.include_router(sagemaker.router)
    app.include_router(users.router)
    app.include_router(movies.router)
    app.include_router(catalog.router)
    app.include_router(compat.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(metrics.router)
    install_pages(app)  # the HTML pages and /static, outside the OpenAPI document
    # One layer for request id, body limit, metrics and the access log (recsys.api.observe);
    # it answers plain recommendation requests itself, before the router (recsys.api.hot).
    hot = HotRecommendations.of(app, users.router, users.recommendations)
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes, hot=hot)
    return app
