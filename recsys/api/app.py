"""``create_app(settings)``: the FastAPI application and the lifespan that loads its state."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from threadpoolctl import threadpool_limits

from recsys.api.errors import install_error_handlers
from recsys.api.routes import admin, compat, events, health, movies, sagemaker, users
from recsys.api.state import STATE_KEY, AppState
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.registry import MODEL_TYPES
from recsys.service.catalog import MovieCatalog
from recsys.service.registry import ModelRegistry, open_registry
from recsys.service.reload import LiveModels, poll_latest
from recsys.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Top-k movie recommendations with titles and genres, from models trained on the ratings in the
database (`recsys train`) and loaded from the artifact store at startup.

Already-rated movies are never recommended, including ratings added after training. Errors
answer `{"detail": ...}`: 404 unknown user or movie, 422 bad parameter or a model the service
does not load, 503 a configured model whose artifact is missing.
"""


# Warming the movie cache must not hold startup hostage to a slow or absent database.
WARM_TIMEOUT_S = 10.0


class ConfigurationError(ValueError):
    """The settings name something the API cannot serve."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (default: the environment's); state is built in the lifespan."""
    settings = settings or get_settings()
    unknown = [name for name in settings.models if name not in MODEL_TYPES]
    if unknown:
        raise ConfigurationError(
            f"RECSYS_MODELS names unknown model type(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(MODEL_TYPES))}"
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # One BLAS thread per scoring call: requests are the parallelism (one worker per core).
        # A 50K-movie ALS top-10 took 16 ms with OpenBLAS's default threads on a busy 2-vCPU
        # machine against 2 ms with one.
        blas = threadpool_limits(limits=1, user_api="blas")
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pre_ping=settings.db_pool_pre_ping,
        )
        try:
            # File or bucket reads and sha256 checks: off the event loop.
            registry = await anyio.to_thread.run_sync(
                open_registry, settings.artifact_uri, settings.models
            )
            if registry.missing:
                logger.warning(
                    "not ready: %s not loaded (see /readyz)", ", ".join(registry.missing)
                )
            # The API only reads: autocommit spares every request its BEGIN and ROLLBACK
            # round trips (each query still sees one consistent snapshot).
            session_factory = create_session_factory(
                engine.execution_options(isolation_level="AUTOCOMMIT")
            )
            catalog = MovieCatalog()
            await _warm(catalog, session_factory, registry)
            live = LiveModels(
                registry,
                artifact_uri=settings.artifact_uri,
                catalog=catalog,
                warm=functools.partial(_warm, catalog, session_factory),
                weights=EventWeights(settings.event_weights),
            )
            state = AppState(
                settings=settings,
                engine=engine,
                session_factory=session_factory,
                live=live,
            )
            async with poll_latest(live, every=settings.reload_poll_seconds):
                yield {STATE_KEY: state}
        finally:
            await engine.dispose()
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
    app.include_router(compat.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    return app


async def _warm(
    catalog: MovieCatalog,
    session_factory: async_sessionmaker[AsyncSession],
    registry: ModelRegistry,
) -> None:
    # Every movie a loaded model can return, so the first requests do not each pay a query.
    ids = sorted({int(i) for m in registry.loaded.values() for i in m.model.item_ids})
    try:
        async with asyncio.timeout(WARM_TIMEOUT_S), session_factory() as session:
            count = await catalog.warm(session, ids)
    except Exception as exc:  # the database may be down at startup: /readyz will say so
        logger.warning("movie cache not warmed (%s); it fills as requests arrive", exc)
        return
    logger.info("movie cache warmed with %d movies", count)
