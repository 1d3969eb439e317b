"""The API on the embedded SQLite default (what `make demo` serves without RECSYS_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

from recsys.api import create_app
from recsys.cli import app
from recsys.db.repositories import EventRepository, NewEvent
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore, read_latest, read_manifest
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS, Settings

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset


async def test_recommendations_ratings_and_readiness_on_sqlite(
    tmp_path: Path, migrate: Callable[..., Awaitable[None]], tiny_dataset: TinyDataset
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'recsys.db'}"
    await migrate(url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir)
    store = LocalArtifactStore(tmp_path / "artifacts")
    engine = create_engine(url)
    try:
        sessions = create_session_factory(engine)
        await train(
            sessions,
            weights=WEIGHTS,
            model_type="als",
            store=store,
            params={"factors": 2, "iterations": 2},
        )
        await train(sessions, weights=WEIGHTS, model_type="popularity", store=store)
    finally:
        await engine.dispose()
    settings = Settings(
        database_url=url, artifact_uri=f"file://{store.root}", models=("als", "popularity")
    )
    api = create_app(settings)
    async with (
        LifespanManager(api) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c,
    ):
        assert (await c.get("/readyz")).json()["ready"] is True
        # User 1 rated movies 1, 3, 5 and 7; of the rest only 2 was ever rated (11 never was,
        # so no model can score it): the one possible answer.
        for model in ("als", "popularity"):
            response = await c.get(f"/users/1/recommendations?k=10&model={model}")
            # ... and 11, new in the catalogue, has the explore slot (0.1 of 10).
            movies = response.json()["movies"]
            assert [m["id"] for m in movies] == [2, 11], response.text
            assert movies[1]["reason"] == "new in the catalogue"
        ratings = (await c.get("/users/2/ratings")).json()["ratings"]
        # Two ratings at the same second: ties broken by movie id.
        assert [r["id"] for r in ratings] == [2, 3, 1]
        assert (await c.get("/users/99/recommendations")).status_code == 404


async def test_ensure_models_trains_only_what_is_missing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    migrate: Callable[..., Awaitable[None]],
    tiny_dataset: TinyDataset,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'recsys.db'}"
    await migrate(url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir)
    monkeypatch.setenv("RECSYS_DATABASE_URL", url)
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", f"file://{tmp_path / 'artifacts'}")
    monkeypatch.setenv("RECSYS_MODELS", "popularity,item_knn")
    monkeypatch.setenv("RECSYS_DEFAULT_MODEL", "popularity")
    monkeypatch.chdir(tmp_path)
    store = LocalArtifactStore(tmp_path / "artifacts")
    # The CLI runs its own event loop: keep it off this test's loop.
    first = await asyncio.to_thread(CliRunner().invoke, app, ["ensure-models"])
    assert first.exit_code == 0, first.output
    assert "popularity: trained" in first.output and "item_knn: trained" in first.output
    versions = {m: read_latest(store, m) for m in ("popularity", "item_knn")}
    again = await asyncio.to_thread(CliRunner().invoke, app, ["ensure-models"])
    assert again.exit_code == 0, again.output
    assert f"popularity: keeping {versions['popularity']}" in again.output
    assert "trained" not in again.output
    forced = await asyncio.to_thread(CliRunner().invoke, app, ["ensure-models", "--retrain"])
    assert forced.exit_code == 0 and forced.output.count(": trained") == 2
    assert read_latest(store, "item_knn") != versions["item_knn"]


async def test_ensure_models_retrains_what_was_trained_on_another_database(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    migrate: Callable[..., Awaitable[None]],
    tiny_dataset: TinyDataset,
    write_dataset: Callable[..., Path],
) -> None:
    # `make demo` on SQLite, then on another database, sharing ./artifacts: a LATEST trained on
    # other data must not serve the second one.
    other = write_dataset(
        tmp_path / "data" / "other", ratings=tiny_dataset.ratings[:-3], movies=tiny_dataset.movies
    )
    first_url = f"sqlite+aiosqlite:///{tmp_path / 'first.db'}"
    second_url = f"sqlite+aiosqlite:///{tmp_path / 'second.db'}"
    await migrate(
        first_url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
    )
    await migrate(second_url, "upgrade", "head", dataset="other", data_dir=other.parent)
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", f"file://{tmp_path / 'artifacts'}")
    monkeypatch.setenv("RECSYS_MODELS", "popularity")
    monkeypatch.setenv("RECSYS_DEFAULT_MODEL", "popularity")
    monkeypatch.chdir(tmp_path)
    store = LocalArtifactStore(tmp_path / "artifacts")

    async def ensure(url: str) -> str:
        monkeypatch.setenv("RECSYS_DATABASE_URL", url)
        result = await asyncio.to_thread(CliRunner().invoke, app, ["ensure-models"])
        assert result.exit_code == 0, result.output
        return result.output

    assert "popularity: trained" in await ensure(first_url)
    trained_first = read_latest(store, "popularity")
    manifest = read_manifest(store, "popularity", trained_first)
    # With no events, the interactions read are the seed's: the two fingerprints agree.
    assert manifest.training["database"] == manifest.data["fingerprint"]
    assert f"popularity: keeping {trained_first}" in await ensure(first_url)

    switched = await ensure(second_url)
    assert (
        f"popularity: LATEST {trained_first} was trained on other data (fingerprint "
        f"{manifest.data['fingerprint'][:19]}, database sha256:" in switched
    )
    assert "): retraining" in switched and "popularity: trained" in switched
    trained_second = read_latest(store, "popularity")
    assert trained_second != trained_first

    # Events added since the training do not make it stale: it was trained on this database.
    engine = create_engine(second_url)
    try:
        async with create_session_factory(engine)() as session:
            await EventRepository(session).add_many(
                [NewEvent(1, 2, "watch", None, datetime(2026, 1, 1, tzinfo=UTC))]
            )
            await session.commit()
    finally:
        await engine.dispose()
    assert f"popularity: keeping {trained_second}" in await ensure(second_url)


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({}, ["serve", "--reload", "--workers", "2"], "--reload runs one process"),
        ({"RECSYS_MODELS": "als,bpr2"}, ["serve"], "unknown model type(s) bpr2"),
        ({"RECSYS_DEFAULT_MODEL": "svd9"}, ["serve"], "RECSYS_DEFAULT_MODEL"),
    ],
)
def test_serve_refuses_bad_options_before_starting(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("RECSYS_MODELS", "RECSYS_DEFAULT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
