"""Dislikes, new movies and catalogue writes over HTTP, on PostgreSQL and on SQLite.

A toy catalogue where the right answer is obvious: two taste groups, space operas (1-4) and
romances (5-8), each watched only by its own fans. A user who watched one of each gets both
groups' neighbours; after disliking the romance, its neighbours fall below every space opera.
A new space opera (no interactions) has space operas as content neighbours and takes the
explore slot; a soft-deleted movie is gone from the next answers, its history kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS, Settings
from tests.integration.served import serve, settle
from tests.support.datasets import TinyMovie, TinyRating, write_csv_dataset

TOKEN = "test-write-token-catalog-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPACE = (1, 2, 3, 4)
ROMANCE = (5, 6, 7, 8)
MOVIES = (
    TinyMovie(1, "Star Journey", 1977, ("Adventure", "Sci-Fi")),
    TinyMovie(2, "Star Journey II", 1980, ("Adventure", "Sci-Fi")),
    TinyMovie(3, "Galaxy Raiders", 1982, ("Action", "Sci-Fi")),
    TinyMovie(4, "Planet Patrol", 1983, ("Action", "Sci-Fi")),
    TinyMovie(5, "Paris Hearts", 1995, ("Romance",)),
    TinyMovie(6, "Paris Hearts Again", 1997, ("Drama", "Romance")),
    TinyMovie(7, "Summer Letters", 1996, ("Romance",)),
    TinyMovie(8, "Winter Letters", 1998, ("Drama", "Romance")),
)
_T = 1_000_000_000


def _ratings() -> list[TinyRating]:
    out = []
    # Three fans per group rate all of it; user 7 watched one of each (1 and 5).
    for user, group in (
        (1, SPACE),
        (2, SPACE),
        (3, SPACE),
        (4, ROMANCE),
        (5, ROMANCE),
        (6, ROMANCE),
    ):
        out += [TinyRating(user, m, 4.0, _T + 10 * user + m) for m in group]
    out += [TinyRating(7, 1, 4.0, _T + 100), TinyRating(7, 5, 4.0, _T + 101)]
    return out


@pytest.fixture(params=["postgresql", "sqlite"])
async def client(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrate: Callable[..., Awaitable[None]],
    _pg_databases: Callable[[], Awaitable[str]],
) -> AsyncIterator[httpx.AsyncClient]:
    write_csv_dataset(tmp_path / "data" / "toy", ratings=_ratings(), movies=MOVIES)
    if request.param == "postgresql":
        url = await _pg_databases()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'recsys.db'}"
    await migrate(url, "upgrade", "head", dataset="toy", data_dir=tmp_path / "data")
    store = LocalArtifactStore(tmp_path / "artifacts")
    engine = create_engine(url)
    weights = EventWeights(DEFAULT_EVENT_WEIGHTS)
    try:
        sessions = create_session_factory(engine)
        for model_type in ("item_knn", "popularity"):
            await train(sessions, weights=weights, model_type=model_type, store=store)
    finally:
        await engine.dispose()
    settings = Settings(
        database_url=url,
        artifact_uri=f"file://{store.root}",
        models=("item_knn", "popularity"),
        default_model="item_knn",
        api_write_token=TOKEN,
        catalog_poll_seconds=0,
    )
    async with serve(settings) as c:
        yield c


async def recommended(
    client: httpx.AsyncClient, user_id: int, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(f"/users/{user_id}/recommendations", params={"k": 10, **params})
    assert response.status_code == 200, response.text
    movies: list[dict[str, Any]] = response.json()["movies"]
    return movies


async def similar(client: httpx.AsyncClient, movie_id: int, k: int = 10) -> list[dict[str, Any]]:
    response = await client.get(f"/movies/{movie_id}/similar", params={"k": k})
    assert response.status_code == 200, response.text
    movies: list[dict[str, Any]] = response.json()["movies"]
    return movies


async def test_a_dislike_is_excluded_at_once_and_pushes_its_neighbours_down(
    client: httpx.AsyncClient,
) -> None:
    before = await recommended(client, 7)
    # Both groups' neighbours, as close: each romance scores what its space opera twin does.
    assert {m["id"] for m in before} == {2, 3, 4, 6, 7, 8}
    score = {m["id"]: m["score"] for m in before}
    assert [score[m] for m in (6, 7, 8)] == [score[m] for m in (2, 3, 4)]
    assert min(score.values()) > 0

    response = await client.post(
        "/events", json={"events": [{"user_id": 7, "movie_id": 5, "type": "dislike"}]}, headers=AUTH
    )
    assert response.status_code == 201, response.text
    await settle()
    after = await recommended(client, 7)
    ids = [m["id"] for m in after]
    assert 5 not in ids
    # The space operas first; the disliked romance's neighbours last, scored against.
    assert set(ids[:3]) == {2, 3, 4}
    assert set(ids[3:]) <= {6, 7, 8}
    assert all(m["score"] < 0 for m in after[3:])
    # A disliked movie is no reason for anything.
    assert all("Paris Hearts" not in (m["reason"] or "") for m in after)


async def test_a_user_who_only_disliked_never_gets_that_movie(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/events",
        json={"events": [{"user_id": 50, "movie_id": 1, "type": "dislike"}]},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    await settle()
    ids = [m["id"] for m in await recommended(client, 50)]
    assert ids and 1 not in ids


async def test_a_new_movie_has_content_neighbours_and_takes_the_explore_slot(
    client: httpx.AsyncClient,
) -> None:
    new = {"title": "Star Journey Returns", "year": 1984, "genres": ["Adventure", "Sci-Fi"]}
    response = await client.post("/movies", json=new, headers=AUTH)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {"id": 9, "title": new["title"], "year": 1984, "genres": new["genres"]}

    # Its similar movies: by content, the space operas, the two Star Journeys first.
    ids = [m["id"] for m in await similar(client, 9, k=4)]
    assert set(ids[:2]) == {1, 2} and set(ids) == set(SPACE)
    # A known movie's neighbours keep their model answer, the last slot (0.1 of 10) is new.
    known = await similar(client, 1)
    assert known[-1]["id"] == 9 and known[-1]["reason"] == "new in the catalogue"
    # (item_knn's: the other space operas, and the romance user 7 watched too).
    assert [m["id"] for m in known[:-1]] == [2, 3, 4, 5]
    # k=3: 0.1 of 3 rounds to no explore slot.
    assert [m["id"] for m in await similar(client, 1, k=3)] == [2, 3, 4]
    # In recommendations: a space-opera fan gets it in the explore slot, a romance fan too
    # (the only new movie), but never twice; explore=0 is off.
    fan = await recommended(client, 1)
    assert fan[-1]["id"] == 9 and fan[-1]["reason"] == "new in the catalogue"
    assert [m["id"] for m in fan].count(9) == 1


async def test_explore_share_zero_turns_the_slots_off(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/movies", json={"title": "Comet", "year": 1990, "genres": ["Sci-Fi"]}, headers=AUTH
    )
    assert response.status_code == 201
    # k=4: 0.1 of 4 rounds to no slot; k=5 gives one.
    assert all(m["reason"] != "new in the catalogue" for m in await recommended(client, 4, k=4))
    assert (await recommended(client, 4, k=5))[-1]["id"] == 9


async def test_update_and_soft_delete_are_seen_by_the_next_request(
    client: httpx.AsyncClient,
) -> None:
    body = {"title": "Galaxy Raiders (Director's Cut)", "year": 1982, "genres": ["Action"]}
    response = await client.put("/movies/3", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    got = (await client.get("/movies/3")).json()
    assert (got["title"], got["genres"]) == (body["title"], ["Action"])
    assert any(m["title"] == body["title"] for m in await recommended(client, 7))

    assert (await client.delete("/movies/2", headers=AUTH)).status_code == 204
    assert 2 not in [m["id"] for m in await recommended(client, 7)]
    assert 2 not in [m["id"] for m in await similar(client, 1)]
    assert 2 not in [m["id"] for m in await recommended(client, 7, model="popularity")]
    # History kept: the movie is still there to look up, and in its raters' ratings.
    assert (await client.get("/movies/2")).status_code == 200
    assert 2 in [r["id"] for r in (await client.get("/users/1/ratings")).json()["ratings"]]
    # Deleting again, or updating a deleted movie: 404.
    assert (await client.delete("/movies/2", headers=AUTH)).status_code == 404
    assert (await client.put("/movies/2", json=body, headers=AUTH)).status_code == 404


async def test_catalogue_writes_need_the_token_and_valid_fields(client: httpx.AsyncClient) -> None:
    body = {"title": "X", "year": 2000, "genres": ["Drama"], "external_id": "v1"}
    assert (await client.post("/movies", json=body)).status_code == 401
    assert (await client.delete("/movies/1")).status_code == 401
    assert (await client.post("/movies", json=body, headers=AUTH)).status_code == 201
    taken = await client.post("/movies", json={**body, "title": "Y"}, headers=AUTH)
    assert taken.status_code == 409 and "already movie 9" in taken.json()["detail"]
    for bad, field in (
        ({**body, "year": 1200}, "year"),
        ({**body, "title": "  "}, "title"),
        ({**body, "genres": ["Drama", "Drama"]}, "genres"),
    ):
        response = await client.post("/movies", json=bad, headers=AUTH)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", field]


async def test_a_405_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    # GET /movies/{id} and the catalogue's PUT and DELETE are three routes of one path.
    response = await client.request("OPTIONS", "/movies/1")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "GET", "PUT"}
    post = await client.post("/movies/1", headers=AUTH)
    assert post.status_code == 405 and "PUT" in post.headers["allow"]
