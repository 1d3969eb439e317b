"""``recsys tune --train-final``: tune on dataset files, then train on the database's ratings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from recsys.cli import app
from recsys.data.synth import generate
from recsys.data.writer import write_dataset
from recsys.modeling.artifacts import LocalArtifactStore, read_latest, read_manifest

if TYPE_CHECKING:
    from tests.support.datasets import TinyDataset


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_dataset(generate(users=300, items=200, interactions=6000, seed=1), tmp_path / "synth")
    return tmp_path


def test_the_best_parameters_are_trained_on_the_database(
    migrated_db: str,
    tiny_dataset: TinyDataset,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECSYS_DATABASE_URL", migrated_db)
    store_dir = tmp_path / "artifacts"
    out = tmp_path / "cooccurrence.json"
    argv = ["tune", "-m", "cooccurrence", "-n", "3", "--dataset", "synth"]
    argv += ["--data-dir", str(data_dir), "--out", str(out), "--train-final"]
    argv += ["--artifact-uri", f"file://{store_dir}"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.stdout + result.stderr
    best = json.loads(out.read_text())["best"]["params"]
    store = LocalArtifactStore(store_dir)
    manifest = read_manifest(store, "cooccurrence", read_latest(store, "cooccurrence"))
    assert manifest.params == best
    # Trained on the database (the tiny dataset), not on the synthetic files it was tuned on.
    ratings = tiny_dataset.ratings
    assert manifest.data["n_users"] == len({r.user_id for r in ratings})
    assert manifest.data["n_items"] == len({r.movie_id for r in ratings})
    assert f"on {len(ratings)} ratings from the database" in result.stdout


def test_an_unreachable_database_is_one_line(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECSYS_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    argv = ["tune", "-m", "ease", "-n", "1", "--dataset", "synth", "--data-dir", str(data_dir)]
    argv += ["--train-final", "--artifact-uri", f"file://{tmp_path / 'artifacts'}"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1
    assert "cannot reach the database" in result.stderr and "Traceback" not in result.stderr
