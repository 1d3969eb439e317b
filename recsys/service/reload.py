"""Hot reload: serve each model type's new ``LATEST`` with no restart and no failed request.

``LiveModels`` holds what serves (a ``Serving``: registry + service, immutable) and swaps it whole.
A request reads ``current`` once, so it finishes on the models it started with; the next request
sees the new ones. ``reload`` reads every configured type's ``LATEST``, loads the versions that
differ from what serves in a worker thread (file or bucket reads, sha256 checks, parsing), warms
the movie cache, then swaps. A version that does not load (bad sha256, wrong shapes, another model
type, unreadable files) is refused: logged, reported, shown on ``/readyz``, and the old version
keeps serving; a type that serves nothing yet gets the newest earlier version that loads, as at
start-up (registry.py). Reports and ``/readyz`` carry product words ("hash mismatch"); the log
carries the full message, once. ``poll_latest`` runs ``reload`` every N seconds in the
background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType

import anyio.to_thread

from recsys.events import EventWeights
from recsys.modeling.artifacts import (
    ArtifactError,
    ArtifactStore,
    load_model,
    open_store,
    read_latest,
)
from recsys.service.catalog import MovieCatalog
from recsys.service.heap import freeze_long_lived
from recsys.service.histories import HistoryCache
from recsys.service.metrics import count_reload, observe_model_load, publish_models
from recsys.service.recommend import RecommenderService
from recsys.service.registry import (
    STORE_FAILED,
    STORE_UNOPENABLE,
    LoadedModel,
    ModelRegistry,
    NothingLoadsError,
    Refusal,
    fall_back,
)

logger = logging.getLogger(__name__)

Warm = Callable[[ModelRegistry], Awaitable[None]]


@dataclass(frozen=True)
class Serving:
    """What answers requests right now; never changed, only replaced by a reload."""

    registry: ModelRegistry
    service: RecommenderService


class ReloadStatus(StrEnum):
    """What a reload did for one model type."""

    LOADED = "loaded"  # a new version now serves
    UNCHANGED = "unchanged"  # LATEST names the version that already serves
    REFUSED = "refused"  # LATEST names a version that does not load: the old one keeps serving
    FAILED = "failed"  # the store could not be read (no LATEST, network): nothing changed


@dataclass(frozen=True)
class ReloadOutcome:
    """One model type's reload: what LATEST named, what serves now, what served before."""

    model_type: str
    status: ReloadStatus
    version: str | None  # serving after the reload (None: the type is not loaded)
    previous: str | None  # serving before it
    latest: str | None = None  # what LATEST named, when it could be read
    # Why LATEST was refused or the store failed, in product words (no paths or URIs).
    error: str | None = None


@dataclass(frozen=True)
class ReloadReport:
    """Every configured model type's outcome, in configuration order."""

    outcomes: tuple[ReloadOutcome, ...]

    @property
    def changed(self) -> bool:
        """True when at least one type now serves a different version."""
        return any(o.status is ReloadStatus.LOADED for o in self.outcomes)

    @property
    def refused(self) -> bool:
        """True when a version was refused or the store failed for at least one type."""
        return any(o.status in (ReloadStatus.REFUSED, ReloadStatus.FAILED) for o in self.outcomes)


@dataclass(frozen=True)
class _Attempt:
    # What the worker thread found for one type; applied to the registry on the event loop.
    outcome: ReloadOutcome
    model: LoadedModel | None = None
    # LATEST's version does not load: why (``model`` may be an earlier version that does).
    refusal: Refusal | None = None
    # A deterministic refusal (corrupt or incompatible artifact): remembered so the poll does
    # not load and refuse the same bytes every tick.
    remember: bool = False
    # A refusal remembered from before, not tried again (and not logged again).
    repeated: bool = False
    # The full message behind ``outcome.error``, for the log only (it may name paths).
    detail: str | None = None


