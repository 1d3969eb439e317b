"""The runtime: what the API's lifespan and the CLI's database commands build once from Settings.

One engine, a read (autocommit) and a write session factory, the event weights, the event
ingester and the models being served. ``open_runtime`` builds it and disposes of the engine;
the API keeps it as its lifespan state, the CLI opens one per command.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncEngine

from recsys.data.frames import Interactions
from recsys.db.notify import HistoryListener, listen_history
from recsys.db.repositories import RatingRepository
from recsys.db.session import create_engine, create_session_factory, is_sqlite_url
from recsys.events import EventWeights
from recsys.modeling.registry import MODEL_TYPES
from recsys.service.availability import DatabaseAvailability
from recsys.service.cache_metrics import history_cache_metrics
from recsys.service.catalog import MovieCatalog
from recsys.service.catalog_state import polling, refresh_catalog
from recsys.service.eligibility import Eligibility
from recsys.service.errors import ConfigurationError
from recsys.service.histories import HistoryCache
from recsys.service.ingestion import EventIngester
from recsys.service.pool_metrics import watch_pool
from recsys.service.readiness import ReadinessProbe
from recsys.service.recommend import RecommenderService
from recsys.service.registry import ModelRegistry, open_registry
from recsys.service.reload import LiveModels
from recsys.service.sessions import Sessions
from recsys.settings import Settings

logger = logging.getLogger(__name__)

# Warming the movie cache must not hold startup hostage to a slow or absent database.
WARM_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Runtime:
    """Immutable for the life of the app or command, except what ``live`` serves (a reload)."""

    settings: Settings
    engine: AsyncEngine
    # Autocommit, for reads: spares every request its BEGIN and ROLLBACK round trips (each
    # query still sees one consistent snapshot).
    read_sessions: Sessions
    # One transaction each, which the caller commits (the write routes before they answer).
    write_sessions: Sessions
    weights: EventWeights
    ingester: EventIngester
    live: LiveModels
    # Users' histories in memory (the API on PostgreSQL with the 0004 triggers), else None.
    histories: HistoryCache | None = None
    history_listener: HistoryListener | None = None
    # Turns connection failures into DatabaseUnavailableError and logs down/back once each.
    database: DatabaseAvailability = field(default_factory=DatabaseAvailability)
    # /readyz and /ping: logs a database problem when it changes, not on every probe.
    readiness: ReadinessProbe = field(default_factory=ReadinessProbe)

    async def sync_catalog(self) -> None:
        """After a catalogue write: this process serves the new catalogue before it answers."""
        await refresh_catalog(self.live.catalog, self.read_sessions)

    async def sync_histories(self) -> None:
        """After a commit: this process's history cache has seen it before the answer goes."""
        if self.history_listener is not None:
            await self.history_listener.sync()

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


def check_settings(settings: Settings) -> None:
    """``ConfigurationError`` when the settings name a model type that does not exist."""
    unknown = [name for name in settings.models if name not in MODEL_TYPES]
    if unknown:
        raise ConfigurationError(
            f"RECSYS_MODELS names unknown model type(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(MODEL_TYPES))}"
        )


async def load_configured(settings: Settings) -> ModelRegistry:
    """LATEST of every RECSYS_MODELS type from RECSYS_ARTIFACT_URI (missing ones say why).

    A type whose LATEST does not load serves the newest earlier version that does (registry.py):
    ready, with the refusal on /readyz.
    """
    # File or bucket reads and sha256 checks: off the event loop.
    registry = await anyio.to_thread.run_sync(open_registry, settings.artifact_uri, settings.models)
    if registry.missing:
        logger.warning("not ready: %s not loaded (see /readyz)", ", ".join(registry.missing))
    if registry.refused:
        logger.warning(
            "serving an earlier version of %s: LATEST refused (see /readyz)",
            ", ".join(registry.refused),
        )
    return registry


