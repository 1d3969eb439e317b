"""Training jobs and predictions end to end: PostgreSQL -> models -> artifact store -> titles.

Real MovieLens 100K seeded by the migrations, real artifact stores (a local folder and the GCS
emulator), and the CLI exactly as a person types it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from google.cloud import storage
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from recsys.cli import app
from recsys.db.repositories import RatingRepository
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore, list_versions, load_model, read_latest
from recsys.service.errors import (
    FallbackUnavailableError,
    NoInteractionsError,
    UnknownModelError,
    UnknownUserError,
)
from recsys.service.recommend import RecommenderService
from recsys.service.registry import LoadedModel
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

pytestmark = pytest.mark.realdata
FAST_ALS = {"factors": 32, "iterations": 5}


@pytest.fixture(scope="module")
async def trained_store(
    tmp_path_factory: pytest.TempPathFactory, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> LocalArtifactStore:
    store = LocalArtifactStore(tmp_path_factory.mktemp("artifacts"))
    for model_type, params in (("als", FAST_ALS), ("item_knn", {}), ("popularity", {})):
        await train(
            ml100k_sessions, weights=WEIGHTS, model_type=model_type, store=store, params=params
        )
    return store


def service_for(store: LocalArtifactStore, *model_types: str) -> RecommenderService:
    loaded = {}
    for model_type in model_types:
        model, manifest = load_model(store, model_type)
        loaded[model_type] = LoadedModel(model, manifest.version)
    return RecommenderService(loaded, weights=WEIGHTS)


async def rated_by(sessions: async_sessionmaker[AsyncSession], user_id: int) -> set[int]:
    async with sessions() as session:
        return {r.movie_id for r in await RatingRepository(session).history(user_id)}


@pytest.mark.parametrize("model_type", ["als", "item_knn"])
async def test_user_1_gets_ten_titled_movies_they_have_not_rated(
    trained_store: LocalArtifactStore,
    ml100k_sessions: async_sessionmaker[AsyncSession],
    model_type: str,
) -> None:
    service = service_for(trained_store, model_type, "popularity")
    async with ml100k_sessions() as session:
        result = await service.recommend(session, 1, model_type=model_type, k=10)
    rated = await rated_by(ml100k_sessions, 1)
    assert len(rated) == 272  # user 1's ML-100K history
    assert result.model == model_type and not result.fallback
    assert len(result.movies) == 10
    ids = [m.id for m in result.movies]
    assert len(set(ids)) == 10 and not set(ids) & rated
    assert all(m.title and m.genres for m in result.movies)
    scores = [m.score for m in result.movies]
    assert scores == sorted(scores, reverse=True)


async def test_training_reads_every_rating_and_records_the_data(
    trained_store: LocalArtifactStore,
) -> None:
    model, manifest = load_model(trained_store, "als")
    assert manifest.data["n_interactions"] == 100_000
    assert (model.n_users, model.n_items) == (943, 1682)
    assert manifest.params["factors"] == 32
    assert manifest.data["fingerprint"].startswith("sha256:")
    assert manifest.training["fit_seconds"] > 0


async def test_a_rating_added_after_training_is_excluded(
    trained_store: LocalArtifactStore, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    service = service_for(trained_store, "als")
    async with ml100k_sessions() as session:
        first = (await service.recommend(session, 2, model_type="als", k=1)).movies[0].id
        await session.execute(
            text("INSERT INTO ratings VALUES (2, :movie, 5, now())"), {"movie": first}
        )
        after = await service.recommend(session, 2, model_type="als", k=10)
        await session.rollback()
    assert first not in {m.id for m in after.movies}


async def test_a_user_without_history_gets_the_popularity_fallback(
    trained_store: LocalArtifactStore, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    with_fallback = service_for(trained_store, "als", "popularity")
    without = service_for(trained_store, "als")
    async with ml100k_sessions() as session:
        await session.execute(text("INSERT INTO users (id) VALUES (5000)"))
        result = await with_fallback.recommend(session, 5000, model_type="als", k=5)
        with pytest.raises(FallbackUnavailableError, match="model_type=popularity"):
            await without.recommend(session, 5000, model_type="als", k=5)
        await session.rollback()
    assert result.fallback and result.model == "popularity"
    # Star Wars (50) is ML-100K's most rated movie.
    assert result.movies[0].id == 50


async def test_unknown_user_and_model_are_refused(
    trained_store: LocalArtifactStore, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    service = service_for(trained_store, "als")
    async with ml100k_sessions() as session:
        with pytest.raises(UnknownUserError, match="user 99999 does not exist"):
            await service.recommend(session, 99999, model_type="als", k=5)
        with pytest.raises(UnknownModelError, match="loaded models: als"):
            await service.recommend(session, 1, model_type="bpr", k=5)


# -- the CLI, as a person runs it -----------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, ml100k_url: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("RECSYS_DATABASE_URL", ml100k_url)
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", f"file://{tmp_path}/artifacts")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "artifacts"


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def table_rows(output: str) -> list[str]:
    # Data rows of the rich table start with "│ <rank> │".
    return [line for line in output.splitlines() if re.match(r"^│\s+\d+\s+│", line)]


def test_cli_train_then_predict_prints_ten_titled_movies(cli_env: Path) -> None:
    code, out = run_cli("train", "--model-type", "als", "-p", "factors=16", "-p", "iterations=3")
    assert code == 0, out
    assert "100,000" in out and "943 x 1,682" in out
    assert list_versions(LocalArtifactStore(cli_env), "als")
    code, out = run_cli("predict", "1", "--model-type", "als", "-k", "10")
    assert code == 0, out
    assert len(table_rows(out)) == 10


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("predict", "1", "--model-type", "als"), 1, "make train-cli model_type=als"),
        # A value that is not one of those allowed is a usage error: exit 2, naming the option.
        (("predict", "1", "--model-type", "nope"), 2, "--model-type: unknown model type 'nope'"),
        (("train", "--model-type", "nope"), 2, "--model-type: unknown model type 'nope'"),
        (("train", "-p", "factors=0"), 1, "als.factors must be an integer in [1, 4096]"),
        (("train", "-p", "factors"), 1, "--param takes KEY=VALUE"),
        # A model refusing the data's size: one line too (ML-100K has 1,682 movies).
        (("train", "-m", "ease", "-p", "max_items=1000"), 1, "exceed ease.max_items = 1,000"),
    ],
)
def test_cli_errors_are_one_clear_line(
    cli_env: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    exit_code, out = run_cli(*args)
    assert exit_code == code
    assert message in out
    assert "Traceback" not in out


def test_cli_predict_unknown_user(cli_env: Path) -> None:
    assert run_cli("train", "-m", "popularity")[0] == 0
    code, out = run_cli("predict", "424242", "-m", "popularity")
    assert code == 1 and "user 424242 does not exist" in out


def test_cli_models_list_and_promote_roll_back_safely(cli_env: Path) -> None:
    for _ in range(2):
        assert run_cli("train", "-m", "popularity")[0] == 0
    store = LocalArtifactStore(cli_env)
    older, newer = list_versions(store, "popularity")
    code, out = run_cli("models", "list", "-m", "popularity")
    assert code == 0, out
    assert re.search(rf"{newer}.*LATEST", out) and not re.search(rf"{older}.*LATEST", out)

    code, out = run_cli("models", "promote", older, "-m", "popularity")
    assert code == 0 and older in out
    assert read_latest(store, "popularity") == older
    code, out = run_cli("predict", "1", "-m", "popularity", "-k", "3")
    assert code == 0 and older in out

    # A damaged version is refused and LATEST stays where it was.
    counts = cli_env / "popularity" / newer / "popularity.npz"
    counts.write_bytes(counts.read_bytes()[:-10])
    code, out = run_cli("models", "promote", newer, "-m", "popularity")
    assert code == 1 and "truncated" in out
    assert read_latest(store, "popularity") == older


def test_cli_train_and_predict_through_the_gcs_emulator(
    cli_env: Path, gcs_client: storage.Client
) -> None:
    bucket = f"recsys-{uuid.uuid4().hex[:8]}"
    gcs_client.create_bucket(bucket)
    code, out = run_cli("train", "-m", "item_knn", "--bucket-name", bucket)
    assert code == 0, out
    names = [blob.name for blob in gcs_client.list_blobs(bucket)]
    assert "item_knn/LATEST" in names
    assert any(name.endswith("/manifest.json") for name in names)
    code, out = run_cli("predict", "1", "-m", "item_knn", "-k", "5", "--bucket-name", bucket)
    assert code == 0, out
    assert len(table_rows(out)) == 5
    assert not cli_env.exists()  # nothing went to the local store


async def test_nothing_to_train_on(
    tmp_path: Path, pg_url: str, migrate: Callable[..., Awaitable[None]]
) -> None:
    await migrate(pg_url, "upgrade", "head", dataset="none", data_dir=tmp_path)
    engine = create_engine(pg_url)
    try:
        with pytest.raises(NoInteractionsError, match="seed a dataset first"):
            await train(
                create_session_factory(engine),
                model_type="popularity",
                store=LocalArtifactStore(tmp_path / "artifacts"),
                weights=WEIGHTS,
            )
    finally:
        await engine.dispose()


async def test_oversize_is_refused_before_the_interactions_are_read(
    tmp_path: Path, ml100k_sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The catalogue's size comes from one count query: no stage ran, so nothing was read.
    stages: list[str] = []
    with pytest.raises(ValueError, match=r"^ease: 1,682 items exceed ease\.max_items = 1,000;"):
        await train(
            ml100k_sessions,
            weights=WEIGHTS,
            model_type="ease",
            params={"max_items": 1000},
            store=LocalArtifactStore(tmp_path / "artifacts"),
            stage=stages.append,
        )
    assert stages == []
    assert not (tmp_path / "artifacts").exists()
