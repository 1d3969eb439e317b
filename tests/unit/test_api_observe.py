"""The request middleware over HTTP, in process: request ids, the request counter, the logs.

The routes used (/healthz, /metrics, an unknown path) touch no application state, so the
app answers them without its lifespan (no database, no models).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from recsys.api import create_app
from recsys.api.observe import MAX_ID_LENGTH, sane_request_id
from recsys.service import metrics
from recsys.service.logs import ACCESS_LOGGER, JsonFormatter
from recsys.service.request_context import current_request_id
from recsys.settings import Settings

ID = "x-request-id"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(models=("popularity",), default_model="popularity"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recsys.test") as http:
        yield http


async def test_a_sane_request_id_comes_back(client: httpx.AsyncClient) -> None:
    given = "trace-0123_abc.DEF:42/x"
    response = await client.get("/healthz", headers={ID: given})
    assert response.status_code == 200
    assert response.headers[ID] == given


async def test_without_an_id_each_answer_gets_a_new_one(client: httpx.AsyncClient) -> None:
    ids = [(await client.get("/healthz")).headers[ID] for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(sane_request_id(i.encode()) == i for i in ids)


async def test_an_unmatched_path_answers_with_an_id_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/path", headers={ID: "abc"})
    assert response.status_code == 404
    assert response.headers[ID] == "abc"


@pytest.mark.parametrize(
    "hostile",
    [
        b"a" * (MAX_ID_LENGTH + 1),
        b"a" * 10_000,
        b"abc\x01def",
        b"abc\x7fdef",
        b"with space",
        b"caf\xc3\xa9",
        b"",
    ],
)
async def test_a_hostile_id_is_replaced(client: httpx.AsyncClient, hostile: bytes) -> None:
    response = await client.get("/healthz", headers=[(ID.encode(), hostile)])
    assert response.status_code == 200
    returned = response.headers[ID]
    assert returned.encode() != hostile
    assert sane_request_id(returned.encode()) == returned


def test_the_longest_accepted_id() -> None:
    assert sane_request_id(b"a" * MAX_ID_LENGTH) == "a" * MAX_ID_LENGTH
    assert sane_request_id(b"a" * (MAX_ID_LENGTH + 1)) is None


async def _requests(client: httpx.AsyncClient, route: str, method: str, status: str) -> float:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for family in text_string_to_metric_families(response.text):
        if family.name == "recsys_http_requests":
            for sample in family.samples:
                labels = {"route": route, "method": method, "status": status}
                if sample.name == "recsys_http_requests_total" and sample.labels == labels:
                    return sample.value
    return 0.0


async def test_metrics_count_one_request_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await _requests(client, "/healthz", "GET", "200")
    other = await _requests(client, "unmatched", "GET", "404")
    assert (await client.get("/healthz")).status_code == 200
    assert await _requests(client, "/healthz", "GET", "200") == before + 1
    assert await _requests(client, "unmatched", "GET", "404") == other


async def test_a_crash_answers_500_with_the_id_counted_by_template() -> None:
    # Without the lifespan there is no application state: /movies/{movie_id} fails on reading
    # it, an unexpected exception, which is what a bug in a route looks like.
    app = create_app(Settings(models=("popularity",), default_model="popularity"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://recsys.test") as http:
        template = "/movies/{movie_id}"
        before = await _requests(http, template, "GET", "500")
        response = await http.get("/movies/50", headers={ID: "crash-1"})
        assert response.status_code == 500
        assert response.headers[ID] == "crash-1"
        assert response.json() == {"detail": "Internal Server Error"}
        assert await _requests(http, template, "GET", "500") == before + 1


async def test_an_unknown_method_is_counted_as_other(client: httpx.AsyncClient) -> None:
    before = await _requests(client, "/healthz", "OTHER", "405")
    assert (await client.request("BREW", "/healthz")).status_code == 405
    assert (await client.request("SPILL", "/healthz")).status_code == 405
    assert await _requests(client, "/healthz", "OTHER", "405") == before + 2
    assert not any(method in ("BREW", "SPILL") for _, method, _ in metrics._children)


async def test_code_answering_the_request_sees_its_id() -> None:
    app = create_app(Settings(models=("popularity",), default_model="popularity"))

    async def probe() -> dict[str, str]:
        return {"seen": current_request_id()}

    app.add_api_route("/probe", probe)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recsys.test") as http:
        given = await http.get("/probe", headers={ID: "req-7"})
        generated = await http.get("/probe")
    assert given.json() == {"seen": "req-7"}
    assert generated.json() == {"seen": generated.headers[ID]}
    assert current_request_id() == "-"


# -- logs: the access line and errors carry the request id ------------------------------------


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS_LOGGER]


async def test_one_access_line_per_request_with_its_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="recsys")
    await client.get("/no/such/path", headers={ID: "line-1"})
    [record] = access_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "line-1"
    assert (line["method"], line["route"], line["path"], line["status"]) == (
        "GET",
        "unmatched",
        "/no/such/path",
        404,
    )
    assert line["message"].startswith("GET /no/such/path 404 ")
    assert record.levelno == logging.INFO


async def test_a_crash_is_logged_once_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    app = create_app(Settings(models=("popularity",), default_model="popularity"))
    # raise_app_exceptions left on: the middleware answers and logs the error, not the server.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recsys.test") as http:
        response = await http.get("/movies/50", headers={ID: "crash-2"})
    assert response.status_code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    [error] = errors
    line = json.loads(JsonFormatter().format(error))
    assert line["request_id"] == "crash-2"
    assert line["message"] == "unhandled error answering GET /movies/50"
    assert line["exception"].startswith("Traceback (most recent call last):")
    [access] = access_records(caplog)
    assert json.loads(JsonFormatter().format(access))["status"] == 500


async def test_a_body_refused_by_its_declared_length_is_logged_as_413(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="recsys")
    big = b" " * (4 * 1024 * 1024 + 1)
    response = await client.post("/invocations", content=big, headers={ID: "big-1"})
    assert response.status_code == 413
    assert response.headers[ID] == "big-1"
    [record] = access_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert (line["request_id"], line["status"], line["method"]) == ("big-1", 413, "POST")


async def test_a_probe_is_logged_at_debug_only(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="recsys")
    await client.get("/healthz")
    await client.get("/metrics")
    assert access_records(caplog) == []
    caplog.set_level(logging.DEBUG, logger="recsys")
    await client.get("/healthz")
    [record] = access_records(caplog)
    assert record.levelno == logging.DEBUG


async def test_a_failing_probe_is_logged_at_info(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="recsys")
    assert (await client.post("/healthz")).status_code == 405
    [record] = access_records(caplog)
    assert record.levelno == logging.INFO
