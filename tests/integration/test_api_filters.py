"""Filters and diversity over HTTP, on PostgreSQL and on SQLite, with exact answers.

The toy catalogue: movie m (1..10) is rated by users 2..(12 - m), so popularity ranks the
movies by id (1 first). User 1 rated movie 1 only. Genres and years:

    1 Comedy 1970   2 Drama 1975    3 Horror 1980          4 Comedy|Drama 1985
    5 Comedy|Horror 1990   6 Drama 1995   7 Comedy 2000    8 Horror 2005
    9 Drama (no year)      10 Comedy|Romance 2010

Movie 6 has the external id "v006". Popularity's answer for user 1 is then the catalogue's
eligible movies in id order, which makes each filter's right answer obvious.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from typer.testing import CliRunner

from recsys.api import create_app
from recsys.cli import app
from recsys.db.session import create_engine
from recsys.settings import Settings
from tests.support.datasets import TinyMovie, TinyRating, write_csv_dataset
from tests.support.training import train_into

MOVIES = (
    TinyMovie(1, "Alpha", 1970, ("Comedy",)),
    TinyMovie(2, "Bravo", 1975, ("Drama",)),
    TinyMovie(3, "Charlie", 1980, ("Horror",)),
    TinyMovie(4, "Delta", 1985, ("Comedy", "Drama")),
    TinyMovie(5, "Echo", 1990, ("Comedy", "Horror")),
    TinyMovie(6, "Foxtrot", 1995, ("Drama",)),
    TinyMovie(7, "Golf", 2000, ("Comedy",)),
    TinyMovie(8, "Hotel", 2005, ("Horror",)),
    TinyMovie(9, "India", None, ("Drama",)),
    TinyMovie(10, "Juliet", 2010, ("Comedy", "Romance")),
)


NEW_USER = 50


def ratings() -> list[TinyRating]:
    out = [TinyRating(1, 1, 4.0, 1_000_000_000)]
    for user in range(2, 12):
        for movie in range(1, 13 - user):
            out.append(TinyRating(user, movie, 4.0, 1_000_000_000 + user * 100 + movie))
    return out


@dataclass(frozen=True)
class Toy:
    url: str
    store: Path


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
async def toy(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _pg_databases: Callable[[], Awaitable[str]],
    migrate: Callable[..., Awaitable[None]],
) -> Toy:
    root = tmp_path_factory.mktemp(f"filters-{request.param}")
    data = write_csv_dataset(root / "data" / "filters", ratings=ratings(), movies=MOVIES)
    if request.param == "postgresql":
        url = await _pg_databases()
    else:
        url = f"sqlite+aiosqlite:///{root / 'recsys.db'}"
    await migrate(url, "upgrade", "head", dataset="filters", data_dir=data.parent)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:  # the movies table fires no notification
            await connection.execute(text("UPDATE movies SET external_id = 'v006' WHERE id = 6"))
            # A user with no history at all: the popularity fallback answers for them.
            await connection.execute(text(f"INSERT INTO users (id) VALUES ({NEW_USER})"))
    finally:
        await engine.dispose()
    store = await train_into(url, root / "artifacts", "popularity", "als", "item_knn")
    return Toy(url, store)


@pytest.fixture(scope="module")
async def client(toy: Toy) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=toy.url,
        artifact_uri=f"file://{toy.store}",
        models=("popularity", "als", "item_knn"),
        default_model="popularity",
        history_cache="off",
    )
    api = create_app(settings)
    async with (
        LifespanManager(api) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c,
    ):
        yield c


async def recommend(client: httpx.AsyncClient, query: str, user: int = 1) -> dict[str, Any]:
    response = await client.get(f"/users/{user}/recommendations?model=popularity&{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[int]:
    return [m["id"] for m in body["movies"]]


@pytest.mark.parametrize(
    ("query", "expected", "eligible"),
    [
        ("k=3", [2, 3, 4], None),
        ("k=3&genres=Comedy", [4, 5, 7], 4),
        ("k=10&genres=Comedy", [4, 5, 7, 10], 4),
        ("k=3&genres=Horror,Romance", [3, 5, 8], 4),
        ("k=3&exclude_genres=Horror", [2, 4, 6], 6),
        ("k=3&exclude_genres=Horror,Drama", [7, 10], 2),
        ("k=3&year_min=1990", [5, 6, 7], 5),
        ("k=3&year_max=1985", [2, 3, 4], 3),
        ("k=10&year_min=1985&year_max=2000", [4, 5, 6, 7], 4),
        ("k=3&exclude=2,3", [4, 5, 6], 7),
        ("k=3&exclude=v006,2,3,4,5", [7, 8, 9], 4),
        ("k=5&only=10,9,2", [2, 9, 10], 3),
        ("k=5&only=1,2", [2], 1),  # 1 is rated already
        ("k=5&only=v006", [6], 1),
        ("k=3&genres=Comedy,Drama&exclude_genres=Horror&exclude=4", [2, 6, 7], 5),
        ("k=3&genres=Drama&year_min=1985&year_max=2000", [4, 6], 2),
        ("k=3&genres=Drama&only=9,10,4", [4, 9], 2),
        ("k=3&genres=Romance&year_max=2000", [], 0),
    ],
)
async def test_each_filter_and_combinations_fill_k_before_the_cut(
    client: httpx.AsyncClient, query: str, expected: list[int], eligible: int | None
) -> None:
    body = await recommend(client, query)
    assert ids(body) == expected
    assert body["eligible"] == eligible
    assert body["fallback"] is False


async def test_latent_and_neighbourhood_models_answer_within_the_filters(
    client: httpx.AsyncClient,
) -> None:
    for model in ("als", "item_knn"):
        full = (await client.get(f"/users/2/recommendations?model={model}&k=10")).json()
        response = await client.get(f"/users/3/recommendations?model={model}&k=10&genres=Drama")
        assert response.status_code == 200, response.text
        body = response.json()
        # User 3 rated 1..9: of the Drama movies none is left, so nothing is eligible.
        assert ids(body) == [] and body["eligible"] == 0
        assert full["eligible"] is None
        # User 9 rated 1..3: ALS's answer with Comedy only is its unfiltered ranking's
        # comedies, in its order.
        everything = ids((await client.get(f"/users/9/recommendations?model={model}&k=7")).json())
        comedies = [i for i in everything if "Comedy" in MOVIES[i - 1].genres]
        filtered = await client.get(f"/users/9/recommendations?model={model}&k=7&genres=Comedy")
        assert ids(filtered.json()) == comedies


async def test_the_popularity_fallback_honours_the_filters(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/users/{NEW_USER}/recommendations?model=als&k=2&genres=Horror")
    body = response.json()
    assert body["fallback"] is True and body["model"] == "popularity"
    assert ids(body) == [3, 5] and body["eligible"] == 3


async def test_similar_movies_within_the_filters(client: httpx.AsyncClient) -> None:
    full = (await client.get("/movies/4/similar?model=als&k=9")).json()
    assert full["eligible"] is None and 4 not in ids(full)
    response = await client.get("/movies/4/similar?model=als&k=9&genres=Comedy&exclude=7")
    assert response.status_code == 200, response.text
    body = response.json()
    assert ids(body) == [i for i in ids(full) if i in (1, 5, 10)]
    assert body["eligible"] == 3  # Comedy is 1, 4, 5, 7, 10: less 4 itself and 7


async def test_invocations_take_the_filters_in_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/invocations",
        json={"user_id": 1, "k": 3, "genres": ["Drama"], "exclude": ["v006"], "year_max": 2000},
    )
    assert response.status_code == 200, response.text
    assert [r["videoId"] for r in response.json()["recommendations"]] == [2, 4]
    only = await client.post("/invocations", json={"user_id": "1", "k": 3, "only": [6, 7]})
    assert [r["videoId"] for r in only.json()["recommendations"]] == ["v006", 7]
    bad = await client.post("/invocations", json={"user_id": 1, "genres": ["Western"]})
    assert bad.status_code == 422
    [error] = bad.json()["detail"]
    assert error["loc"] == ["body", "genres"]
    assert error["msg"] == (
        "genres: unknown genre 'Western'; known genres: Comedy, Drama, Horror, Romance"
    )
    too_many = await client.post(
        "/invocations", json={"user_id": 1, "exclude": list(range(1, 1002))}
    )
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "exclude"]


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        ("genres=Western", "genres", "unknown genre 'Western'; known genres: Comedy, Drama"),
        ("exclude_genres=horror", "exclude_genres", "unknown genre 'horror'"),
        ("year_min=2000&year_max=1990", "year_min", "2000 is after year_max 1990"),
        ("year_min=nineteen", "year_min", "must be a year in 1800..2200"),
        ("exclude=" + ",".join(str(i) for i in range(1, 1002)), "exclude", "at most 1000"),
        ("only=v999", "only", "no movie has the id 'v999'"),
        ("diversify=3", "diversify", "must be a number in 0..1"),
        ("genres=", "genres", "no empty item"),
    ],
)
async def test_bad_filters_are_a_422_naming_the_parameter(
    client: httpx.AsyncClient, query: str, param: str, words: str
) -> None:
    for path in ("/users/1/recommendations", "/movies/4/similar"):
        response = await client.get(f"{path}?model=als&{query}")
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", param]
        assert error["type"] == "invalid_filter"
        assert words in error["msg"]


async def test_diversify_spreads_genres_and_zero_keeps_the_order(
    client: httpx.AsyncClient,
) -> None:
    plain = await recommend(client, "k=3")
    zero = await recommend(client, "k=3&diversify=0")
    assert ids(zero) == ids(plain) == [2, 3, 4] and zero["eligible"] is None
    # diversify=1 picks by genre novelty alone: 2 (Drama, the best), then the best movie
    # sharing no genre with it, 3 (Horror), then 5? no: 5 shares Horror; 7 (Comedy) is the
    # best with nothing in common with Drama and Horror.
    spread = await recommend(client, "k=3&diversify=1")
    assert ids(spread) == [2, 3, 7]
    filtered = await recommend(client, "k=2&diversify=1&exclude_genres=Horror")
    assert ids(filtered) == [2, 7] and filtered["eligible"] == 6


def test_openapi_documents_the_filters(tmp_path: Path) -> None:
    document = create_app(Settings(artifact_uri=f"file://{tmp_path}")).openapi()
    for path in ("/users/{user_id}/recommendations", "/movies/{movie_id}/similar"):
        names = [p["name"] for p in document["paths"][path]["get"]["parameters"]]
        for name in ("genres", "exclude_genres", "year_min", "year_max", "exclude", "only"):
            assert name in names, (path, name)
        assert "diversify" in names
    body = document["components"]["schemas"]["InvocationIn"]["properties"]
    assert {"genres", "exclude_genres", "year_min", "year_max", "exclude", "only"} <= set(body)


async def run_cli(toy: Toy, *args: str) -> tuple[int, str, str]:
    env = {
        "RECSYS_DATABASE_URL": toy.url,
        "RECSYS_ARTIFACT_URI": f"file://{toy.store}",
        "RECSYS_MODELS": "popularity,als,item_knn",
    }
    # The CLI runs its own event loop: keep it off this test's loop.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def test_cli_predict_takes_the_same_filters(toy: Toy) -> None:
    code, out, err = await run_cli(
        toy,
        "predict",
        "1",
        "-m",
        "popularity",
        "-k",
        "3",
        "--genres",
        "Comedy,Drama",
        "--exclude-genres",
        "Horror",
        "--exclude",
        "4",
    )
    assert code == 0, out + err
    rows = [line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│")]
    assert rows[:3] == ["2", "6", "7"]
    assert "3 of 5 eligible" in out
    code, out, err = await run_cli(toy, "predict", "1", "-m", "popularity", "--only", "v006")
    assert code == 0, out + err
    assert [line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│")][
        :1
    ] == ["6"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--year-min", "2000", "--year-max", "1990"), "--year-min: 2000 is after year_max 1990"),
        (("--genres", "Western"), "--genres: unknown genre 'Western'; known genres: Comedy, "),
        (("--only", "v999"), "--only: no movie has the id 'v999'"),
        (("--diversify", "1.5"), "--diversify: must be a number in 0..1"),
        (("--exclude", ",".join(str(i) for i in range(1, 1002))), "--exclude: at most 1000"),
    ],
)
async def test_cli_filter_errors_name_the_option(
    toy: Toy, args: tuple[str, ...], message: str
) -> None:
    for target in (("1",), ("--all", "--out", str(toy.store.parent / "never.csv"))):
        code, out, err = await run_cli(toy, "predict", *target, "-m", "popularity", *args)
        assert code == 2, out + err
        assert message in " ".join(err.split()), err
    assert not (toy.store.parent / "never.csv").exists()


async def test_cli_predict_all_filters_every_user(toy: Toy) -> None:
    out_file = toy.store.parent / "filtered.csv"
    code, out, err = await run_cli(
        toy,
        "predict",
        "--all",
        "-m",
        "als",
        "-k",
        "2",
        "--genres",
        "Horror",
        "--out",
        str(out_file),
    )
    assert code == 0, out + err
    with out_file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_user: dict[int, list[int]] = {}
    for row in rows:
        by_user.setdefault(int(row["user_id"]), []).append(int(row["movie_id"]))
    # Every movie written is a horror movie the user has not rated; users 2..4 rated all three
    # (3, 5, 8 need users up to 9, 7 and 4), so have nothing left; user 1 gets two of them.
    horror = {3, 5, 8}
    assert all(set(movies) <= horror for movies in by_user.values())
    assert len(by_user[1]) == 2
    for user, movies in by_user.items():
        rated = set(range(1, 13 - user)) if user >= 2 else {1}
        assert not set(movies) & rated
    assert 2 not in by_user and 3 not in by_user and 4 not in by_user
    popular = toy.store.parent / "popular.csv"
    code, out, err = await run_cli(
        toy,
        "predict",
        "--all",
        "-m",
        "popularity",
        "-k",
        "3",
        "--diversify",
        "1",
        "--out",
        str(popular),
    )
    assert code == 0, out + err
    with popular.open(newline="", encoding="utf-8") as handle:
        first = [int(r["movie_id"]) for r in csv.DictReader(handle) if r["user_id"] == "1"]
    assert first == [2, 3, 7]  # as GET /users/1/recommendations?k=3&diversify=1


async def test_unstorable_or_overlong_external_ids_are_a_422_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    for value in ("v%00x", "%ED%A0%80", "v" * 201):
        response = await client.get(f"/users/1/recommendations?only={value}")
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["query", "only"]
