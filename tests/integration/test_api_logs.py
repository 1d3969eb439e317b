"""Request logs over the app's real lifespan: one access line per request with the answer's
user, model, version and fallback, and the request id on every line written while answering.

The tiny dataset (users 1-4, movies 1, 2, 3, 5, 7, 11) in a database of this module's own,
als and popularity trained on it; lines are captured in the JSON format the container uses.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from recsys.db.session import create_engine
from recsys.modeling.artifacts import LocalArtifactStore, read_latest
from recsys.service.logs import ACCESS_LOGGER, JsonFormatter
from recsys.settings import Settings
from tests.integration.served import serve
from tests.support.proxy import TcpProxy
from tests.support.training import train_into

ID = "x-request-id"
NEW_USER = 99  # in no rating: the popularity fallback answers for als
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture(scope="module")
async def store_dir(module_tiny_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifacts")
    await train_into(module_tiny_db, folder, "popularity", "als")
    engine = create_engine(module_tiny_db)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO users (id) VALUES (:u)"), {"u": NEW_USER})
    finally:
        await engine.dispose()
    return folder


def settings_for(
    database_url: str,
    store_dir: Path,
    *,
    models: tuple[str, ...] = ("als", "popularity"),
    history_cache: Literal["warm", "lazy", "off"] = "warm",
) -> Settings:
    return Settings(
        database_url=database_url,
        artifact_uri=f"file://{store_dir}",
        models=models,
        default_model=models[0],
        history_cache=history_cache,
    )


@pytest.fixture(scope="module")
async def client(module_tiny_db: str, store_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(module_tiny_db, store_dir)) as client:
        yield client


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """The JSON lines the recsys loggers write from now on (INFO and up), parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("recsys")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def access_lines(lines: Lines) -> list[dict[str, Any]]:
    return [line for line in lines() if line["logger"] == ACCESS_LOGGER]


def latest(store_dir: Path, model_type: str) -> str:
    return read_latest(LocalArtifactStore(store_dir), model_type)


async def test_a_recommendation_is_one_json_line_with_every_field(
    client: httpx.AsyncClient, json_lines: Lines, store_dir: Path
) -> None:
    response = await client.get(
        "/users/1/recommendations", params={"k": 2, "model": "als"}, headers={ID: "rec-1"}
    )
    assert response.status_code == 200
    [line] = access_lines(json_lines)
    assert line.pop("time").endswith("Z")
    assert line.pop("latency_ms") > 0
    assert line == {
        "level": "INFO",
        "severity": "INFO",
        "logger": "recsys.access",
        "message": line["message"],
        "request_id": "rec-1",
        "method": "GET",
        "route": "/users/{user_id}/recommendations",
        "path": "/users/1/recommendations",
        "status": 200,
        "user": "1",
        "model": "als",
        "version": latest(store_dir, "als"),
        "fallback": False,
    }
    assert line["message"].startswith("GET /users/1/recommendations 200 ")


async def test_the_fallback_is_logged_with_the_model_that_answered(
    client: httpx.AsyncClient, json_lines: Lines, store_dir: Path
) -> None:
    response = await client.get(f"/users/{NEW_USER}/recommendations?model=als&k=2")
    assert response.json()["fallback"] is True
    [line] = access_lines(json_lines)
    assert line["request_id"] == response.headers[ID]  # a generated id, as answered
    assert (line["user"], line["model"], line["fallback"]) == (str(NEW_USER), "popularity", True)
    assert line["version"] == latest(store_dir, "popularity")


async def test_invocations_log_the_user_as_the_client_named_it(
    client: httpx.AsyncClient, json_lines: Lines, store_dir: Path
) -> None:
    response = await client.post("/invocations", json={"user_id": 2, "k": 2})
    assert response.status_code == 200, response.text
    [line] = access_lines(json_lines)
    assert (line["route"], line["method"], line["status"]) == ("/invocations", "POST", 200)
    assert (line["user"], line["model"], line["fallback"]) == ("2", "als", False)
    assert line["version"] == latest(store_dir, "als")


async def test_an_error_answer_is_logged_with_its_status_and_no_model(
    client: httpx.AsyncClient, json_lines: Lines
) -> None:
    response = await client.get("/users/12345/recommendations", headers={ID: "missing-1"})
    assert response.status_code == 404
    [line] = access_lines(json_lines)
    assert (line["request_id"], line["status"], line["model"]) == ("missing-1", 404, None)
    assert line["user"] == "12345"  # noted before answering: the 404 names whom it was for


async def test_probes_are_not_logged_at_info(client: httpx.AsyncClient, json_lines: Lines) -> None:
    for path in ("/healthz", "/readyz", "/ping", "/metrics"):
        assert (await client.get(path)).status_code == 200, path
    assert access_lines(json_lines) == []


async def test_probes_are_logged_at_debug(client: httpx.AsyncClient, json_lines: Lines) -> None:
    logging.getLogger("recsys").setLevel(logging.DEBUG)
    await client.get("/healthz", headers={ID: "probe-1"})
    [line] = access_lines(json_lines)
    assert (line["level"], line["route"], line["request_id"]) == ("DEBUG", "/healthz", "probe-1")


async def test_a_database_outage_warning_carries_the_request_id(
    module_tiny_db: str, store_dir: Path, json_lines: Lines
) -> None:
    url = make_url(module_tiny_db)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        settings = settings_for(proxied, store_dir, models=("popularity",), history_cache="off")
        async with serve(settings) as outage:
            proxy.refuse()
            await proxy.cut()
            response = await outage.get("/users/1/ratings", headers={ID: "outage-1"})
    assert response.status_code == 503
    [warning] = [line for line in json_lines() if line["level"] == "WARNING"]
    assert warning["logger"] == "recsys.service.availability"
    assert warning["message"].startswith("database unavailable")
    assert warning["request_id"] == "outage-1"
    [line] = [line for line in access_lines(json_lines) if line["request_id"] == "outage-1"]
    assert line["status"] == 503
