"""The OpenAPI document says what the service does (issue 14, point 9), one test per point:

- ``model`` is an enum of the registered model types; an unregistered one is a 422 listing
  them, a registered one this service does not load a 422 listing the loaded ones;
- ``occurred_at`` is an ISO 8601 string or unix seconds as a JSON number, as documented, and
  nothing else (a number in a string, milliseconds);
- a body that is not JSON is a 422 ``json_invalid`` (never an undocumented 400);
- a write route checks the token before the body: broken JSON without one is a 401.

The app runs its real lifespan on the tiny dataset (users 1-4, movies 1, 2, 3, 5, 7, 11) in a
database of this module's own, item_knn and popularity trained on it, the write token set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from sqlalchemy import text

from recsys.db.session import create_engine
from recsys.service.choices import MODEL_TYPES
from recsys.settings import Settings
from tests.integration.served import serve
from tests.support.training import train_into

TOKEN = "contract-points-token-0123456789"
JSON = {"Content-Type": "application/json"}
AUTH = {"Authorization": f"Bearer {TOKEN}", **JSON}
WRITE_ROUTES = ["/events", "/users/1/events", "/admin/reload"]
BODY_ROUTES = ["/invocations", "/events", "/users/1/events"]


@pytest.fixture(scope="module")
async def settings(module_tiny_db: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder: Path = tmp_path_factory.mktemp("artifacts")
    await train_into(module_tiny_db, folder, "item_knn", "popularity")
    return Settings(
        database_url=module_tiny_db,
        artifact_uri=f"file://{folder}",
        models=("item_knn", "popularity"),
        default_model="popularity",
        api_write_token=TOKEN,
    )


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings) as client:
        yield client


@pytest.fixture(scope="module")
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def one_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert isinstance(error, dict)
    return error


# -- model: an enum of the registered types ---------------------------------------------------


@pytest.mark.parametrize("path", ["/users/{user_id}/recommendations", "/movies/{movie_id}/similar"])
def test_model_is_an_enum_of_every_registered_type(openapi: dict[str, Any], path: str) -> None:
    [model] = [p for p in openapi["paths"][path]["get"]["parameters"] if p["name"] == "model"]
    choices = [s for s in model["schema"]["anyOf"] if s.get("type") == "string"]
    assert choices == [{"type": "string", "enum": sorted(MODEL_TYPES)}]


@pytest.mark.parametrize("schema", ["RecommendationsOut", "SimilarMoviesOut"])
def test_the_model_of_an_answer_is_documented_as_that_enum(
    openapi: dict[str, Any], schema: str
) -> None:
    model = openapi["components"]["schemas"][schema]["properties"]["model"]
    assert model["enum"] == sorted(MODEL_TYPES) and model["type"] == "string"


async def test_an_unregistered_model_is_a_422_listing_the_registered_ones(
    client: httpx.AsyncClient,
) -> None:
    error = one_error(await client.get("/users/1/recommendations", params={"model": "../als"}))
    assert error["type"] == "enum" and error["loc"] == ["query", "model"]
    assert error["input"] == "../als"
    assert error["msg"] == f"Input should be a model type: {', '.join(sorted(MODEL_TYPES))}"


async def test_a_registered_model_not_loaded_is_a_422_listing_the_loaded_ones(
    client: httpx.AsyncClient,
) -> None:
    error = one_error(await client.get("/users/1/recommendations", params={"model": "bpr"}))
    assert error["type"] == "model_not_served" and error["loc"] == ["query", "model"]
    assert error["msg"] == "model 'bpr' is not loaded; loaded models: item_knn, popularity"


async def test_a_loaded_model_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/movies/1/similar", params={"model": "item_knn", "k": 2})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "item_knn"


# -- occurred_at: an ISO 8601 string or unix seconds, as documented ---------------------------


def test_occurred_at_is_documented_as_a_date_time_string_or_a_number(
    openapi: dict[str, Any],
) -> None:
    field = openapi["components"]["schemas"]["EventIn"]["properties"]["occurred_at"]
    assert field["anyOf"] == [
        {"type": "string", "format": "date-time"},
        {"type": "number"},
        {"type": "null"},
    ]


async def stored_times(url: str, key: str) -> list[datetime]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT occurred_at FROM events WHERE idempotency_key = :key"), {"key": key}
            )
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1795435994, datetime(2026, 11, 23, 12, 13, 14, tzinfo=UTC)),
        (1795435994.5, datetime(2026, 11, 23, 12, 13, 14, 500000, tzinfo=UTC)),
        ("2026-11-23T13:13:14+01:00", datetime(2026, 11, 23, 12, 13, 14, tzinfo=UTC)),
    ],
)
async def test_occurred_at_as_unix_seconds_or_iso_is_stored_as_that_time(
    client: httpx.AsyncClient, settings: Settings, value: float | str, expected: datetime
) -> None:
    key = f"occurred-{value}"
    event = {"user_id": 2, "movie_id": 7, "type": "watch", "occurred_at": value}
    response = await client.post(
        "/events", json={"events": [{**event, "idempotency_key": key}]}, headers=AUTH
    )
    assert response.status_code == 201, response.text
    assert await stored_times(settings.database_url, key) == [expected]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("0", "datetime_from_number_text"),  # a number belongs in a JSON number
        ("1795435994", "datetime_from_number_text"),
        (1795435994000, "datetime_from_unix_seconds"),  # milliseconds: year 58866, refused
        (-(10**12), "datetime_from_unix_seconds"),
        (True, "datetime_type"),
        ("2026-11-23T12:13:14", "timezone_aware"),
    ],
)
async def test_occurred_at_in_any_other_form_is_a_422_naming_it(
    client: httpx.AsyncClient, value: Any, kind: str
) -> None:
    event = {"user_id": 2, "movie_id": 7, "type": "watch", "occurred_at": value}
    error = one_error(await client.post("/events", json={"events": [event]}, headers=AUTH))
    assert error["type"] == kind
    assert error["loc"] == ["body", "events", 0, "occurred_at"]


# -- a body that is not JSON: 422 json_invalid, documented --------------------------------------

NOT_JSON = [
    (b"{", "Expecting property name enclosed in double quotes"),
    (b'{"user_id": "\xff"}', "not utf-8: invalid start byte"),  # was an undocumented 400
    (b"[" * 100_000, "nested deeper than 32 levels"),  # the parser's own limit: was a 400
    (b'{"user_id": ' + b"[" * 500 + b"]" * 500 + b"}", "nested deeper than 32 levels"),
    (b'{"user_id": NaN}', "NaN is not a JSON number (not finite)"),
    (b'{"user_id": 1, "k": -Infinity}', "-Infinity is not a JSON number (not finite)"),
    (b'{"user_id": 1e400}', "1e400 is not a JSON number (not finite)"),
]


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(("body", "reason"), NOT_JSON)
async def test_a_body_that_is_not_json_is_a_422_json_invalid(
    client: httpx.AsyncClient, openapi: dict[str, Any], path: str, body: bytes, reason: str
) -> None:
    response = await client.post(path, content=body, headers=AUTH)
    error = one_error(response)
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"
    assert error["ctx"] == {"error": reason}
    # The 422 is the one the document gives for the route.
    template = path.replace("/users/1/", "/users/{user_id}/")
    documented = openapi["paths"][template]["post"]["responses"]["422"]
    schema = {**documented["content"]["application/json"]["schema"], **openapi}
    assert jsonschema_rs.Draft202012Validator(schema).is_valid(response.json())


async def test_json_nested_as_deep_as_allowed_is_read(client: httpx.AsyncClient) -> None:
    # 32 levels are JSON this service reads (and refuses on its fields, not as JSON).
    nested = b'{"user_id": ' + b"[" * 31 + b"]" * 31 + b"}"
    error = one_error(await client.post("/invocations", content=nested, headers=JSON))
    assert error["type"] == "id_type"


@pytest.mark.parametrize("path", ["/invocations", "/events"])
def test_422_is_the_documented_answer_to_bad_bodies_and_400_is_not_listed(
    openapi: dict[str, Any], path: str
) -> None:
    responses = openapi["paths"][path]["post"]["responses"]
    assert "422" in responses and "400" not in responses


# -- the token before the body ----------------------------------------------------------------


@pytest.mark.parametrize("path", WRITE_ROUTES)
@pytest.mark.parametrize("body", [b"{", b'{"user_id": "\xff"}', b"[" * 100_000, b""])
async def test_a_write_without_a_token_is_a_401_whatever_the_body(
    client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body, headers=JSON)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("missing bearer token")


@pytest.mark.parametrize(
    "authorization", ["Basic Zm9vOmJhcg==", "Bearer", "Bearer ", "bearer", TOKEN]
)
async def test_a_header_that_is_no_bearer_token_is_a_401(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.post(
        "/events", content=b"{", headers={**JSON, "Authorization": authorization}
    )
    assert response.status_code == 401, response.text


async def test_a_bad_path_without_a_token_is_a_401_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/not-a-number/events", content=b"{", headers=JSON)
    assert response.status_code == 401


@pytest.mark.parametrize("path", WRITE_ROUTES)
async def test_a_wrong_token_is_a_403_before_the_body(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path, content=b"{", headers={**JSON, "Authorization": "Bearer wrong"}
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "wrong bearer token"}


@pytest.mark.parametrize(
    "token", [b"wrong", b"\xe9t\xe9", TOKEN.encode() + b"x", b" " + TOKEN.encode()]
)
async def test_any_other_token_is_a_403(client: httpx.AsyncClient, token: bytes) -> None:
    headers = {b"Authorization": b"Bearer " + token, b"Content-Type": b"application/json"}
    response = await client.post("/events", content=b"{", headers=headers)
    assert response.status_code == 403, response.text


async def test_the_scheme_is_case_insensitive_and_the_body_then_checked(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/events", content=b"{", headers={**JSON, "Authorization": f"bEaReR {TOKEN}"}
    )
    assert one_error(response)["type"] == "json_invalid"


async def test_write_routes_off_is_a_403_before_the_body(settings: Settings) -> None:
    async with serve(settings.model_copy(update={"api_write_token": None})) as off:
        for path in WRITE_ROUTES:
            response = await off.post(path, content=b"{", headers=AUTH)
            assert response.status_code == 403, path
            assert "write routes are off" in response.json()["detail"]


async def test_a_route_without_a_body_never_reads_one(client: httpx.AsyncClient) -> None:
    # /admin/reload takes no body: broken JSON sent with the token is ignored, not a 422.
    response = await client.post("/admin/reload", content=b"{", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True


async def test_a_good_batch_with_the_token_is_still_stored(client: httpx.AsyncClient) -> None:
    event = {"user_id": 3, "movie_id": 11, "type": "like", "idempotency_key": "still-stored"}
    response = await client.post("/events", json={"events": [event]}, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json() == {"received": 1, "stored": 1, "replayed": []}
