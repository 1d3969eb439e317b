"""HistoryCache: what it answers from memory, and when it must send a request to the database."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.service.histories import HistoryCache, frozen_history

# user 1: movies 30, 10 (given out of order); user 2: movie 20; user 3 has no history.
ROWS = Interactions(
    user_ids=np.array([1, 2, 1], dtype=np.int64),
    movie_ids=np.array([30, 20, 10], dtype=np.int64),
    ratings=np.array([4.0, 2.5, 5.0], dtype=np.float32),
    timestamps=np.array([300, 200, 100], dtype=np.int64),
)


def rows() -> Interactions:
    return ROWS


async def warm_cache() -> HistoryCache:
    async def export() -> Interactions:
        return rows()

    cache = HistoryCache(warm=export)
    cache.connected()
    await cache.wait_warm()
    return cache


async def test_warm_histories_come_out_in_movie_order_and_read_only() -> None:
    cache = await warm_cache()
    assert cache.state == "warm" and len(cache) == 2
    history = cache.get(1)
    assert history is not None
    assert history.movie_ids.tolist() == [10, 30]
    assert history.ratings.tolist() == [5.0, 4.0]
    assert history.timestamps is not None and history.timestamps.tolist() == [100, 300]
    with pytest.raises(ValueError, match="read-only"):
        history.movie_ids[0] = 99
    assert cache.get(3) is None  # not in the snapshot: the request queries (and puts)
    assert (cache.hits, cache.misses) == (1, 1)


async def test_a_change_drops_the_user_and_a_query_older_than_the_change_is_not_kept() -> None:
    cache = await warm_cache()
    token = cache.token()  # a request starts reading user 1 from the database ...
    cache.changed((1,))  # ... a write to user 1 commits meanwhile
    assert cache.get(1) is None
    cache.put(1, frozen_history([10], [5.0], [100]), token)
    assert cache.get(1) is None  # the stale read was refused
    fresh = frozen_history([10, 30, 40], [5.0, 4.0, 1.0], [100, 300, 400])
    cache.put(1, fresh, cache.token())
    assert cache.get(1) is fresh
    got = cache.get(2)  # other users keep their snapshot
    assert got is not None and got.movie_ids.tolist() == [20]


async def test_losing_notifications_trusts_nothing_until_connected_again() -> None:
    cache = await warm_cache()
    token = cache.token()
    cache.lost("connection reset")
    assert not cache.trusted and cache.get(2) is None
    cache.put(2, frozen_history([20], [2.5], [200]), cache.token())
    assert cache.get(2) is None  # nothing is kept while not listening
    cache.connected()
    cache.put(2, frozen_history([20], [2.5], [200]), token)  # read before the loss: refused
    assert cache.state == "warming" and cache.get(2) is None
    await cache.wait_warm()
    assert cache.state == "warm" and cache.get(2) is not None


async def test_everything_changed_forgets_all_and_warms_again() -> None:
    calls = 0

    async def export() -> Interactions:
        nonlocal calls
        calls += 1
        return rows()

    cache = HistoryCache(warm=export)
    cache.connected()
    await cache.wait_warm()
    cache.put(3, frozen_history([], [], []), cache.token())
    assert cache.get(3) is not None
    cache.changed(None)
    assert cache.get(3) is None and cache.get(1) is None
    await cache.wait_warm()
    assert calls == 2 and cache.get(1) is not None


async def test_a_snapshot_taken_while_a_user_changed_does_not_answer_for_that_user() -> None:
    release = asyncio.Event()

    async def slow_export() -> Interactions:
        await release.wait()
        return rows()  # read before the change below committed

    cache = HistoryCache(warm=slow_export)
    cache.connected()
    await asyncio.sleep(0)
    cache.changed((2,))  # arrives while the snapshot is being read
    release.set()
    await cache.wait_warm()
    assert cache.get(1) is not None
    assert cache.get(2) is None


async def test_lazy_mode_only_holds_what_requests_put() -> None:
    cache = HistoryCache()
    assert cache.get(1) is None and cache.state == "not listening"
    cache.connected()
    assert cache.state == "lazy"
    history = frozen_history([5], [1.0], [10])
    cache.put(1, history, cache.token())
    assert cache.get(1) is history
