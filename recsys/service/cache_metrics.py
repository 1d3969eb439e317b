"""The history cache's state as series: users held, bytes, hits and misses, whether it listens.

The cache counts hits and misses in plain ints (one attribute add per request); copying them
into Prometheus on every request would cost the hot path a counter each. They are copied
instead every few seconds by a background task and before every scrape this process answers:
a scrape is at most that many seconds behind for the other workers. Like the pool gauges,
each cache adds its share and ``close`` takes it back, so the figures are sums over workers
(``livesum``) and apps closed in one process leave them as they found them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from prometheus_client import Counter, Gauge

from recsys.service.histories import HistoryCache
from recsys.service.metrics import add_refresher, remove_refresher

# How stale another worker's figures may be in a scrape.
REFRESH_SECONDS = 5.0

HISTORY_USERS = Gauge(
    "recsys_history_cache_users",
    "Users whose history the workers hold in memory (warm columns plus entries), summed.",
    multiprocess_mode="livesum",
)
HISTORY_BYTES = Gauge(
    "recsys_history_cache_bytes",
    "Bytes of the history caches' warm columns (entries not counted), summed over workers.",
    multiprocess_mode="livesum",
)
HISTORY_NOT_LISTENING = Gauge(
    "recsys_history_cache_not_listening",
    "Workers whose history cache is not hearing the database's notifications (so every "
    "request reads its history with a query); 0 when all are.",
    multiprocess_mode="livesum",
)
HISTORY_HITS = Counter(
    "recsys_history_cache_hits_total", "Histories answered from memory (copied every few s)."
)
HISTORY_MISSES = Counter(
    "recsys_history_cache_misses_total",
    "Histories read with a query: not held, or not trusted (copied every few s).",
)


class HistoryCacheGauges:
    """One cache's share of the series; ``refresh`` copies its state, ``close`` takes it back."""

    def __init__(self, cache: HistoryCache) -> None:
        self._cache = cache
        # The scrape refreshes from a worker thread, the periodic task on the event loop.
        self._lock = threading.Lock()
        self._open = True
        self._hits = cache.hits
        self._misses = cache.misses
        self._users = 0
        self._bytes = 0
        self._not_listening = 0
        self.refresh()

    def refresh(self) -> None:
        """Copy the cache's figures now (a no-op once closed)."""
        cache = self._cache
        hits, misses = cache.hits, cache.misses
        users, nbytes = len(cache), cache.nbytes
        not_listening = 0 if cache.trusted else 1
        with self._lock:
            if not self._open:
                return
            HISTORY_HITS.inc(max(0, hits - self._hits))
            HISTORY_MISSES.inc(max(0, misses - self._misses))
            self._hits, self._misses = hits, misses
            HISTORY_USERS.inc(users - self._users)
            HISTORY_BYTES.inc(nbytes - self._bytes)
            HISTORY_NOT_LISTENING.inc(not_listening - self._not_listening)
            self._users, self._bytes, self._not_listening = users, nbytes, not_listening

    def close(self) -> None:
        """Count what happened since the last refresh, then take this cache's gauges back."""
        self.refresh()
        with self._lock:
            if not self._open:
                return
            self._open = False
            HISTORY_USERS.dec(self._users)
            HISTORY_BYTES.dec(self._bytes)
            HISTORY_NOT_LISTENING.dec(self._not_listening)


@contextlib.asynccontextmanager
async def history_cache_metrics(
    cache: HistoryCache, *, every: float = REFRESH_SECONDS
) -> AsyncIterator[HistoryCacheGauges]:
    """``cache`` in the series while the block runs: refreshed every ``every`` s and per scrape."""
    gauges = HistoryCacheGauges(cache)
    add_refresher(gauges.refresh)

    async def refresh_forever() -> None:
        while True:
            await asyncio.sleep(every)
            gauges.refresh()

    task = asyncio.create_task(refresh_forever(), name="recsys-history-cache-metrics")
    try:
        yield gauges
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        remove_refresher(gauges.refresh)
        gauges.close()
