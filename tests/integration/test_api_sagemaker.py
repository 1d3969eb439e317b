"""The video seed's SageMaker contract over HTTP: ``GET /ping`` and ``POST /invocations``.

The database holds the tiny dataset (numeric users 1-4 and movies 1, 2, 3, 5, 7, 11, no
external ids) plus a seed-format CSV imported with ``recsys data import-events``' own function
(users ``u001``..``u006``, movies ``v001``..``v006``). Popularity counts users per movie, so the
answers are known: v005 (5 users), v004 (4), v003 (3), then the tiny movies (2 each).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from recsys.data.events import read_event_log
from recsys.db.event_import import import_event_log
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS, Settings
from tests.integration.served import serve
from tests.support.network import free_port

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset

TOKEN = "sagemaker-test-token-0123456789"
MODELS = ("als", "popularity")
HEADER = "userId,videoId,interactionType,interactionValue,location,timestamp"
# u001 watched v001 and v002; u002..u006 watched v005, u002..u005 v004, u002..u004 v003.
SEED_LOG = [
    "u001,v001,watch,1,USA,2025-01-01 10:00:00",
    "u001,v002,watch,1,USA,2025-01-01 11:00:00",
    *(f"u00{u},v005,watch,1,UK,2025-01-02 10:00:00" for u in range(2, 7)),
    *(f"u00{u},v004,watch,1,UK,2025-01-02 11:00:00" for u in range(2, 6)),
    *(f"u00{u},v003,watch,1,UK,2025-01-02 12:00:00" for u in range(2, 5)),
    "u006,v006,complete,3,FR,2025-01-03 10:00:00",
]
TINY_MOVIES = {1, 2, 3, 5, 7, 11}


@pytest.fixture(scope="module")
async def seeded_url(
    _pg_databases: Callable[[], Awaitable[str]],
    migrate: Callable[..., Awaitable[None]],
    tiny_dataset: TinyDataset,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """The tiny dataset, then the seed-format CSV imported on top (committed)."""
    url = await _pg_databases()
    await migrate(url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir)
    csv = tmp_path_factory.mktemp("seed") / "interactions.csv"
    csv.write_text("\n".join([HEADER, *SEED_LOG]) + "\n", encoding="utf-8")
    log = read_event_log(csv, EventWeights(DEFAULT_EVENT_WEIGHTS))
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            summary = await import_event_log(session, log)
            await session.commit()
    finally:
        await engine.dispose()
    assert (summary.events, summary.new_users, summary.new_movies) == (len(SEED_LOG), 6, 6)
    return url


@pytest.fixture(scope="module")
async def store_dir(seeded_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifacts")
    store = LocalArtifactStore(folder)
    engine = create_engine(seeded_url)
    try:
        sessions = create_session_factory(engine)
        await train(
            sessions,
            weights=WEIGHTS,
            model_type="als",
            store=store,
            params={"factors": 4, "iterations": 3},
        )
        await train(sessions, weights=WEIGHTS, model_type="popularity", store=store)
    finally:
        await engine.dispose()
    return folder


def settings_for(url: str, store_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        artifact_uri=f"file://{store_dir}",
        models=MODELS,
        default_model="popularity",
        api_write_token=TOKEN,
    )


@pytest.fixture(scope="module")
async def client(seeded_url: str, store_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(seeded_url, store_dir)) as client:
        yield client


async def invoke(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/invocations", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def video_ids(answer: dict[str, Any]) -> list[int | str]:
    return [item["videoId"] for item in answer["recommendations"]]


async def user_id_of(url: str, external_id: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            query = text("SELECT id FROM users WHERE external_id = :k")
            return int((await connection.execute(query, {"k": external_id})).scalar_one())
    finally:
        await engine.dispose()


# -- /invocations ---------------------------------------------------------------------------


async def test_invocations_answer_in_the_seeds_shape_with_external_ids(
    client: httpx.AsyncClient,
) -> None:
    answer = await invoke(client, {"user_id": "u001", "k": 3})
    assert answer["userId"] == "u001"
    assert video_ids(answer) == ["v005", "v004", "v003"]
    scores = [item["score"] for item in answer["recommendations"]]
    assert scores == [5.0, 4.0, 3.0]  # popularity: users per movie
    assert set(answer["recommendations"][0]) == {"videoId", "score"}


async def test_movies_without_an_external_id_answer_with_our_integer_id(
    client: httpx.AsyncClient,
) -> None:
    ids = video_ids(await invoke(client, {"user_id": "u001", "k": 4}))
    assert ids[:3] == ["v005", "v004", "v003"]
    assert isinstance(ids[3], int) and ids[3] in TINY_MOVIES  # a tiny movie, 2 users each


async def test_numeric_user_ids_work_where_no_external_id_exists(
    client: httpx.AsyncClient, seeded_url: str
) -> None:
    # Tiny user 1 has no external id: a JSON number, or a string of digits, reaches it.
    by_number = await invoke(client, {"user_id": 1, "k": 3})
    by_string = await invoke(client, {"user_id": "1", "k": 3})
    assert by_number["userId"] == 1 and by_string["userId"] == "1"
    assert video_ids(by_number) == video_ids(by_string) == ["v005", "v004", "v003"]
    # u001's own numeric id gives u001's answer.
    u001 = await user_id_of(seeded_url, "u001")
    assert video_ids(await invoke(client, {"user_id": u001, "k": 3})) == ["v005", "v004", "v003"]


async def test_the_same_ranking_as_the_recommendations_route(client: httpx.AsyncClient) -> None:
    ours = (await client.get("/users/1/recommendations?k=5")).json()
    seed = await invoke(client, {"user_id": 1, "k": 5})
    numeric = [m["id"] for m in ours["movies"]]
    assert len(numeric) == 5 and len(video_ids(seed)) == 5
    assert [item["score"] for item in seed["recommendations"]] == [
        m["score"] for m in ours["movies"]
    ]
    for key, movie_id in zip(video_ids(seed), numeric, strict=True):
        assert key == movie_id if movie_id in TINY_MOVIES else isinstance(key, str)


async def test_an_event_posted_in_external_ids_is_excluded_from_the_next_invocation(
    client: httpx.AsyncClient,
) -> None:
    # u006 watched v005 and completed v006: v004 (4 users) is its top movie, then v003 (3).
    assert video_ids(await invoke(client, {"user_id": "u006", "k": 1})) == ["v004"]
    posted = await client.post(
        "/events",
        json={"events": [{"user_id": "u006", "movie_id": "v004", "type": "like"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert posted.status_code == 201, posted.text
    assert video_ids(await invoke(client, {"user_id": "u006", "k": 1})) == ["v003"]


async def test_unknown_users_and_bad_requests(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/invocations", json={"user_id": "u999", "k": 3})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "user 'u999' does not exist"}
    missing = await client.post("/invocations", json={"user_id": 99999, "k": 3})
    assert missing.status_code == 404 and missing.json() == {"detail": "user 99999 does not exist"}
    for body, loc in (
        ({"user_id": "u001", "k": 0}, ["body", "k"]),
        ({"user_id": "u001", "k": 101}, ["body", "k"]),
        ({"k": 3}, ["body", "user_id"]),
        ({"user_id": 1.5}, ["body", "user_id"]),
    ):
        response = await client.post("/invocations", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc


# -- /ping ----------------------------------------------------------------------------------


async def test_ping_is_200_when_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "reasons": []}


async def test_ping_is_503_while_a_configured_model_is_missing(
    seeded_url: str, store_dir: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "artifacts"
    partial.mkdir()
    (partial / "popularity").symlink_to(store_dir / "popularity")  # no als
    async with serve(settings_for(seeded_url, partial)) as client:
        response = await client.get("/ping")
        served = await client.post("/invocations", json={"user_id": "u001", "k": 3})
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    [reason] = body["reasons"]
    assert reason.startswith("model als: no trained 'als' model")
    # /ping is about readiness; popularity (the default) still answers.
    assert served.status_code == 200


async def test_ping_is_503_without_a_database(store_dir: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nothing"
    async with serve(settings_for(url, store_dir)) as client:
        response = await client.get("/ping")
    assert response.status_code == 503
    [reason] = response.json()["reasons"]
    assert reason == "database unreachable"


# -- recsys serve, as SageMaker starts it ---------------------------------------------------


@pytest.mark.slow
def test_recsys_serve_reads_host_and_port_from_the_environment(
    seeded_url: str, store_dir: Path, tmp_path: Path
) -> None:
    # SageMaker runs `docker run IMAGE serve` with no other arguments: host and port come from
    # the model's environment. A real uvicorn, then the SageMaker pair over TCP.
    port = free_port()
    env = {
        **os.environ,
        "RECSYS_HOST": "127.0.0.1",
        "RECSYS_PORT": str(port),
        "RECSYS_DATABASE_URL": seeded_url,
        "RECSYS_ARTIFACT_URI": f"file://{store_dir}",
        "RECSYS_MODELS": ",".join(MODELS),
        "RECSYS_DEFAULT_MODEL": "popularity",
        "RECSYS_MAX_BODY_BYTES": "4096",
    }
    recsys = Path(sys.executable).with_name("recsys")
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(recsys), "serve"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            ping = _wait_for_ping(http, process)
            answer = http.post("/invocations", json={"user_id": "u001", "k": 3})
            big = http.post("/invocations", json={"user_id": "u" * 5000})
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    assert ping.status_code == 200, (tmp_path / "serve.log").read_text()
    assert answer.status_code == 200
    assert video_ids(answer.json()) == ["v005", "v004", "v003"]
    # No `server: uvicorn` on any answer (issue 14: internals stay out of answers).
    assert "server" not in ping.headers and "server" not in answer.headers
    # The body limit holds over TCP too, from the environment.
    assert big.status_code == 413
    assert big.json()["detail"] == "request body over 4096 bytes (RECSYS_MAX_BODY_BYTES)"
    assert "server" not in big.headers


def _wait_for_ping(http: httpx.Client, process: subprocess.Popen[bytes]) -> httpx.Response:
    # Polls until the server answers (start-up imports take seconds); the assertion is on what
    # it answers, not on how fast.
    for _ in range(600):
        if process.poll() is not None:
            pytest.fail(f"recsys serve exited with {process.returncode}")
        try:
            return http.get("/ping")
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("recsys serve did not answer within 60 s")