class LiveModels:
    """The models being served, swapped whole by ``reload``; requests read ``current`` once."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        artifact_uri: str,
        weights: EventWeights,
        catalog: MovieCatalog | None = None,
        warm: Warm | None = None,
        histories: HistoryCache | None = None,
        explore_share: float = 0.0,
    ) -> None:
        self._explore_share = explore_share
        self._catalog = catalog if catalog is not None else MovieCatalog()
        self._histories = histories
        self._weights = weights
        self._current = Serving(registry, self._service_for(registry))
        if registry.configured:  # a CLI runtime serving nothing must not unpublish the API's
            publish_models({t: m.version for t, m in registry.loaded.items()})
        self._artifact_uri = artifact_uri
        self._store: ArtifactStore | None = None
        self._warm = warm
        # One reload at a time: an admin request during a poll waits, then finds nothing new.
        self._lock = asyncio.Lock()
        # model type -> the version refused last, and why; start-up's refusals count (the
        # poll must not load and refuse again what start-up already fell back from).
        self._refused: dict[str, Refusal] = {
            t: r for t, r in registry.refused.items() if r.version is not None
        }

    @property
    def catalog(self) -> MovieCatalog:
        """The movie cache every service of this process shares (and its catalogue snapshot)."""
        return self._catalog

    @property
    def current(self) -> Serving:
        """What serves now (read it once per request)."""
        return self._current

    async def reload(self, *, retry_refused: bool = True) -> ReloadReport:
        """Load every type whose LATEST differs from what serves, then swap; never raises.

        ``retry_refused=False`` (the poll) skips a version already refused as corrupt or
        incompatible; an explicit reload tries it again.
        """
        async with self._lock:
            before = self._current
            skip = {} if retry_refused else dict(self._refused)
            # abandon_on_cancel: shutdown does not wait for a big artifact to finish loading.
            attempts = await anyio.to_thread.run_sync(
                self._attempt_all, before.registry, skip, abandon_on_cancel=True
            )
            registry = self._next_registry(before.registry, attempts)
            if registry != before.registry:
                service = before.service
                if (registry.loaded, registry.missing) != (
                    before.registry.loaded,
                    before.registry.missing,
                ):
                    # New models, or a new reason a missing one is missing (its error says why).
                    service = self._service_for(registry)
                if any(a.model is not None for a in attempts):
                    await self._warm_cache(registry)
                self._current = Serving(registry, service)  # the swap: one reference
                publish_models({t: m.version for t, m in registry.loaded.items()})
                if any(a.model is not None for a in attempts):
                    freeze_long_lived(collect_first=True)
            report = ReloadReport(tuple(a.outcome for a in attempts))
        for outcome in report.outcomes:
            count_reload(outcome.model_type, outcome.status.value)
        _log([a for a in attempts if not a.repeated])
        return report

    async def _warm_cache(self, registry: ModelRegistry) -> None:
        # Before the swap, so the new models' first requests find their movies cached; a cold
        # cache only costs queries, so a failure here must not hold the new version back.
        if self._warm is None:
            return
        try:
            await self._warm(registry)
        except Exception:
            logger.exception("movie cache not warmed after the reload; it fills as requests arrive")

    # -- worker thread ---------------------------------------------------------------------

    def _attempt_all(self, registry: ModelRegistry, skip: Mapping[str, Refusal]) -> list[_Attempt]:
        try:
            store = self._open_store()
        except Exception as exc:
            detail = f"artifact store {self._artifact_uri} cannot be opened: {exc}"
            return [
                self._failed(registry, t, STORE_UNOPENABLE, detail) for t in registry.configured
            ]
        return [self._attempt(store, registry, t, skip.get(t)) for t in registry.configured]

    def _attempt(
        self,
        store: ArtifactStore,
        registry: ModelRegistry,
        model_type: str,
        refused: Refusal | None,
    ) -> _Attempt:
        serving = registry.loaded.get(model_type)
        previous = serving.version if serving is not None else None
        try:
            latest = read_latest(store, model_type)
        except ArtifactError as exc:  # no LATEST, or one that does not hold a version id
            return self._failed(registry, model_type, exc.reason, str(exc))
        except Exception as exc:
            return self._failed(registry, model_type, STORE_FAILED, f"artifact store failed: {exc}")
        if latest == previous:
            outcome = ReloadOutcome(model_type, ReloadStatus.UNCHANGED, previous, previous, latest)
            return _Attempt(outcome)
        if refused is not None and refused.version == latest:
            # Nothing serving: keep the reason /readyz already gives ("...; no earlier version
            # loads"), not the shorter refusal.
            error = registry.missing.get(model_type) if serving is None else None
            outcome = ReloadOutcome(
                model_type, ReloadStatus.REFUSED, previous, previous, latest, error or str(refused)
            )
            return _Attempt(outcome, refusal=refused, repeated=True)
        try:
            # That exact version: LATEST may move again while this one loads.
            started = time.perf_counter()
            model, manifest = load_model(store, model_type, latest)
            observe_model_load(model_type, time.perf_counter() - started)
        except ArtifactError as exc:  # corrupt or incompatible: the same bytes fail every time
            if serving is None:
                return self._fall_back(store, model_type, latest, exc)
            refusal = Refusal(latest, exc.reason)
            outcome = self._refusal(model_type, previous, latest, str(refusal))
            return _Attempt(outcome, refusal=refusal, remember=True, detail=str(exc))
        except Exception as exc:  # the store failing mid-read may succeed next time: not
            # remembered, so the next poll tries again
            refusal = Refusal(latest, STORE_FAILED)
            outcome = self._refusal(model_type, previous, latest, str(refusal))
            return _Attempt(outcome, refusal=refusal, detail=f"{refusal}: {exc}")
        loaded = LoadedModel(model, manifest.version)
        outcome = ReloadOutcome(model_type, ReloadStatus.LOADED, latest, previous, latest)
        return _Attempt(outcome, model=loaded)

    @staticmethod
    def _fall_back(
        store: ArtifactStore, model_type: str, latest: str, first: ArtifactError
    ) -> _Attempt:
        # Nothing serves this type yet (it was missing at start-up): rather than keep serving
        # nothing, serve the newest earlier version that loads, as start-up would have.
        refusal = Refusal(latest, first.reason)
        try:
            choice = fall_back(store, model_type, latest, first)
        except NothingLoadsError as exc:
            outcome = ReloadOutcome(
                model_type, ReloadStatus.REFUSED, None, None, latest, exc.reason
            )
            return _Attempt(outcome, refusal=refusal, remember=True, detail=str(exc))
        version = choice.model.version
        outcome = ReloadOutcome(
            model_type, ReloadStatus.LOADED, version, None, latest, str(refusal)
        )
        return _Attempt(
            outcome, model=choice.model, refusal=refusal, remember=True, detail=str(first)
        )

    def _open_store(self) -> ArtifactStore:
        if self._store is None:
            self._store = open_store(self._artifact_uri)
        return self._store

    @staticmethod
    def _refusal(model_type: str, previous: str | None, latest: str, reason: str) -> ReloadOutcome:
        return ReloadOutcome(model_type, ReloadStatus.REFUSED, previous, previous, latest, reason)

    @staticmethod
    def _failed(registry: ModelRegistry, model_type: str, reason: str, detail: str) -> _Attempt:
        serving = registry.loaded.get(model_type)
        version = serving.version if serving is not None else None
        return _Attempt(
            ReloadOutcome(model_type, ReloadStatus.FAILED, version, version, error=reason),
            detail=detail,
        )

    # -- event loop ------------------------------------------------------------------------

    def _next_registry(self, registry: ModelRegistry, attempts: list[_Attempt]) -> ModelRegistry:
        loaded = dict(registry.loaded)
        missing = dict(registry.missing)
        refused = dict(registry.refused)
        for attempt in attempts:
            outcome = attempt.outcome
            model_type = outcome.model_type
            if attempt.model is not None:
                loaded[model_type] = attempt.model
                missing.pop(model_type, None)
                refused.pop(model_type, None)
                self._refused.pop(model_type, None)
                if attempt.refusal is not None:  # an earlier version, LATEST being refused
                    refused[model_type] = attempt.refusal
            elif outcome.status is ReloadStatus.UNCHANGED:
                refused.pop(model_type, None)  # LATEST is back on what serves (a rollback)
                self._refused.pop(model_type, None)
            elif outcome.error is not None:
                if model_type in loaded:
                    if attempt.refusal is not None:
                        refused[model_type] = attempt.refusal
                else:
                    missing[model_type] = outcome.error  # nothing serves: say why on /readyz
            if attempt.remember and attempt.refusal is not None:
                self._refused[model_type] = attempt.refusal
        return replace(
            registry,
            loaded=MappingProxyType(loaded),
            missing=MappingProxyType(missing),
            refused=MappingProxyType(refused),
        )

    def _service_for(self, registry: ModelRegistry) -> RecommenderService:
        return RecommenderService(
            registry.loaded,
            unavailable=registry.missing,
            catalog=self._catalog,
            weights=self._weights,
            histories=self._histories,
            explore_share=self._explore_share,
        )


def _log(attempts: list[_Attempt]) -> None:
    for a in attempts:
        o = a.outcome
        detail = a.detail or o.error
        if o.status is ReloadStatus.LOADED:
            logger.info("reloaded %s: %s -> %s", o.model_type, o.previous or "none", o.version)
        elif o.status is ReloadStatus.REFUSED:
            logger.error(
                "refused %s %s, still serving %s: %s",
                o.model_type,
                o.latest,
                o.previous or "nothing",
                detail,
            )
        elif o.status is ReloadStatus.FAILED:
            logger.warning("reload of %s failed, nothing changed: %s", o.model_type, detail)


@contextlib.asynccontextmanager
async def poll_latest(live: LiveModels, *, every: float) -> AsyncIterator[None]:
    """While the block runs, reload every ``every`` seconds in the background (0: never)."""
    if every <= 0:
        yield
        return
    task = asyncio.create_task(_poll(live, every), name="recsys-reload-poll")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _poll(live: LiveModels, every: float) -> None:
    logger.info("polling the artifact store's LATEST every %g s", every)
    while True:
        await asyncio.sleep(every)
        try:
            await live.reload(retry_refused=False)
        except Exception:  # reload reports rather than raises; this is the last resort
            logger.exception("reload poll failed; polling again in %g s", every)
