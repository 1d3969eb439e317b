"""The API on the embedded SQLite default (what `make demo` serves without RECSYS_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

from recsys.api import create_app
from recsys.cli import app
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore, read_latest
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS, Settings

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

if TYPE_CHECKING:
    from conftest import TinyDataset


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
            assert [m["id"] for m in response.json()["movies"]] == [2], response.text
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
