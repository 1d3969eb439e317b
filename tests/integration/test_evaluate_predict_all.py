"""``recsys predict --all``: every user's top-K from PostgreSQL into one CSV, as the CLI runs it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.cli import app
from recsys.modeling.artifacts import LocalArtifactStore, load_model
from recsys.modeling.base import History
from tests.support.datasets import TinyDataset


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, migrated_db: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("RECSYS_DATABASE_URL", migrated_db)
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", f"file://{tmp_path}/artifacts")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "artifacts"


def test_predict_all_writes_what_predict_answers_per_user(
    cli_env: Path, tmp_path: Path, tiny_dataset: TinyDataset
) -> None:
    for model_type in ("item_knn", "popularity"):
        assert run_cli("train", "-m", model_type)[0] == 0
    out = tmp_path / "out" / "recs.csv"
    code, stdout, stderr = run_cli(
        "predict", "--all", "-m", "item_knn", "-k", "3", "--out", str(out)
    )
    assert code == 0, stdout + stderr
    assert f"for {len(tiny_dataset.user_ids)} users to {out}" in stdout
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["user_id", "movie_id", "rank", "score"]

    store = LocalArtifactStore(cli_env)
    knn, _ = load_model(store, "item_knn")
    popularity, _ = load_model(store, "popularity")
    for user in tiny_dataset.user_ids:
        rated = [r for r in tiny_dataset.ratings if r.user_id == user]
        history = History.of([r.movie_id for r in rated], [r.rating for r in rated])
        ids, _ = knn.recommend(user, history=history, k=3)
        if ids.shape[0] == 0:  # nothing item-kNN can use: the popularity fallback answers
            ids, _ = popularity.recommend(user, history=history, k=3)
        written = [r for r in rows if int(r["user_id"]) == user]
        assert [int(r["movie_id"]) for r in written] == ids.tolist()
        assert [int(r["rank"]) for r in written] == list(range(1, len(written) + 1))
        scores = [float(r["score"]) for r in written]
        assert scores == sorted(scores, reverse=True)
        assert not {r.movie_id for r in rated} & {int(r["movie_id"]) for r in written}
    assert np.unique([int(r["user_id"]) for r in rows]).tolist() == tiny_dataset.user_ids


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("predict",), "give a USER_ID, or --all --out FILE"),
        (("predict", "1", "--all", "--out", "x.csv"), "give a USER_ID or --all, not both"),
        (("predict", "--all"), "--all needs --out FILE"),
        (("predict", "1", "--out", "x.csv"), "--out goes with --all"),
        (("predict", "--all", "--out", "x.csv", "-m", "als"), "make train-cli model_type=als"),
    ],
)
def test_predict_arguments_are_checked(cli_env: Path, args: tuple[str, ...], message: str) -> None:
    code, stdout, stderr = run_cli(*args)
    assert code == 1
    assert message in stderr and "Traceback" not in stdout + stderr
    assert not Path("x.csv").exists()
