"""A Spark-trained ALS version served as implicit's is: the CLI, the HTTP API and hot reload.

The database holds the toy catalogue of two taste groups (recsys.modeling.toy): users 1..12
rate only movies 100..107, users 13..18 only 200..207, so the right answers are known.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from recsys.cli import app
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore, list_versions, read_manifest
from recsys.modeling.toy import GROUP_A_FIRST_ITEM, GROUP_B_FIRST_ITEM, two_taste_groups
from recsys.service.spark_training import SparkOptions, train_spark
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS, Settings
from tests.integration.served import serve
from tests.support.databases import Migrate
from tests.support.datasets import TinyMovie, TinyRating, WriteDataset

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TOKEN = "spark-serving-token-0123456789abcdef"
TOY_PARAMS = ("-p", "factors=2", "-p", "iterations=8", "-p", "regularization=0.1")
TOY = {"factors": 2, "iterations": 8, "regularization": 0.1, "random_state": 7}
WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)


def group(movie_id: int) -> str:
    return "A" if GROUP_A_FIRST_ITEM <= movie_id < GROUP_B_FIRST_ITEM else "B"


@pytest.fixture(scope="module")
async def toy_url(
    _pg_databases: Callable[[], Awaitable[str]],
    tmp_path_factory: pytest.TempPathFactory,
    write_dataset: WriteDataset,
    migrate: Migrate,
) -> str:
    toy = two_taste_groups()
    ratings = [
        TinyRating(int(u), int(m), float(r), int(t))
        for u, m, r, t in zip(toy.user_ids, toy.movie_ids, toy.ratings, toy.timestamps, strict=True)
    ]
    movies = [
        TinyMovie(m, f"{group(m)} movie {m}", 2000, ("Drama",) if group(m) == "A" else ("Comedy",))
        for m in sorted(set(int(m) for m in toy.movie_ids))
    ]
    data_dir = tmp_path_factory.mktemp("toy-data")
    write_dataset(data_dir / "toy", ratings=ratings, movies=movies)
    url = await _pg_databases()
    await migrate(url, "upgrade", "head", dataset="toy", data_dir=data_dir)
    return url


@pytest.fixture
def cli_env(
    spark: SparkSession, toy_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    # The CLI finds the session's SparkSession running and uses it (one JVM per process).
    monkeypatch.setenv("RECSYS_DATABASE_URL", toy_url)
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", f"file://{tmp_path}/artifacts")
    monkeypatch.chdir(tmp_path)
    yield tmp_path / "artifacts"


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_cli_trains_als_on_spark_then_lists_and_predicts_it(cli_env: Path) -> None:
    code, out = run_cli("train", "-m", "als", "--engine", "spark", *TOY_PARAMS)
    assert code == 0, out
    assert re.search(r"engine\s+.\s*spark", out) and re.search(r"export\s+.\s*[\d.]+ s", out)
    assert "108" in out and "18 x 16" in out
    store = LocalArtifactStore(cli_env)
    (version,) = list_versions(store, "als")
    manifest = read_manifest(store, "als", version)
    assert manifest.training["engine"] == "spark"
    assert manifest.training["spark"]["params"]["maxIter"] == 8
    assert len(manifest.training["spark"]["export"]["sha256"]) == 1
    assert [key for key in store.list() if key.startswith("spark-exports")] == []

    code, out = run_cli("models", "list", "-m", "als")
    assert code == 0 and re.search(rf"{version}.*LATEST", out), out
    code, out = run_cli("predict", "13", "-m", "als", "-k", "2")
    assert code == 0, out
    rows = [line for line in out.splitlines() if re.match(r"^│\s+\d+\s+│", line)]
    assert len(rows) == 2 and all("B movie 2" in row for row in rows), out


async def test_the_api_serves_a_spark_version_after_a_hot_reload(
    spark: SparkSession, toy_url: str, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path)
    engine = create_engine(toy_url)
    sessions = create_session_factory(engine)
    try:
        for model_type, params in (("als", TOY), ("popularity", {})):
            await train(
                sessions, weights=WEIGHTS, model_type=model_type, store=store, params=params
            )
        settings = Settings(
            database_url=toy_url,
            artifact_uri=f"file://{tmp_path}",
            models=("als", "popularity"),
            api_write_token=TOKEN,
        )
        async with serve(settings) as client:
            (implicit_version,) = list_versions(store, "als")
            before = (await client.get("/users/1/recommendations?model=als&k=2")).json()
            assert before["model_version"] == implicit_version

            report = await train_spark(
                sessions,
                store=store,
                weights=WEIGHTS,
                params=TOY,
                spark=SparkOptions(session=spark),
            )
            spark_version = report.artifact.version
            assert report.engine == "spark" and report.export_seconds > 0
            reload = await client.post(
                "/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert reload.status_code == 200, reload.text
            assert reload.json()["models"]["als"]["status"] == "loaded"
            assert reload.json()["models"]["als"]["version"] == spark_version

            for user, expected in ((1, "A"), (13, "B")):
                answer = await client.get(f"/users/{user}/recommendations?model=als&k=2")
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["model_version"] == spark_version and not body["fallback"]
                assert [group(m["id"]) for m in body["movies"]] == [expected, expected]
                assert all(m["title"].startswith(expected) for m in body["movies"])
            similar = await client.get(f"/movies/{GROUP_B_FIRST_ITEM + 3}/similar?model=als&k=3")
            assert similar.status_code == 200, similar.text
            assert {group(m["id"]) for m in similar.json()["movies"]} == {"B"}
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["models"]["als"]["version"] == spark_version
    finally:
        await engine.dispose()
