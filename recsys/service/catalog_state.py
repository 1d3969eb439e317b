"""The whole catalogue in memory: soft-deleted movies, new movies, their content vectors.

Each worker holds one immutable ``CatalogSnapshot`` (on its ``MovieCatalog``) and replaces it
whole when the catalogue changes. How a change reaches every worker, within a bound: every
catalogue write raises ``catalog_state.version`` in its own transaction (migration 0005); each
serving worker reads that one-row table every RECSYS_CATALOG_POLL_SECONDS (default 2) in the
background, and reloads every movie when the number moved. So another worker or pod sees a
write at most one poll interval (plus the reload) after it commits, and the worker that made
the write reloads before it answers, so its own next request sees it. No request pays a
database round trip for this: the poll runs beside them, not in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import CatalogRepository, CatalogRow
from recsys.modeling.base import Recommender
from recsys.modeling.content import ContentIndex
from recsys.modeling.dataset import IdArray, IndexArray, lookup
from recsys.service.sessions import Sessions

logger = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class CatalogSnapshot:
    """One version of the catalogue; per-model look-ups are memoised (models are immutable)."""

    version: int
    live_ids: IdArray
    deleted_ids: IdArray
    content: ContentIndex
    rows: tuple[CatalogRow, ...] = ()
    _memo: dict[int, tuple[Any, IndexArray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, version: int, rows: list[CatalogRow]) -> CatalogSnapshot:
        """The snapshot of these rows (every movie, deleted ones flagged)."""
        live = [r for r in rows if not r.deleted]
        return cls(
            version=version,
            live_ids=np.array(sorted(r.id for r in live), dtype=np.int64),
            deleted_ids=np.array(sorted(r.id for r in rows if r.deleted), dtype=np.int64),
            content=ContentIndex.build(
                [r.id for r in live],
                [r.title for r in live],
                [r.year for r in live],
                [r.genres for r in live],
            ),
            rows=tuple(rows),
        )

    @classmethod
    def empty(cls) -> CatalogSnapshot:
        """Nothing known yet (no exclusion, no new movies)."""
        return cls.of(-1, [])

    def is_deleted(self, movie_id: int) -> bool:
        """True when the movie is soft-deleted."""
        return bool(lookup(self.deleted_ids, [movie_id])[0] >= 0)

    def new_for(self, model: Recommender[Any]) -> IndexArray:
        """Content rows of the live movies ``model`` never saw: the new movies for it."""
        return self._for(model)[1]

    def _for(self, model: Recommender[Any]) -> tuple[Any, IndexArray]:
        key = id(model)
        found = self._memo.get(key)
        if found is None or found[0] is not model:  # an id reused by a new model object
            unknown = lookup(model.item_ids, self.content.movie_ids) < 0
            found = (model, np.flatnonzero(unknown).astype(np.intp))
            if len(self._memo) > 16:  # models of old registries: let them go
                self._memo.clear()
            self._memo[key] = found
        return found


async def read_snapshot(
    session: AsyncSession, *, known: int | None = None
) -> CatalogSnapshot | None:
    """The catalogue now, or None when its version is still ``known`` (nothing to reload)."""
    repository = CatalogRepository(session)
    version = await repository.version()
    if known is not None and version == known:
        return None
    return CatalogSnapshot.of(version, await repository.rows())


@contextlib.asynccontextmanager
async def polling(refresh: Any, *, every: float) -> AsyncIterator[None]:
    """Run ``await refresh()`` every ``every`` seconds for the body (0: never)."""
    if every <= 0:
        yield
        return

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await refresh()
            except Exception as exc:  # the database may be away: the next poll tries again
                logger.debug("catalogue poll failed: %s", exc)

    task = asyncio.create_task(loop(), name="recsys-catalog-poll")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def refresh_catalog(catalog: Any, sessions: Sessions, *, force: bool = False) -> bool:
    """Reload ``catalog`` (a MovieCatalog) if the database's version moved; True if it did."""
    async with sessions() as session:
        snapshot = await read_snapshot(session, known=None if force else catalog.snapshot.version)
    if snapshot is None:
        return False
    catalog.install(snapshot)
    logger.info(
        "catalogue version %d: %d movies (%d deleted)",
        snapshot.version,
        snapshot.live_ids.shape[0] + snapshot.deleted_ids.shape[0],
        snapshot.deleted_ids.shape[0],
    )
    return True


async def read_deleted(sessions: Sessions) -> IdArray:
    """Ids of the soft-deleted movies (for batch prediction)."""
    async with sessions() as session:
        rows = await CatalogRepository(session).rows()
    return np.array([r.id for r in rows if r.deleted], dtype=np.int64)
