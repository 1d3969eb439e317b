"""Fold-in and hot reload over HTTP: ML-100K in PostgreSQL, artifacts on disk, the real lifespan.

Fold-in: a rating written to the database after training moves an ALS user's ranking on the next
request, and a brand-new user goes from the popularity fallback to ALS. Hot reload: POST
/admin/reload swaps new versions in under concurrent requests without failing one; a corrupt or
incompatible version is refused while the old one keeps serving; the poll does the same unasked.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recsys.db.repositories import RatingRepository, UserRepository
from recsys.db.repositories.events import EventRepository, NewEvent
from recsys.events import EventWeights
from recsys.modeling.als import ALSRecommender
from recsys.modeling.artifacts import (
    LocalArtifactStore,
    load_model,
    new_version,
    read_latest,
    save_model,
)
from recsys.modeling.base import History, top_k
from recsys.modeling.dataset import lookup
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS, Settings
from tests.integration.served import serve, settle

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

pytestmark = pytest.mark.realdata
FAST_ALS = {"factors": 32, "iterations": 5}
TOKEN = "live-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_USER = 6000  # not in ML-100K (ids 1..943)
# Toy Story, Aladdin, The Lion King: three children's films for the brand-new user.
CHILDRENS = (1, 95, 71)


@pytest.fixture(scope="module")
async def store_dir(
    tmp_path_factory: pytest.TempPathFactory, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> Path:
    """ALS and popularity trained on the seeded ratings (tests that change it copy it first)."""
    folder = tmp_path_factory.mktemp("artifacts")
    store = LocalArtifactStore(folder)
    for model_type, params in (("als", FAST_ALS), ("popularity", {})):
        await train(
            ml100k_sessions, weights=WEIGHTS, model_type=model_type, store=store, params=params
        )
    return folder


@pytest.fixture
def own_store(store_dir: Path, tmp_path: Path) -> Path:
    """A copy of the trained artifacts this test may add versions to."""
    return Path(shutil.copytree(store_dir, tmp_path / "artifacts"))


def settings_for(url: str, store: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "database_url": url,
        "artifact_uri": f"file://{store}",
        "models": ("als", "popularity"),
        "default_model": "als",
        "api_write_token": TOKEN,
        **overrides,
    }
    return Settings(**options)


@pytest.fixture(scope="module")
async def client(ml100k_url: str, store_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(ml100k_url, store_dir)) as client:
        yield client


async def execute(sessions: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> None:
    async with sessions() as session:
        await session.execute(text(sql), params)
        await session.commit()
    await settle()


async def history_of(sessions: async_sessionmaker[AsyncSession], user_id: int) -> History:
    async with sessions() as session:
        rows = await RatingRepository(session).history(user_id)
    return History.of([r.movie_id for r in rows], [r.rating for r in rows])


async def recommended(client: httpx.AsyncClient, user_id: int, **query: Any) -> dict[str, Any]:
    response = await client.get(f"/users/{user_id}/recommendations", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids_of(body: dict[str, Any]) -> list[int]:
    return [m["id"] for m in body["movies"]]


def stale_ranking(model: ALSRecommender, user_id: int, history: History, k: int) -> list[int]:
    """What the trained vector alone would rank (the behaviour before fold-in)."""
    scores = model.user_factors[lookup(model.user_ids, [user_id])] @ model.item_factors.T
    cols = lookup(model.item_ids, history.movie_ids)
    scores[0, cols[cols >= 0]] = -np.inf
    top, _ = top_k(scores, k)
    ranking: list[int] = model.item_ids[top[0]].tolist()
    return ranking


# -- fold-in ---------------------------------------------------------------------------------


async def test_an_als_users_ranking_follows_ratings_written_after_training(
    client: httpx.AsyncClient,
    ml100k_sessions: async_sessionmaker[AsyncSession],
    store_dir: Path,
) -> None:
    user = 2
    model, _ = load_model(LocalArtifactStore(store_dir), "als")
    assert isinstance(model, ALSRecommender)
    before = await recommended(client, user, k=10, model="als")
    history = await history_of(ml100k_sessions, user)
    # The five movies the model thinks this user wants least: loving them must move the vector.
    everything, _ = model.recommend(user, history=history, k=model.n_items)
    loved = [int(m) for m in everything[-5:]]
    for movie_id in loved:
        await execute(
            ml100k_sessions, "INSERT INTO ratings VALUES (:u, :m, 5, now())", u=user, m=movie_id
        )
    try:
        after = await recommended(client, user, k=10, model="als")
        current = await history_of(ml100k_sessions, user)
    finally:
        await execute(
            ml100k_sessions,
            "DELETE FROM ratings WHERE user_id = :u AND movie_id = ANY(:m)",
            u=user,
            m=loved,
        )
    assert after["fallback"] is False and after["model_version"] == before["model_version"]
    assert not set(ids_of(after)) & set(loved)
    # The ranking is the one the model gives the user's vector folded in from the current
    # history, and it is not what the trained vector gives with those movies merely excluded.
    expected, _ = model.recommend(user, history=current, k=10)
    assert ids_of(after) == expected.tolist()
    assert ids_of(after) != stale_ranking(model, user, current, 10)
    assert ids_of(after) != ids_of(before)
    # Deleting the ratings again restores the original answer: nothing is cached per user.
    assert ids_of(await recommended(client, user, k=10, model="als")) == ids_of(before)


async def test_a_brand_new_user_goes_from_the_fallback_to_als(
    client: httpx.AsyncClient,
    ml100k_sessions: async_sessionmaker[AsyncSession],
    store_dir: Path,
) -> None:
    model, _ = load_model(LocalArtifactStore(store_dir), "als")
    await execute(ml100k_sessions, "INSERT INTO users (id) VALUES (:u)", u=NEW_USER)
    try:
        cold = await recommended(client, NEW_USER, k=10, model="als")
        for movie_id in CHILDRENS:
            await execute(
                ml100k_sessions,
                "INSERT INTO ratings VALUES (:u, :m, 5, now())",
                u=NEW_USER,
                m=movie_id,
            )
        warm = await recommended(client, NEW_USER, k=10, model="als")
    finally:
        await execute(ml100k_sessions, "DELETE FROM users WHERE id = :u", u=NEW_USER)  # cascades
    assert cold["fallback"] is True and cold["model"] == "popularity"
    assert warm["fallback"] is False and warm["model"] == "als"
    assert warm["model_version"] == read_latest(LocalArtifactStore(store_dir), "als")
    assert not model.knows_user(NEW_USER)
    expected, _ = model.recommend(NEW_USER, history=History.of(CHILDRENS, [5.0] * 3), k=10)
    assert ids_of(warm) == expected.tolist()
    assert not set(ids_of(warm)) & set(CHILDRENS)
    assert ids_of(warm) != ids_of(cold)


# -- fold-in from events ----------------------------------------------------------------------


async def add_events(
    sessions: async_sessionmaker[AsyncSession], user_id: int, events: list[tuple[int, str]]
) -> None:
    """Store (movie, type) events for a user, creating the user if needed, and commit."""
    now = datetime.now(UTC)
    async with sessions() as session:
        await UserRepository(session).ensure([user_id])
        stored = await EventRepository(session).add_many(
            [NewEvent(user_id, movie, kind, None, now) for movie, kind in events]
        )
        await session.commit()
    await settle()
    assert all(stored)


async def current_history(sessions: async_sessionmaker[AsyncSession], user_id: int) -> History:
    """What the service reads per request: ratings plus event weights per movie."""
    async with sessions() as session:
        rated = await UserRepository(session).rated_movies(user_id, WEIGHTS)
    assert rated is not None
    return History.of(rated.movie_ids, rated.ratings)


async def test_events_after_training_move_an_als_users_ranking(
    client: httpx.AsyncClient,
    ml100k_sessions: async_sessionmaker[AsyncSession],
    store_dir: Path,
) -> None:
    user = 3
    model, _ = load_model(LocalArtifactStore(store_dir), "als")
    assert isinstance(model, ALSRecommender)
    before = await recommended(client, user, k=10, model="als")
    everything, _ = model.recommend(user, history=await history_of(ml100k_sessions, user), k=2000)
    completed = [int(m) for m in everything[-5:]]
    await add_events(ml100k_sessions, user, [(m, "complete") for m in completed])
    try:
        after = await recommended(client, user, k=10, model="als")
        current = await current_history(ml100k_sessions, user)
    finally:
        await execute(ml100k_sessions, "DELETE FROM events WHERE user_id = :u", u=user)
    assert after["fallback"] is False
    assert not set(ids_of(after)) & set(completed)
    # Each completed movie weighs 3 (RECSYS_EVENT_WEIGHTS' default) in the folded-in history.
    weights = dict(zip(current.movie_ids.tolist(), current.ratings.tolist(), strict=True))
    assert [weights[m] for m in completed] == [3.0] * 5
    expected, _ = model.recommend(user, history=current, k=10)
    assert ids_of(after) == expected.tolist()
    assert ids_of(after) != stale_ranking(model, user, current, 10)
    assert ids_of(after) != ids_of(before)


async def test_a_brand_new_user_with_a_few_events_gets_als_not_the_fallback(
    client: httpx.AsyncClient,
    ml100k_sessions: async_sessionmaker[AsyncSession],
    store_dir: Path,
) -> None:
    model, _ = load_model(LocalArtifactStore(store_dir), "als")
    await add_events(ml100k_sessions, NEW_USER, [])  # the user exists, with nothing yet
    try:
        cold = await recommended(client, NEW_USER, k=10, model="als")
        await add_events(ml100k_sessions, NEW_USER, [(1, "watch"), (95, "like"), (71, "complete")])
        warm = await recommended(client, NEW_USER, k=10, model="als")
    finally:
        await execute(ml100k_sessions, "DELETE FROM users WHERE id = :u", u=NEW_USER)  # cascades
    assert cold["fallback"] is True and cold["model"] == "popularity"
    assert warm["fallback"] is False and warm["model"] == "als"
    history = History.of(CHILDRENS, [1.0, 2.0, 3.0])  # watch 1, like 2, complete 3
    expected, _ = model.recommend(NEW_USER, history=history, k=10)
    assert ids_of(warm) == expected.tolist()
    assert not set(ids_of(warm)) & set(CHILDRENS)


# -- hot reload: auth ------------------------------------------------------------------------


async def test_reload_needs_the_write_token(
    client: httpx.AsyncClient, ml100k_url: str, store_dir: Path
) -> None:
    missing = await client.post("/admin/reload")
    assert missing.status_code == 401 and "missing bearer token" in missing.json()["detail"]
    wrong = await client.post("/admin/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json() == {"detail": "wrong bearer token"}
    async with serve(settings_for(ml100k_url, store_dir, api_write_token=None)) as no_token:
        off = await no_token.post("/admin/reload", headers=AUTH)
    assert off.status_code == 403 and "write routes are off" in off.json()["detail"]


async def test_reload_with_nothing_new_changes_nothing(
    client: httpx.AsyncClient, store_dir: Path
) -> None:
    response = await client.post("/admin/reload", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["changed"] is False
    version = read_latest(LocalArtifactStore(store_dir), "als")
    assert body["models"]["als"] == {
        "status": "unchanged",
        "version": version,
        "previous": version,
        "latest": version,
        "error": None,
    }


# -- hot reload: swaps under load ------------------------------------------------------------


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


async def test_reload_under_concurrent_requests_fails_none(
    ml100k_url: str, own_store: Path
) -> None:
    store = LocalArtifactStore(own_store)
    v1 = read_latest(store, "als")
    model, _ = load_model(store, "als")
    versions_by_worker: list[list[str]] = [[] for _ in range(8)]
    statuses: list[int] = []
    stop = asyncio.Event()
    reloads: list[httpx.Response] = []
    written: list[str] = [v1]

    async with serve(settings_for(ml100k_url, own_store)) as client:

        async def worker(number: int) -> None:
            seen = versions_by_worker[number]
            while not stop.is_set():
                user = 1 + (number * 131 + len(seen) * 17) % 943
                response = await client.get(f"/users/{user}/recommendations?k=10")
                statuses.append(response.status_code)
                if response.status_code == 200:
                    seen.append(response.json()["model_version"])
                # In process, a request answered from memory never waits on I/O, so without
                # this the loop would not run the other workers or the reloader.
                await asyncio.sleep(0)

        async def reloader() -> None:
            # 70 requests before each reload and after the last (counted from when the reload
            # answered: answers from memory are fast enough to outrun a fixed threshold).
            for _ in range(2):
                start = len(statuses)
                await until(lambda s=start: len(statuses) >= s + 70)  # type: ignore[misc]
                info = await asyncio.to_thread(save_model, store, model)
                written.append(info.version)
                reloads.append(await client.post("/admin/reload", headers=AUTH))
            start = len(statuses)
            await until(lambda: len(statuses) >= start + 70)
            stop.set()

        await asyncio.gather(*(worker(n) for n in range(8)), reloader())
        final = await recommended(client, 1)
        ready = (await client.get("/readyz")).json()

    v2, v3 = written[1:]
    assert len(statuses) >= 210 and set(statuses) == {200}  # not one failed request
    for response, (old, new) in zip(reloads, [(v1, v2), (v2, v3)], strict=True):
        assert response.status_code == 200
        als = response.json()["models"]["als"]
        assert als["status"] == "loaded" and (als["previous"], als["version"]) == (old, new)
        assert response.json()["models"]["popularity"]["status"] == "unchanged"
    # Every worker saw the versions in order, old -> new, never going back; all three served.
    order = {v1: 0, v2: 1, v3: 2}
    for seen in versions_by_worker:
        ranks = [order[v] for v in seen]
        assert ranks == sorted(ranks)
    assert {v for seen in versions_by_worker for v in seen} == {v1, v2, v3}
    assert final["model_version"] == v3 and ready["models"]["als"]["version"] == v3


async def test_a_model_type_missing_at_startup_is_loaded_by_a_reload(
    ml100k_url: str,
    own_store: Path,
    ml100k_sessions: async_sessionmaker[AsyncSession],
) -> None:
    shutil.rmtree(own_store / "popularity")
    async with serve(settings_for(ml100k_url, own_store)) as client:
        assert (await client.get("/readyz")).status_code == 503
        nothing = await client.post("/admin/reload", headers=AUTH)
        assert nothing.status_code == 409
        assert nothing.json()["models"]["popularity"]["status"] == "failed"
        assert "no trained 'popularity' model" in nothing.json()["models"]["popularity"]["error"]
        await train(
            ml100k_sessions,
            weights=WEIGHTS,
            model_type="popularity",
            store=LocalArtifactStore(own_store),
        )
        response = await client.post("/admin/reload", headers=AUTH)
        ready = await client.get("/readyz")
        popular = await recommended(client, 1, model="popularity")
    assert response.status_code == 200
    assert response.json()["models"]["popularity"]["status"] == "loaded"
    assert response.json()["models"]["popularity"]["previous"] is None
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert popular["model"] == "popularity"


# -- hot reload: corrupt or incompatible versions are refused --------------------------------


def _bad_sha256(folder: Path, _store: Path) -> None:
    npz = folder / "factors.npz"
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF  # same size, one byte changed
    npz.write_bytes(bytes(data))


def _wrong_shapes(folder: Path, _store: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["params"]["factors"] = 16  # the stored factors have 32 columns
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _another_model_type(folder: Path, store: Path) -> None:
    shutil.rmtree(folder)
    popularity = read_latest(LocalArtifactStore(store), "popularity")
    shutil.copytree(store / "popularity" / popularity, folder)


def _unreadable_manifest(folder: Path, _store: Path) -> None:
    (folder / "manifest.json").write_text('{"format_version": 1, "model_type": "al')


CORRUPTIONS = {
    "bad sha256": (_bad_sha256, "hash mismatch"),
    "wrong shapes": (_wrong_shapes, "arrays do not match"),
    "another model type": (_another_model_type, "holds another model type"),
    "unreadable manifest": (_unreadable_manifest, "manifest unreadable"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
async def test_a_corrupt_version_is_refused_and_the_old_one_keeps_serving(
    ml100k_url: str, own_store: Path, corruption: str
) -> None:
    damage, message = CORRUPTIONS[corruption]
    store = LocalArtifactStore(own_store)
    v1 = read_latest(store, "als")
    model, _ = load_model(store, "als")
    async with serve(settings_for(ml100k_url, own_store)) as client:
        bad = save_model(store, model).version  # a complete version, LATEST on it...
        damage(own_store / "als" / bad, own_store)  # ...then damaged
        response = await client.post("/admin/reload", headers=AUTH)
        serving = await recommended(client, 1)
        ready = await client.get("/readyz")
        good = save_model(store, model).version  # the next good version is taken
        fixed = await client.post("/admin/reload", headers=AUTH)
        after = await recommended(client, 1)
        ready_after = (await client.get("/readyz")).json()
    assert response.status_code == 409
    body = response.json()
    assert body["ok"] is False and body["changed"] is False
    als = body["models"]["als"]
    assert als["status"] == "refused" and als["latest"] == bad
    assert als["version"] == als["previous"] == v1
    assert als["error"] == f"{bad}: {message}"  # product words: no path in the answer
    assert body["models"]["popularity"]["status"] == "unchanged"
    # The old version answers, and readiness says both what serves and what was refused.
    assert serving["model_version"] == v1 and len(serving["movies"]) == 10
    assert ready.status_code == 200
    assert ready.json()["models"]["als"]["version"] == v1
    assert ready.json()["models"]["als"]["refused"] == f"{bad}: {message}"
    assert str(own_store) not in response.text + ready.text
    assert fixed.status_code == 200 and fixed.json()["models"]["als"]["version"] == good
    assert after["model_version"] == good
    assert ready_after["models"]["als"]["refused"] is None


async def test_a_version_named_by_latest_that_is_gone_is_refused(
    ml100k_url: str, own_store: Path
) -> None:
    store = LocalArtifactStore(own_store)
    v1 = read_latest(store, "als")
    async with serve(settings_for(ml100k_url, own_store)) as client:
        gone = new_version()
        (own_store / "als" / "LATEST").write_text(gone + "\n")
        response = await client.post("/admin/reload", headers=AUTH)
        serving = await recommended(client, 1)
    assert response.status_code == 409
    als = response.json()["models"]["als"]
    assert (
        als["status"] == "refused"
        and als["version"] == v1
        and als["error"] == f"{gone}: version missing"
    )
    assert serving["model_version"] == v1


# -- the poll ----------------------------------------------------------------------------------


async def wait_for_version(client: httpx.AsyncClient, model_type: str, version: str) -> None:
    # Bounded, not timed: the poll runs every 0.05 s; 30 s means it is not running at all.
    async with asyncio.timeout(30):
        while True:
            body = (await client.get("/readyz")).json()
            if body["models"][model_type].get("version") == version:
                return
            await asyncio.sleep(0.02)


async def test_the_poll_serves_a_new_latest_and_refuses_a_corrupt_one(
    ml100k_url: str, own_store: Path
) -> None:
    store = LocalArtifactStore(own_store)
    v1 = read_latest(store, "als")
    model, _ = load_model(store, "als")
    settings = settings_for(ml100k_url, own_store, reload_poll_seconds=0.05)
    async with serve(settings) as client:
        assert (await recommended(client, 1))["model_version"] == v1
        v2 = save_model(store, model).version
        await wait_for_version(client, "als", v2)
        assert (await recommended(client, 1))["model_version"] == v2
        bad = save_model(store, model).version
        _bad_sha256(own_store / "als" / bad, own_store)
        async with asyncio.timeout(30):
            while (await client.get("/readyz")).json()["models"]["als"]["refused"] is None:
                await asyncio.sleep(0.02)
        ready = (await client.get("/readyz")).json()
        serving = await recommended(client, 1)
    assert (
        ready["models"]["als"]["version"] == v2
        and ready["models"]["als"]["refused"] == f"{bad}: hash mismatch"
    )
    assert serving["model_version"] == v2
