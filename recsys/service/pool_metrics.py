"""The API engine's connection pool as gauges: size, connections checked out, overflow.

Kept current by the pool's own checkout and check-in events rather than read by a collector at
scrape time: with several workers the scrape is answered by one of them, which cannot see the
others' pools, while gauges written on events live in each worker's file and are summed
(`livesum`). Each engine adds its share on `watch_pool` and takes exactly that share back on
`close`, so apps opened and closed in one process (tests) leave the totals as they found them.
Overflow changes when a connection is opened (before the checkout event) or an overflow one is
closed on its return (after the check-in event): it is read at each checkout and before every
scrape this process answers.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from recsys.service.metrics import add_refresher, remove_refresher

POOL_SIZE = Gauge(
    "recsys_db_pool_size",
    "Connections the API's database pool keeps (RECSYS_DB_POOL_SIZE), summed over workers.",
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "recsys_db_pool_checked_out",
    "Pooled database connections in use by a request right now, summed over workers.",
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "recsys_db_pool_overflow",
    "Connections open beyond the pool size (at most the pool's max_overflow), summed over workers.",
    multiprocess_mode="livesum",
)


class PoolGauges:
    """One engine's share of the pool gauges; ``close`` takes it back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        self._open = True
        # The scrape refreshes from a worker thread, the events run on the event loop.
        self._lock = threading.Lock()
        self._checked_out = 0
        self._overflow = 0
        self._size = _size(self._engine.pool)
        POOL_SIZE.inc(self._size)
        event.listen(self._engine, "checkout", self._on_checkout)
        event.listen(self._engine, "checkin", self._on_checkin)
        add_refresher(self.refresh_overflow)

    def _on_checkout(self, *_args: Any) -> None:
        if self._open:
            self._checked_out += 1
            POOL_CHECKED_OUT.inc()
            self.refresh_overflow()

    def _on_checkin(self, *_args: Any) -> None:
        # A connection checked out before close() may come back after it: ignored, as close()
        # already took its share back.
        if self._open and self._checked_out > 0:
            self._checked_out -= 1
            POOL_CHECKED_OUT.dec()

    def refresh_overflow(self) -> None:
        """Read the pool's overflow now (the engine's current pool: dispose() replaces it)."""
        pool = self._engine.pool
        overflow = max(0, pool.overflow()) if isinstance(pool, QueuePool) else 0
        with self._lock:
            if self._open and overflow != self._overflow:
                POOL_OVERFLOW.inc(overflow - self._overflow)
                self._overflow = overflow

    @property
    def checked_out(self) -> int:
        """This engine's connections in use, as the gauge counted them."""
        return self._checked_out

    def close(self) -> None:
        """Take this engine's share back out of the gauges and stop listening."""
        with self._lock:
            if not self._open:
                return
            self._open = False
            POOL_SIZE.dec(self._size)
            POOL_CHECKED_OUT.dec(self._checked_out)
            POOL_OVERFLOW.dec(self._overflow)
            self._checked_out = self._overflow = self._size = 0
        remove_refresher(self.refresh_overflow)
        event.remove(self._engine, "checkout", self._on_checkout)
        event.remove(self._engine, "checkin", self._on_checkin)


def watch_pool(engine: AsyncEngine) -> PoolGauges:
    """Start counting ``engine``'s pool in the gauges (``close`` the result when done)."""
    return PoolGauges(engine)


def _size(pool: Any) -> int:
    # NullPool / StaticPool (SQLite in memory) keep no fixed set of connections.
    return int(pool.size()) if isinstance(pool, QueuePool) else 0
