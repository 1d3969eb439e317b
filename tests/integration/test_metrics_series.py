"""Each /metrics series moves by the known amount when its thing happens, read over HTTP.

The app runs its real lifespan (one process, the default registry) on the tiny dataset
(users 1-4; movies 1, 2, 3, 5, 7 rated, 11 never) in a database of this module's own, with
item_knn and popularity trained on it and the write token set. Counters are process-wide, so
every test compares a scrape before with one after.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from recsys.db.session import create_engine
from recsys.modeling.artifacts import LocalArtifactStore, read_latest
from recsys.service.pool_metrics import watch_pool
from recsys.settings import Settings
from tests.integration.served import serve, settle
from tests.support.scrape import Samples, parse_samples, series, value
from tests.support.training import train_into

TOKEN = "metrics-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODELS = ("item_knn", "popularity")
POOL_SIZE = 3
NEVER_RATED = 11  # in the catalogue, so events may name it, but no model has seen it
NEW_USER = 40  # not in the tiny dataset


@pytest.fixture(scope="module")
async def artifacts(module_tiny_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifacts")
    await train_into(module_tiny_db, folder, *MODELS)
    return folder


def settings_for(url: str, artifacts: Path) -> Settings:
    return Settings(
        database_url=url,
        artifact_uri=f"file://{artifacts}",
        models=MODELS,
        default_model="item_knn",
        api_write_token=TOKEN,
        db_pool_size=POOL_SIZE,
    )


@pytest.fixture(scope="module")
async def client(module_tiny_db: str, artifacts: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(module_tiny_db, artifacts)) as client:
        yield client


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse_samples(response.text)


async def execute(url: str, sql: str, **params: Any) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql), params)
    finally:
        await engine.dispose()
    await settle()


def recommendations(samples: Samples, model: str, outcome: str) -> float:
    return value(samples, "recsys_recommendations_total", {"model": model, "outcome": outcome})


def fallbacks(samples: Samples, model: str, reason: str) -> float:
    return value(samples, "recsys_fallback_answers_total", {"model": model, "reason": reason})


async def test_an_answer_from_the_model_counts_once_and_no_fallback(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    response = await client.get("/users/1/recommendations?k=2&model=item_knn")
    assert response.status_code == 200 and response.json()["fallback"] is False
    after = await scrape(client)
    assert (
        recommendations(after, "item_knn", "model")
        == recommendations(before, "item_knn", "model") + 1
    )
    assert series(after, "recsys_fallback_answers_total") == series(
        before, "recsys_fallback_answers_total"
    )


async def test_a_user_with_no_history_is_one_fallback_answer(
    client: httpx.AsyncClient, module_tiny_db: str
) -> None:
    await execute(module_tiny_db, "INSERT INTO users (id) VALUES (:u)", u=NEW_USER)
    try:
        before = await scrape(client)
        response = await client.get(f"/users/{NEW_USER}/recommendations?k=2&model=item_knn")
        after = await scrape(client)
    finally:
        await execute(module_tiny_db, "DELETE FROM users WHERE id = :u", u=NEW_USER)
    assert response.status_code == 200 and response.json()["fallback"] is True
    assert (
        fallbacks(after, "item_knn", "no_history")
        == fallbacks(before, "item_knn", "no_history") + 1
    )
    assert fallbacks(after, "item_knn", "unknown_movies") == fallbacks(
        before, "item_knn", "unknown_movies"
    )
    assert (
        recommendations(after, "item_knn", "fallback")
        == recommendations(before, "item_knn", "fallback") + 1
    )
    assert recommendations(after, "item_knn", "model") == recommendations(
        before, "item_knn", "model"
    )


async def test_a_history_of_movies_the_model_never_saw_falls_back_as_unknown_movies(
    client: httpx.AsyncClient, module_tiny_db: str
) -> None:
    event = {"user_id": NEW_USER + 1, "movie_id": NEVER_RATED, "type": "watch"}
    assert (await client.post("/events", json={"events": [event]}, headers=AUTH)).status_code == 201
    try:
        before = await scrape(client)
        response = await client.get(f"/users/{NEW_USER + 1}/recommendations?k=2&model=item_knn")
        after = await scrape(client)
    finally:
        await execute(module_tiny_db, "DELETE FROM users WHERE id = :u", u=NEW_USER + 1)
    assert response.status_code == 200 and response.json()["fallback"] is True
    assert (
        fallbacks(after, "item_knn", "unknown_movies")
        == fallbacks(before, "item_knn", "unknown_movies") + 1
    )


async def test_an_unknown_user_counts_as_such_and_an_unknown_model_adds_no_label(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    assert (await client.get("/users/999/recommendations?model=popularity")).status_code == 404
    assert (await client.get("/users/1/recommendations?model=no-such")).status_code == 422
    after = await scrape(client)
    assert (
        recommendations(after, "popularity", "unknown_user")
        == recommendations(before, "popularity", "unknown_user") + 1
    )
    # Other apps of the session count their own (configured) models; never the unknown name.
    models = {dict(labels)["model"] for labels in series(after, "recsys_recommendations_total")}
    assert "popularity" in models and "no-such" not in models


async def test_one_event_posted_twice_is_received_twice_stored_once_replayed_once(
    client: httpx.AsyncClient, module_tiny_db: str
) -> None:
    event = {"user_id": 1, "movie_id": 11, "type": "watch", "idempotency_key": "metrics-twice"}
    before = await scrape(client)
    try:
        for expected_stored in (1, 0):
            response = await client.post("/events", json={"events": [event]}, headers=AUTH)
            assert response.status_code == 201 and response.json()["stored"] == expected_stored
        after = await scrape(client)
    finally:
        await execute(module_tiny_db, "DELETE FROM events WHERE idempotency_key = 'metrics-twice'")
    moved = {
        name: value(after, name) - value(before, name)
        for name in (
            "recsys_events_received_total",
            "recsys_events_stored_total",
            "recsys_events_replayed_total",
            "recsys_events_refused_total",
        )
    }
    assert moved == {
        "recsys_events_received_total": 2,
        "recsys_events_stored_total": 1,
        "recsys_events_replayed_total": 1,
        "recsys_events_refused_total": 0,
    }


async def test_a_refused_batch_counts_every_event_in_it_as_refused(
    client: httpx.AsyncClient,
) -> None:
    good = {"user_id": 1, "movie_id": 5, "type": "watch"}
    bad = {"user_id": 1, "movie_id": 99_999, "type": "watch"}
    before = await scrape(client)
    response = await client.post("/events", json={"events": [good, bad]}, headers=AUTH)
    after = await scrape(client)
    assert response.status_code == 422
    for name, moved in (
        ("recsys_events_received_total", 2),
        ("recsys_events_refused_total", 2),
        ("recsys_events_stored_total", 0),
    ):
        assert value(after, name) == value(before, name) + moved, name


async def test_pool_gauges_hold_the_configured_size_and_nothing_checked_out_when_idle(
    client: httpx.AsyncClient,
) -> None:
    # Other apps of this test session may be open too: at least this one's POOL_SIZE, and a
    # whole number of pools; nothing is checked out between requests.
    samples = await scrape(client)
    assert value(samples, "recsys_db_pool_size") >= POOL_SIZE
    assert value(samples, "recsys_db_pool_checked_out") == 0
    assert value(samples, "recsys_db_pool_overflow") == 0


async def test_pool_gauges_follow_checkouts_and_leave_with_the_engine(module_tiny_db: str) -> None:
    def gauges() -> tuple[float, float]:
        samples = parse_samples(render())
        return value(samples, "recsys_db_pool_size"), value(samples, "recsys_db_pool_checked_out")

    from recsys.service.metrics import render_metrics

    def render() -> str:
        return render_metrics().decode()

    size0, out0 = gauges()
    engine = create_engine(module_tiny_db, pool_size=4, max_overflow=2)
    pool = watch_pool(engine)
    try:
        assert gauges() == (size0 + 4, out0)
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            assert gauges() == (size0 + 4, out0 + 2)
            assert pool.checked_out == 2
        assert gauges() == (size0 + 4, out0)
        # Beyond the pool size: overflow connections, closed again when they come back.
        connections = [await engine.connect() for _ in range(6)]
        try:
            samples = parse_samples(render())
            assert value(samples, "recsys_db_pool_checked_out") == out0 + 6
            assert value(samples, "recsys_db_pool_overflow") == 2
        finally:
            for connection in connections:
                await connection.close()
        samples = parse_samples(render())
        assert value(samples, "recsys_db_pool_checked_out") == out0
        assert value(samples, "recsys_db_pool_overflow") == 0
    finally:
        pool.close()
        await engine.dispose()
    assert gauges() == (size0, out0)


async def test_the_app_adds_its_pool_and_takes_it_back_at_shutdown(
    module_tiny_db: str, artifacts: Path
) -> None:
    from recsys.service.metrics import render_metrics

    def size() -> float:
        return value(parse_samples(render_metrics().decode()), "recsys_db_pool_size")

    before = size()
    async with serve(settings_for(module_tiny_db, artifacts)) as other:
        assert (await other.get("/healthz")).status_code == 200
        assert size() == before + POOL_SIZE
    assert size() == before


async def test_model_info_load_time_and_reload_outcomes(
    client: httpx.AsyncClient, artifacts: Path, module_tiny_db: str
) -> None:
    store = LocalArtifactStore(artifacts)
    serving = read_latest(store, "popularity")
    before = await scrape(client)
    info = series(before, "recsys_model_info")
    assert info[frozenset({("model", "popularity"), ("version", serving)})] == 1
    assert value(before, "recsys_model_load_seconds", {"model": "popularity"}) > 0
    loaded_at = value(before, "recsys_model_loaded_timestamp_seconds", {"model": "popularity"})
    assert loaded_at > 1.7e9

    # A LATEST that does not load: refused, the old version serves on.
    bad = "20991231T000000.000000Z-badbad"
    shutil.copytree(artifacts / "popularity" / serving, artifacts / "popularity" / bad)
    npz = artifacts / "popularity" / bad / "popularity.npz"
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF
    npz.write_bytes(bytes(data))
    (artifacts / "popularity" / "LATEST").write_text(bad)
    try:
        response = await client.post("/admin/reload", headers=AUTH)
        assert response.status_code == 409
        refused = await scrape(client)
    finally:
        (artifacts / "popularity" / "LATEST").write_text(serving)
        shutil.rmtree(artifacts / "popularity" / bad)

    def reloads(samples: Samples, model: str, outcome: str) -> float:
        return value(samples, "recsys_model_reloads_total", {"model": model, "outcome": outcome})

    assert reloads(refused, "popularity", "refused") == reloads(before, "popularity", "refused") + 1
    assert reloads(refused, "item_knn", "unchanged") == reloads(before, "item_knn", "unchanged") + 1
    assert reloads(refused, "popularity", "loaded") == reloads(before, "popularity", "loaded")
    assert series(refused, "recsys_model_info") == info

    # A good new version: loaded, published, the old one set to 0.
    await train_into(module_tiny_db, artifacts, "popularity")
    newer = read_latest(store, "popularity")
    response = await client.post("/admin/reload", headers=AUTH)
    assert response.status_code == 200
    after = await scrape(client)
    assert reloads(after, "popularity", "loaded") == reloads(before, "popularity", "loaded") + 1
    popularity = {
        dict(labels)["version"]: v
        for labels, v in series(after, "recsys_model_info").items()
        if ("model", "popularity") in labels
    }
    assert popularity[newer] == 1 and popularity[serving] == 0
    assert sum(popularity.values()) == 1
    assert value(after, "recsys_model_loaded_timestamp_seconds", {"model": "popularity"}) > (
        loaded_at
    )


async def test_a_history_held_in_memory_is_one_hit(client: httpx.AsyncClient) -> None:
    # The first read may be a miss (earlier tests wrote user 1's events); it keeps the entry.
    assert (await client.get("/users/1/recommendations?k=2&model=item_knn")).status_code == 200
    before = await scrape(client)
    assert (await client.get("/users/1/recommendations?k=2&model=item_knn")).status_code == 200
    after = await scrape(client)
    assert (
        value(after, "recsys_history_cache_hits_total")
        == value(before, "recsys_history_cache_hits_total") + 1
    )
    assert value(after, "recsys_history_cache_misses_total") == value(
        before, "recsys_history_cache_misses_total"
    )
    assert value(after, "recsys_history_cache_users") >= 4  # the tiny dataset's users, warm
    assert value(after, "recsys_history_cache_bytes") > 0
    assert value(after, "recsys_history_cache_not_listening") == 0


async def test_cut_connections_count_as_database_errors_and_leave_nothing_checked_out(
    client: httpx.AsyncClient, module_tiny_db: str
) -> None:
    # Last in the module: it cuts every connection the app holds (its history listener too).
    before = await scrape(client)
    # Not execute(): its settle() would ask the listener whose connection this just cut.
    engine = create_engine(module_tiny_db)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()
    statuses = [(await client.get("/users/1/ratings")).status_code for _ in range(3)]
    after = await scrape(client)
    assert set(statuses) <= {200, 503} and statuses[-1] == 200  # the pool heals by itself
    errors = sum(series(after, "recsys_database_errors_total").values()) - sum(
        series(before, "recsys_database_errors_total").values()
    )
    assert errors == statuses.count(503)
    assert value(after, "recsys_db_pool_checked_out") == 0
    assert value(after, "recsys_db_pool_size") == value(before, "recsys_db_pool_size")
