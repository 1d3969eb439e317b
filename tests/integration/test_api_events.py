"""Event ingestion over HTTP: auth, per-event validation, idempotency, POST then GET.

The app runs its real lifespan against MovieLens 100K in PostgreSQL (``httpx`` +
``ASGITransport``); what a POST stored is read back through the repositories on another
connection, so a 201 is proven committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recsys.db.repositories import UserRepository
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS, Settings
from tests.integration.served import serve, settle

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset

pytestmark = pytest.mark.realdata
TOKEN = "test-write-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODELS = ("als", "popularity")
FAST_ALS = {"factors": 32, "iterations": 5}
STAR_WARS = 50
UNKNOWN_MOVIE = 99_999


@pytest.fixture(scope="module")
async def store_dir(
    tmp_path_factory: pytest.TempPathFactory, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> Path:
    folder = tmp_path_factory.mktemp("artifacts")
    store = LocalArtifactStore(folder)
    await train(ml100k_sessions, weights=WEIGHTS, model_type="als", store=store, params=FAST_ALS)
    await train(ml100k_sessions, weights=WEIGHTS, model_type="popularity", store=store)
    return folder


def settings_for(url: str, store_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "artifact_uri": f"file://{store_dir}",
        "models": MODELS,
        "default_model": "als",
        "api_write_token": TOKEN,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="module")
async def client(ml100k_url: str, store_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(ml100k_url, store_dir)) as client:
        yield client


async def post_events(
    client: httpx.AsyncClient,
    events: list[dict[str, Any]],
    *,
    path: str = "/events",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        path, json={"events": events}, headers=AUTH if headers is None else headers
    )


async def recommended(client: httpx.AsyncClient, user_id: int, k: int = 10) -> list[int]:
    response = await client.get(f"/users/{user_id}/recommendations?k={k}")
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["movies"]]


async def scalar(sessions: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> Any:
    async with sessions() as session:
        return (await session.execute(text(sql), params)).scalar()


async def execute(sessions: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> None:
    async with sessions() as session:
        await session.execute(text(sql), params)
        await session.commit()
    await settle()


async def weight_of(
    sessions: async_sessionmaker[AsyncSession], user_id: int, movie_id: int
) -> float | None:
    """The movie's summed interaction weight in the user's aggregated history."""
    async with sessions() as session:
        rated = await UserRepository(session).rated_movies(
            user_id, EventWeights(DEFAULT_EVENT_WEIGHTS)
        )
    assert rated is not None
    weights = dict(zip(rated.movie_ids, rated.ratings, strict=True))
    return weights.get(movie_id)


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/events", "/users/1/events"])
async def test_without_a_configured_token_writes_are_off(
    ml100k_url: str, store_dir: Path, path: str
) -> None:
    event = {"user_id": 1, "movie_id": STAR_WARS, "type": "watch"}
    if path != "/events":
        del event["user_id"]
    async with serve(settings_for(ml100k_url, store_dir, api_write_token=None)) as client:
        response = await post_events(client, [event], path=path)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "write routes are off: set RECSYS_API_WRITE_TOKEN to enable them"
    }


@pytest.mark.parametrize("path", ["/events", "/users/1/events"])
async def test_a_missing_or_wrong_token_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, ml100k_sessions: async_sessionmaker[AsyncSession], path: str
) -> None:
    event = {"user_id": 1, "movie_id": 1, "type": "watch", "idempotency_key": f"auth-{path}"}
    if path != "/events":
        del event["user_id"]
    missing = await post_events(client, [event], path=path, headers={})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["detail"].startswith("missing bearer token")
    basic = await post_events(client, [event], path=path, headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    wrong = await post_events(
        client, [event], path=path, headers={"Authorization": f"Bearer {TOKEN}x"}
    )
    assert wrong.status_code == 403 and wrong.json() == {"detail": "wrong bearer token"}
    key = f"auth-{path}"
    assert (
        await scalar(
            ml100k_sessions, "SELECT count(*) FROM events WHERE idempotency_key = :k", k=key
        )
        == 0
    )
    right = await post_events(client, [event], path=path)
    assert right.status_code == 201, right.text
    assert right.json() == {"received": 1, "stored": 1, "replayed": []}
    assert (
        await scalar(
            ml100k_sessions, "SELECT count(*) FROM events WHERE idempotency_key = :k", k=key
        )
        == 1
    )


# -- validation -----------------------------------------------------------------------------


async def test_every_bad_event_is_named_by_index_and_field_and_nothing_is_stored(
    client: httpx.AsyncClient, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    new_user = 7001
    future = datetime.now(UTC) + timedelta(hours=1)
    events = [
        {"user_id": new_user, "movie_id": STAR_WARS, "type": "watch"},  # fine
        {"user_id": new_user, "movie_id": UNKNOWN_MOVIE, "type": "watch"},
        {"user_id": new_user, "movie_id": STAR_WARS, "type": "share"},
        {"user_id": new_user, "movie_id": STAR_WARS, "type": "rating", "value": 7},
        {
            "user_id": new_user,
            "movie_id": STAR_WARS,
            "type": "like",
            "occurred_at": future.isoformat(),
        },
        {"user_id": new_user, "movie_id": "v-nowhere", "type": "like"},
    ]
    response = await post_events(client, events)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [(d["loc"], d["type"]) for d in detail] == [
        (["body", "events", 1, "movie_id"], "unknown_movie"),
        (["body", "events", 2, "type"], "unknown_event_type"),
        (["body", "events", 3, "value"], "bad_event_value"),
        (["body", "events", 4, "occurred_at"], "future_timestamp"),
        (["body", "events", 5, "movie_id"], "unknown_movie"),
    ]
    messages = [d["msg"] for d in detail]
    assert messages[0] == f"movie {UNKNOWN_MOVIE} does not exist"
    assert all(name in messages[1] for name in ("watch", "like", "complete", "rating"))
    assert "0.5" in messages[2] and "5" in messages[2]
    assert "at most 300 s" in messages[3]
    assert messages[4] == "movie 'v-nowhere' does not exist"
    # All or nothing: not even the good event, nor the user it would have created.
    assert (
        await scalar(ml100k_sessions, "SELECT count(*) FROM users WHERE id = :u", u=new_user) == 0
    )
    assert (
        await scalar(ml100k_sessions, "SELECT count(*) FROM events WHERE user_id = :u", u=new_user)
        == 0
    )


async def test_malformed_events_are_422_naming_index_and_field(client: httpx.AsyncClient) -> None:
    response = await post_events(
        client,
        [
            {"user_id": 1, "movie_id": STAR_WARS, "type": "watch"},
            {"user_id": 1, "movie_id": STAR_WARS},
            {"user_id": 1.5, "movie_id": STAR_WARS, "type": "watch"},
            {
                "user_id": 1,
                "movie_id": STAR_WARS,
                "type": "watch",
                "occurred_at": "2024-01-01T00:00:00",
            },
        ],
    )
    assert response.status_code == 422
    locs = [d["loc"] for d in response.json()["detail"]]
    assert locs == [
        ["body", "events", 1, "type"],
        ["body", "events", 2, "user_id"],
        ["body", "events", 3, "occurred_at"],
    ]


@pytest.mark.parametrize(("size", "accepted"), [(0, False), (1000, True), (1001, False)])
async def test_a_batch_holds_1_to_1000_events(
    client: httpx.AsyncClient, size: int, accepted: bool
) -> None:
    events = [{"user_id": 3, "movie_id": 1 + i % 1682, "type": "watch"} for i in range(size)]
    response = await post_events(client, events)
    if accepted:
        assert response.status_code == 201, response.text
        assert response.json()["stored"] == size
    else:
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "events"]


async def test_a_timestamp_within_the_tolerance_is_accepted(client: httpx.AsyncClient) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    response = await post_events(
        client, [{"user_id": 4, "movie_id": STAR_WARS, "type": "watch", "occurred_at": soon}]
    )
    assert response.status_code == 201, response.text


# -- idempotency and commit -----------------------------------------------------------------


async def test_a_replayed_key_is_accepted_once_and_not_double_counted(
    client: httpx.AsyncClient, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = 5
    movie = await scalar(
        ml100k_sessions,
        "SELECT min(id) FROM movies "
        "WHERE id NOT IN (SELECT movie_id FROM ratings WHERE user_id = :u)",
        u=user,
    )
    assert await weight_of(ml100k_sessions, user, movie) is None
    like = {"user_id": user, "movie_id": movie, "type": "like", "idempotency_key": "replay-like"}
    complete = {
        "user_id": user,
        "movie_id": movie,
        "type": "complete",
        "idempotency_key": "replay-c",
    }
    first = await post_events(client, [like])
    assert first.status_code == 201 and first.json() == {"received": 1, "stored": 1, "replayed": []}
    assert await weight_of(ml100k_sessions, user, movie) == 2.0  # like
    again = await post_events(client, [complete, like])  # a retry that also carries a new event
    assert again.status_code == 201
    assert again.json() == {"received": 2, "stored": 1, "replayed": [1]}
    assert await weight_of(ml100k_sessions, user, movie) == 5.0  # like 2 + complete 3, once each
    stored = await scalar(
        ml100k_sessions,
        "SELECT count(*) FROM events WHERE user_id = :u AND movie_id = :m",
        u=user,
        m=movie,
    )
    assert stored == 2


async def test_the_same_key_twice_in_one_batch_is_stored_once(
    client: httpx.AsyncClient, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    event = {"user_id": 6, "movie_id": 2, "type": "watch", "idempotency_key": "twice-in-batch"}
    response = await post_events(client, [event, event])
    assert response.status_code == 201
    assert response.json() == {"received": 2, "stored": 1, "replayed": [1]}
    assert (
        await scalar(
            ml100k_sessions, "SELECT count(*) FROM events WHERE idempotency_key = 'twice-in-batch'"
        )
        == 1
    )


async def test_concurrent_batches_for_one_new_external_user_create_it_once(
    client: httpx.AsyncClient, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    batches = [[{"user_id": "u-concurrent", "movie_id": 1 + i, "type": "watch"}] for i in range(12)]
    responses = await asyncio.gather(*(post_events(client, batch) for batch in batches))
    assert [r.status_code for r in responses] == [201] * 12, [r.text for r in responses]
    users = await scalar(
        ml100k_sessions, "SELECT count(*) FROM users WHERE external_id = 'u-concurrent'"
    )
    events = await scalar(
        ml100k_sessions,
        "SELECT count(*) FROM events e JOIN users u ON u.id = e.user_id "
        "WHERE u.external_id = 'u-concurrent'",
    )
    assert (users, events) == (1, 12)


# -- POST then GET --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/events", "/users/{user}/events"])
async def test_the_next_recommendations_exclude_a_posted_movie(
    client: httpx.AsyncClient, path: str
) -> None:
    user = 7 if path == "/events" else 8
    before = await recommended(client, user)
    event: dict[str, Any] = {"movie_id": before[0], "type": "watch"}
    if path == "/events":
        event["user_id"] = user
    response = await post_events(client, [event], path=path.format(user=user))
    assert response.status_code == 201, response.text
    after = await recommended(client, user)
    assert before[0] not in after and len(after) == len(before)


async def test_a_new_user_can_send_events_and_is_never_recommended_them(
    client: httpx.AsyncClient, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    new_user = 7002
    assert (await client.get(f"/users/{new_user}/recommendations")).status_code == 404
    liked = [STAR_WARS, 172, 181]  # Star Wars, Empire, Return of the Jedi
    response = await post_events(
        client,
        [{"movie_id": m, "type": "like"} for m in liked],
        path=f"/users/{new_user}/events",
    )
    assert response.status_code == 201
    ids = await recommended(client, new_user)
    assert len(ids) == 10 and not set(ids) & set(liked)
    await execute(ml100k_sessions, "DELETE FROM users WHERE id = :u", u=new_user)


async def test_openapi_documents_the_write_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/events", "/users/{user_id}/events"):
        post = spec["paths"][path]["post"]
        assert {"201", "401", "403", "422"} <= set(post["responses"])
        assert post["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    event = spec["components"]["schemas"]["EventIn"]
    assert event["examples"][1]["user_id"] == "u001"
    assert {"/ping", "/invocations"} <= set(spec["paths"])


# -- the embedded SQLite default --------------------------------------------------------------


async def test_events_on_the_embedded_sqlite_default(
    tmp_path: Path, migrate: Callable[..., Awaitable[None]], tiny_dataset: TinyDataset
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'recsys.db'}"
    await migrate(url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir)
    store = LocalArtifactStore(tmp_path / "artifacts")
    engine = create_engine(url)
    try:
        await train(
            create_session_factory(engine), weights=WEIGHTS, model_type="popularity", store=store
        )
    finally:
        await engine.dispose()
    settings = settings_for(url, store.root, models=("popularity",), default_model="popularity")
    async with serve(settings) as client:
        # User 1 rated 1, 3, 5 and 7; 11 was never rated: 2 is the model's one possible
        # answer, and 11, new in the catalogue, takes the explore slot (0.1 of 10).
        assert await recommended(client, 1) == [2, 11]
        like = {"movie_id": 2, "type": "like", "idempotency_key": "sqlite-like"}
        first = await post_events(client, [like], path="/users/1/events")
        replay = await post_events(client, [like], path="/users/1/events")
        assert first.json() == {"received": 1, "stored": 1, "replayed": []}
        assert replay.json() == {"received": 1, "stored": 0, "replayed": [0]}
        # The model has nothing left; 11, new in the catalogue, still has its explore slot.
        assert await recommended(client, 1) == [11]
        new = await post_events(client, [{"user_id": "u-lite", "movie_id": 3, "type": "watch"}])
        assert new.status_code == 201, new.text
        unknown = await post_events(client, [{"user_id": 1, "movie_id": 4, "type": "watch"}])
        assert unknown.status_code == 422
        assert unknown.json()["detail"][0]["loc"] == ["body", "events", 0, "movie_id"]


async def test_a_body_far_over_1000_events_is_413_and_bad_json_is_422(
    client: httpx.AsyncClient,
) -> None:
    huge = b'{"events": [' + b" " * (5 * 1024 * 1024) + b"]}"
    headers = {**AUTH, "Content-Type": "application/json"}
    too_big = await client.post("/events", content=huge, headers=headers)
    assert too_big.status_code == 413
    broken = await client.post("/events", content=b'{"events": [', headers=headers)
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"