def no_models() -> ModelRegistry:
    """An empty registry, for commands that serve nothing (train, import-events)."""
    empty: MappingProxyType[str, str] = MappingProxyType({})
    return ModelRegistry(configured=(), loaded=MappingProxyType({}), missing=empty)


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, registry: ModelRegistry | None = None, serving: bool = False
) -> AsyncIterator[Runtime]:
    """The runtime for ``settings``, serving ``registry`` (default: no models).

    ``serving`` (the API) sizes the pool from RECSYS_DB_POOL_* and warms the movie cache with
    every movie a loaded model can return; the engine is disposed of on exit.
    """
    stack = AsyncExitStack()
    if serving:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pre_ping=settings.db_pool_pre_ping,
            connect_timeout=settings.db_connect_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
    else:
        engine = create_engine(settings.database_url)
    database = DatabaseAvailability()
    database.watch(engine)
    if serving:  # the API's pool in /metrics; its share leaves the gauges when the app stops
        stack.callback(watch_pool(engine).close)
    try:
        read_sessions = create_session_factory(
            engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        weights = EventWeights(settings.event_weights)
        catalog = MovieCatalog()
        registry = registry if registry is not None else no_models()
        warm = functools.partial(_warm, catalog, read_sessions) if serving else None
        if warm is not None:
            await warm(registry)
        if serving or registry.loaded:  # what answers (API, predict) excludes deleted movies
            await _load_catalog(catalog, read_sessions)
        if serving:
            refresh = functools.partial(refresh_catalog, catalog, read_sessions)
            await stack.enter_async_context(polling(refresh, every=settings.catalog_poll_seconds))
        histories, listener = None, None
        if serving and _can_cache_histories(settings):
            # The full export (startup, and after the listener reconnects) reads every
            # history: it must not be cut by the requests' statement/command timeouts, so it
            # gets its own one-connection engine without them (opened on first use).
            export_engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
            stack.push_async_callback(export_engine.dispose)
            export_sessions = create_session_factory(
                export_engine.execution_options(isolation_level="AUTOCOMMIT")
            )
            export = functools.partial(_export, export_sessions, weights)
            histories = HistoryCache(warm=export if settings.history_cache == "warm" else None)
            await stack.enter_async_context(histories.running())
            await stack.enter_async_context(history_cache_metrics(histories))
            listener = await stack.enter_async_context(
                listen_history(settings.database_url, histories)
            )
        yield Runtime(
            settings=settings,
            engine=engine,
            read_sessions=read_sessions,
            write_sessions=create_session_factory(engine),
            weights=weights,
            ingester=EventIngester(
                weights,
                future_tolerance=timedelta(seconds=settings.event_future_tolerance_seconds),
            ),
            live=LiveModels(
                registry,
                artifact_uri=settings.artifact_uri,
                weights=weights,
                catalog=catalog,
                warm=warm,
                histories=histories,
                explore_share=settings.explore_share,
            ),
            histories=histories,
            history_listener=listener,
            database=database,
            readiness=ReadinessProbe(database),
        )
    finally:
        await stack.aclose()
        await engine.dispose()


def _can_cache_histories(settings: Settings) -> bool:
    # PostgreSQL only (NOTIFY); the listener checks for migration 0004's triggers each time
    # it connects and trusts nothing without them.
    return settings.history_cache != "off" and not is_sqlite_url(settings.database_url)


async def _export(sessions: Sessions, weights: EventWeights) -> Interactions:
    async with sessions() as session:
        return await RatingRepository(session).export(weights)


async def _load_catalog(catalog: MovieCatalog, sessions: Sessions) -> None:
    # The whole catalogue (deleted and new movies): startup goes on without it if the database
    # is away or not migrated to 0005 yet; the poll loads it later.
    try:
        async with asyncio.timeout(WARM_TIMEOUT_S):
            await refresh_catalog(catalog, sessions, force=True)
    except Exception as exc:
        logger.warning("catalogue not loaded (%s): no exclusion of deleted movies yet", exc)


async def _warm(catalog: MovieCatalog, sessions: Sessions, registry: ModelRegistry) -> None:
    # Every movie a loaded model can return, so the first requests do not each pay a query.
    ids = sorted({int(i) for m in registry.loaded.values() for i in m.model.item_ids})
    try:
        async with asyncio.timeout(WARM_TIMEOUT_S), sessions() as session:
            count = await catalog.warm(session, ids)
            # The filters' year and genre arrays, so the first filtered request pays no query.
            catalog.eligibility_source.set(await Eligibility.load(session))
    except Exception as exc:  # the database may be down at startup: /readyz will say so
        logger.warning("movie cache not warmed (%s); it fills as requests arrive", exc)
        return
    logger.info("movie cache warmed with %d movies", count)
