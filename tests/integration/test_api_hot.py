"""The recommendations route's plain requests answered before FastAPI (recsys.api.hot) give the
FastAPI route's answers byte for byte: status, body and headers, errors included.

Each plain request is paired with the same request spelt so the hand parser leaves it to FastAPI
(a percent-escaped character: ``k=%35`` is ``k=5``), on the same app. The tiny dataset (users
1-4) in a database of this module's own; als, item_knn and popularity trained on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from recsys.api.hot import HotRecommendations
from recsys.db.session import create_engine
from recsys.settings import Settings
from tests.integration.served import serve
from tests.support.training import train_into

NEW_USER = 99  # in the database, in no rating: the popularity fallback answers

# (plain, the same request in a spelling only FastAPI decodes, expected status)
PAIRS = [
    ("/users/1/recommendations", "/users/1/recommendations?k=1%30", 200),
    ("/users/1/recommendations?k=2&model=als", "/users/1/recommendations?k=%32&model=als", 200),
    ("/users/2/recommendations?model=item_knn", "/users/2/recommendations?model=item_kn%6E", 200),
    ("/users/3/recommendations?k=100", "/users/3/recommendations?k=10%30", 200),
    (f"/users/{NEW_USER}/recommendations", f"/users/{NEW_USER}/recommendations?k=1%30", 200),
    ("/users/4000/recommendations?k=3", "/users/4000/recommendations?k=%33", 404),
    # Registered, not loaded here: the 422 that lists the loaded models.
    ("/users/1/recommendations?model=svd", "/users/1/recommendations?model=sv%64", 422),
]


@pytest.fixture(scope="module")
async def store_dir(module_tiny_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifacts")
    await train_into(module_tiny_db, folder, "popularity", "als", "item_knn")
    engine = create_engine(module_tiny_db)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO users (id) VALUES (:u)"), {"u": NEW_USER})
    finally:
        await engine.dispose()
    return folder


@pytest.fixture(scope="module")
async def client(module_tiny_db: str, store_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=module_tiny_db,
        artifact_uri=f"file://{store_dir}",
        models=("als", "item_knn", "popularity"),
        default_model="als",
    )
    async with serve(settings) as client:
        yield client


@pytest.fixture
def hot_answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the hot route answered from now on (it still answers them)."""
    answered: list[str] = []
    original = HotRecommendations.answer

    async def counting(self: HotRecommendations, parsed: Any, scope: Any, *args: Any) -> None:
        answered.append(scope["path"])
        await original(self, parsed, scope, *args)

    monkeypatch.setattr(HotRecommendations, "answer", counting)
    return answered


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k != "x-request-id"]


@pytest.mark.parametrize(("plain", "escaped", "status"), PAIRS)
async def test_the_hot_route_answers_as_the_fastapi_route(
    client: httpx.AsyncClient, hot_answers: list[str], plain: str, escaped: str, status: int
) -> None:
    hot = await client.get(plain)
    assert hot_answers == [plain.partition("?")[0]]  # answered before the router
    routed = await client.get(escaped)
    assert hot_answers == [plain.partition("?")[0]]  # this one went through FastAPI
    assert hot.status_code == routed.status_code == status
    assert hot.content == routed.content
    assert _headers(hot) == _headers(routed)
    assert hot.headers["x-request-id"] != routed.headers["x-request-id"]
    if status == 200:
        assert '"eligible":null' in hot.text  # the filters' count, null without filters


async def test_the_fallback_user_gets_popularity(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/users/{NEW_USER}/recommendations")).json()
    assert body["fallback"] is True and body["model"] == "popularity"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/users/0/recommendations", 404),  # in FastAPI's id range, below the parser's
        ("/users/-1/recommendations", 404),
        ("/users/99999999999/recommendations", 422),  # over int4
        ("/users/1/recommendations?k=0", 422),
        ("/users/1/recommendations?k=101", 422),
        ("/users/1/recommendations?k=", 422),
        ("/users/1/recommendations?k=2&k=3", 200),
        ("/users/1/recommendations?model=nope", 422),
        ("/users/1/recommendations?model=", 422),
        ("/users/1/recommendations?other=1", 200),  # ignored by FastAPI
    ],
)
async def test_anything_but_a_plain_request_goes_to_fastapi(
    client: httpx.AsyncClient, hot_answers: list[str], path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status, response.text
    assert hot_answers == []


@pytest.mark.parametrize("model", ["als", "item_knn", "popularity"])
async def test_a_filtered_request_goes_to_fastapi_and_is_filtered(
    client: httpx.AsyncClient, hot_answers: list[str], model: str
) -> None:
    plain = (await client.get(f"/users/1/recommendations?k=100&model={model}")).json()
    assert plain["eligible"] is None
    response = await client.get(f"/users/1/recommendations?k=100&model={model}&genres=Comedy")
    assert response.status_code == 200, response.text
    assert hot_answers == ["/users/1/recommendations"]  # the unfiltered one only
    body = response.json()
    # A filtered answer has no explore slots (new movies lie outside the model's mask), so the
    # plain answer's "new in the catalogue" movies are not expected in it.
    comedies = [
        m["id"]
        for m in plain["movies"]
        if "Comedy" in m["genres"] and m.get("reason") != "new in the catalogue"
    ]
    assert [m["id"] for m in body["movies"]] == comedies
    assert body["eligible"] == len(comedies)


async def test_a_bad_filter_is_fastapis_422(
    client: httpx.AsyncClient, hot_answers: list[str]
) -> None:
    response = await client.get("/users/1/recommendations?genres=NoSuchGenre")
    assert response.status_code == 422
    assert hot_answers == []


async def test_a_leading_zero_is_still_plain(
    client: httpx.AsyncClient, hot_answers: list[str]
) -> None:
    # FastAPI reads "01" as 1 too: the same answer, from the hot route.
    hot = await client.get("/users/01/recommendations?k=2")
    routed = await client.get("/users/1/recommendations?k=%32")
    assert hot_answers == ["/users/01/recommendations"]
    assert hot.status_code == 200 and hot.content == routed.content
