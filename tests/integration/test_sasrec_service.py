"""``sasrec`` through the product: recsys train on PostgreSQL, predict, predict --all, the GCS
emulator and the HTTP API, as every other model type (the tiny seeded dataset; small params)."""

from __future__ import annotations

import asyncio
import csv
import uuid
from pathlib import Path

import pytest
from google.cloud import storage
from typer.testing import CliRunner

from recsys.cli import app
from recsys.modeling.artifacts import LocalArtifactStore, load_model
from recsys.modeling.base import History
from recsys.settings import Settings
from tests.integration.served import serve
from tests.support.datasets import TinyDataset
from tests.support.torch import require_torch

SMALL = ("-p", "hidden=16", "-p", "max_len=8", "-p", "max_epochs=5", "-p", "validation_share=0")


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, migrated_db: str, tmp_path: Path) -> Path:
    require_torch()
    monkeypatch.setenv("RECSYS_DATABASE_URL", migrated_db)
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", f"file://{tmp_path}/artifacts")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "artifacts"


def test_train_then_predict_all_answers_what_the_loaded_model_answers(
    cli_env: Path, tmp_path: Path, tiny_dataset: TinyDataset
) -> None:
    code, out = run_cli("train", "-m", "sasrec", *SMALL)
    assert code == 0, out
    out_csv = tmp_path / "recs.csv"
    code, out = run_cli("predict", "--all", "-m", "sasrec", "-k", "2", "--out", str(out_csv))
    assert code == 0, out
    with out_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    model, manifest = load_model(LocalArtifactStore(cli_env), "sasrec")
    assert manifest.params["hidden"] == 16 and manifest.params["max_epochs"] == 5
    for user in tiny_dataset.user_ids:
        rated = [r for r in tiny_dataset.ratings if r.user_id == user]
        history = History.of(
            [r.movie_id for r in rated], [r.rating for r in rated], [r.timestamp for r in rated]
        )
        ids, _ = model.recommend(user, history=history, k=2)
        written = [int(r["movie_id"]) for r in rows if int(r["user_id"]) == user]
        assert written == ids.tolist()
        assert not {r.movie_id for r in rated} & set(written)


def test_bad_parameter_is_one_line_naming_it(cli_env: Path) -> None:
    code, out = run_cli("train", "-m", "sasrec", "-p", "heads=3")
    assert code != 0
    assert "sasrec.heads must divide sasrec.hidden (64), got 3" in " ".join(out.split())


def test_train_and_predict_through_the_gcs_emulator(
    cli_env: Path, gcs_client: storage.Client
) -> None:
    bucket = f"recsys-{uuid.uuid4().hex[:8]}"
    gcs_client.create_bucket(bucket)
    code, out = run_cli("train", "-m", "sasrec", *SMALL, "--bucket-name", bucket)
    assert code == 0, out
    names = [blob.name for blob in gcs_client.list_blobs(bucket)]
    assert "sasrec/LATEST" in names and any(n.endswith("/sasrec.npz") for n in names)
    code, out = run_cli("predict", "1", "-m", "sasrec", "-k", "1", "--bucket-name", bucket)
    assert code == 0, out
    assert "Jumanji" in out  # user 1 rated 1, 3, 5, 7; of the rated-by-someone movies, 2 is left
    assert not cli_env.exists()


async def test_the_api_serves_it(cli_env: Path, migrated_db: str) -> None:
    # The CLI runs its own event loop: from this async test, in a worker thread.
    for model_type in ("sasrec", "popularity"):
        extra = SMALL if model_type == "sasrec" else ()
        code, out = await asyncio.to_thread(run_cli, "train", "-m", model_type, *extra)
        assert code == 0, out
    settings = Settings(
        database_url=migrated_db,
        artifact_uri=f"file://{cli_env}",
        models=("sasrec", "popularity"),
        default_model="sasrec",
    )
    async with serve(settings) as client:
        response = await client.get("/users/1/recommendations", params={"k": 1})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "sasrec" and body["fallback"] is False
        assert [m["id"] for m in body["movies"]] == [2]
        similar = await client.get("/movies/1/similar", params={"k": 2, "model": "sasrec"})
        assert similar.status_code == 200, similar.text
        assert 1 not in [m["id"] for m in similar.json()["movies"]]
