"""The history cache's series: copied from the cache on refresh, taken back on close."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from recsys.modeling.base import History
from recsys.service.cache_metrics import HistoryCacheGauges, history_cache_metrics
from recsys.service.histories import HistoryCache
from recsys.service.metrics import render_metrics

NAMES = (
    "recsys_history_cache_users",
    "recsys_history_cache_bytes",
    "recsys_history_cache_not_listening",
    "recsys_history_cache_hits_total",
    "recsys_history_cache_misses_total",
)


def figures() -> dict[str, float]:
    return {name: REGISTRY.get_sample_value(name) or 0.0 for name in NAMES}


def moved(before: dict[str, float]) -> dict[str, float]:
    """How far each series moved since ``before``, by its short name."""
    now = figures()
    return {n.removeprefix("recsys_history_cache_"): now[n] - before[n] for n in NAMES}


def test_a_cache_adds_its_state_on_refresh_and_takes_the_gauges_back_on_close() -> None:
    before = figures()
    cache = HistoryCache()  # lazy: no warm-up, entries only
    gauges = HistoryCacheGauges(cache)
    assert moved(before) == {
        "users": 0,
        "bytes": 0,
        "not_listening": 1,
        "hits_total": 0,
        "misses_total": 0,
    }
    cache.connected()
    token = cache.token()
    assert cache.get(7) is None  # a miss
    cache.put(7, History.of([1, 2]), token)
    assert cache.get(7) is not None and cache.get(7) is not None  # two hits
    gauges.refresh()
    assert moved(before) == {
        "users": 1,
        "bytes": 0,
        "not_listening": 0,
        "hits_total": 2,
        "misses_total": 1,
    }
    cache.lost("test")  # notifications stop: not listening, nothing held
    assert cache.get(7) is None
    gauges.close()
    # Gauges back where they were; the counts stay counted.
    assert moved(before) == {
        "users": 0,
        "bytes": 0,
        "not_listening": 0,
        "hits_total": 2,
        "misses_total": 2,
    }
    gauges.refresh()  # closed: no effect
    assert moved(before)["misses_total"] == 2


async def test_a_scrape_refreshes_without_waiting_for_the_periodic_copy() -> None:
    before = figures()
    cache = HistoryCache()
    cache.connected()
    async with history_cache_metrics(cache, every=3600):
        assert cache.get(1) is None
        render_metrics()
        assert moved(before)["misses_total"] == 1
    assert moved(before)["not_listening"] == 0


async def test_the_periodic_copy_runs_without_a_scrape() -> None:
    before = figures()
    cache = HistoryCache()
    async with history_cache_metrics(cache, every=0.01):
        cache.get(1)  # not trusted: a miss
        for _ in range(500):
            if moved(before)["misses_total"] == 1:
                break
            await asyncio.sleep(0.01)
        assert moved(before)["misses_total"] == 1
