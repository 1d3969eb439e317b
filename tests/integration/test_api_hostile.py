"""Hostile input over HTTP never answers 500: strings PostgreSQL cannot store (NUL, lone
surrogates) are 422s naming the field, and the 422 itself survives echoing them.

The app runs its real lifespan on the tiny dataset (users 1-4, movies 1, 2, 3, 5, 7, 11) in a
database of this module's own, popularity trained on it, the write token set.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from recsys.db.session import create_engine
from recsys.settings import Settings
from tests.integration.served import serve
from tests.support.training import train_into

if TYPE_CHECKING:
    pass

TOKEN = "hostile-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
NUL, SURROGATE = "a\\u0000b", "\\ud800"  # as JSON escapes: the body is written by hand
GOOD_EVENT = {"user_id": 1, "movie_id": 5, "type": "watch"}


@pytest.fixture(scope="module")
def db_url(module_tiny_db: str) -> str:
    return module_tiny_db


@pytest.fixture(scope="module")
async def settings(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder: Path = await train_into(db_url, tmp_path_factory.mktemp("artifacts"))
    return Settings(
        database_url=db_url,
        artifact_uri=f"file://{folder}",
        models=("popularity",),
        default_model="popularity",
        api_write_token=TOKEN,
    )


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings) as client:
        yield client


def body_with(fields: dict[str, Any], name: str, escaped: str) -> bytes:
    """``fields`` as JSON with ``name`` set to the string whose JSON escapes are ``escaped``."""
    others = json.dumps(fields)[1:-1]
    return ("{" + (others + ", " if others else "") + f'"{name}": "{escaped}"' + "}").encode()


# pydantic-core refuses a lone surrogate in a length-constrained str itself (string_unicode)
# before StorableStr sees it; either way a 422 naming the field.
REFUSALS = {"string_unstorable", "string_unicode"}


def unstorable(response: httpx.Response) -> list[list[Any]]:
    """The 422's ``loc`` of each unstorable-string error (the answer must be JSON)."""
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    return [e["loc"] for e in errors if e["type"] in REFUSALS]


@pytest.mark.parametrize("escaped", [NUL, SURROGATE, "\\udfff", "ok\\u0000"])
async def test_invocations_refuse_an_unstorable_user_id_naming_it(
    client: httpx.AsyncClient, escaped: str
) -> None:
    response = await client.post(
        "/invocations",
        content=body_with({"k": 3}, "user_id", escaped),
        headers={"Content-Type": "application/json"},
    )
    assert unstorable(response) == [["body", "user_id", "external_id"]]


async def test_the_422_echoes_a_surrogate_escaped(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/invocations",
        content=body_with({}, "user_id", SURROGATE),
        headers={"Content-Type": "application/json"},
    )
    [error] = response.json()["detail"]
    assert error["input"] == "\\ud800"  # the escape's text, six characters
    assert "U+D800" in error["msg"]


@pytest.mark.parametrize("field", ["user_id", "movie_id", "type", "idempotency_key"])
@pytest.mark.parametrize("escaped", [NUL, SURROGATE])
async def test_events_refuse_unstorable_strings_naming_index_and_field(
    client: httpx.AsyncClient, field: str, escaped: str
) -> None:
    event = {k: v for k, v in GOOD_EVENT.items() if k != field}
    body = ('{"events": [' + json.dumps(GOOD_EVENT) + ", ").encode()
    body += body_with(event, field, escaped) + b"]}"
    response = await client.post("/events", content=body, headers=AUTH)
    locs = unstorable(response)
    expected = ["body", "events", 1, field]
    if field in ("user_id", "movie_id"):
        expected.append("external_id")
    assert locs == [expected]


async def test_user_events_refuse_an_unstorable_type(client: httpx.AsyncClient) -> None:
    body = b'{"events": [' + body_with({"movie_id": 5}, "type", NUL) + b"]}"
    response = await client.post("/users/1/events", content=body, headers=AUTH)
    assert unstorable(response) == [["body", "events", 0, "type"]]


async def test_an_unstorable_model_query_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/1/recommendations", params={"model": "pop\x00"})
    assert unstorable(response) == [["query", "model"]]


async def test_storable_strings_still_work(client: httpx.AsyncClient) -> None:
    # A new external user with non-ASCII (storable) characters is created and recommended.
    event = {"user_id": "ü-ñ-☃-😀", "movie_id": 5, "type": "watch", "idempotency_key": "é-1"}
    posted = await client.post("/events", json={"events": [event]}, headers=AUTH)
    assert posted.status_code == 201, posted.text
    answer = await client.post("/invocations", json={"user_id": "ü-ñ-☃-😀", "k": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json()["userId"] == "ü-ñ-☃-😀"


# -- body limit (RECSYS_MAX_BODY_BYTES, default 4 MiB) ----------------------------------------

LIMIT = 4 * 1024 * 1024
BODY_ROUTES = ["/invocations", "/events", "/users/1/events"]
# POST /admin/reload takes no body: a declared length over the limit is refused all the same,
# while a chunked body it never reads costs nothing and is not counted (it answers its 200).
POST_ROUTES = [*BODY_ROUTES, "/admin/reload"]


def too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {"detail": f"request body over {LIMIT} bytes (RECSYS_MAX_BODY_BYTES)"}


@pytest.mark.parametrize("path", POST_ROUTES)
async def test_a_declared_length_over_the_limit_is_413_on_every_body_route(
    client: httpx.AsyncClient, path: str
) -> None:
    body = b'{"user_id": 1, "k": 3}' + b" " * LIMIT
    too_large(await client.post(path, content=body, headers=AUTH))


@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    client: httpx.AsyncClient, path: str
) -> None:
    chunk = 64 * 1024
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        start = b'{"user_id": 1, "k": 3}'
        sent.append(len(start))
        yield start
        for _ in range(2 * LIMIT // chunk):  # 8 MiB offered
            sent.append(chunk)
            yield b" " * chunk

    response = await client.post(path, content=chunks(), headers=AUTH)
    assert "content-length" not in response.request.headers  # chunked indeed
    too_large(response)
    # Refused as it streamed: no more was read than the limit and the chunk that passed it.
    assert LIMIT < sum(sent) <= LIMIT + chunk


async def test_a_body_of_exactly_the_limit_is_served(client: httpx.AsyncClient) -> None:
    start = b'{"user_id": 1, "k": 3}'
    body = start + b" " * (LIMIT - len(start))
    response = await client.post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["userId"] == 1


async def test_the_limit_is_a_setting(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MAX_BODY_BYTES", "100")
    assert Settings().max_body_bytes == 100
    async with serve(settings.model_copy(update={"max_body_bytes": 100})) as small:
        response = await small.post("/invocations", json={"user_id": "x" * 100})
    assert response.status_code == 413
    assert response.json()["detail"] == "request body over 100 bytes (RECSYS_MAX_BODY_BYTES)"


# -- ids: a client cannot exhaust the id space -----------------------------------------------

CLIENT_ID_MAX = 2**30 - 1


@pytest.mark.parametrize("user_id", [CLIENT_ID_MAX + 1, 2**31 - 1, 2**31, 0, -1])
async def test_an_event_user_id_out_of_the_client_range_is_422_naming_it(
    client: httpx.AsyncClient, user_id: int
) -> None:
    event = {**GOOD_EVENT, "user_id": user_id}
    response = await client.post("/events", json={"events": [event]}, headers=AUTH)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "events", 0, "user_id", "id"]
    assert str(CLIENT_ID_MAX if user_id > 0 else 1) in error["msg"]


async def test_a_path_user_id_out_of_the_client_range_is_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    event = {"movie_id": 5, "type": "watch"}
    path = f"/users/{2**31 - 1}/events"
    response = await client.post(path, json={"events": [event]}, headers=AUTH)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "user_id"]
    assert str(CLIENT_ID_MAX) in error["msg"]


async def test_after_the_highest_client_id_new_external_users_still_get_ids(
    client: httpx.AsyncClient, db_url: str
) -> None:
    top = {**GOOD_EVENT, "user_id": CLIENT_ID_MAX}
    assert (await client.post("/events", json={"events": [top]}, headers=AUTH)).status_code == 201
    fresh = {**GOOD_EVENT, "user_id": "brand-new-after-the-top"}
    posted = await client.post("/events", json={"events": [fresh]}, headers=AUTH)
    assert posted.status_code == 201, posted.text
    answer = await client.post("/invocations", json={"user_id": "brand-new-after-the-top"})
    assert answer.status_code == 200, answer.text
    # The highest numeric user is known and can be asked about by number.
    by_number = await client.post("/invocations", json={"user_id": CLIENT_ID_MAX, "k": 1})
    assert by_number.status_code == 200, by_number.text
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            query = text("SELECT id FROM users WHERE external_id = 'brand-new-after-the-top'")
            new_id = (await connection.execute(query)).scalar_one()
    finally:
        await engine.dispose()
    assert new_id == CLIENT_ID_MAX + 1  # max(id) + 1, with 2**30 ids still free above it
