"""A CLI parameter that is not one of the allowed values is one line and exit 2, never a
traceback, and is refused before it reaches the artifact store (model types and versions
become folder names there: ``recsys models promote V -m ../../etc`` once raised a raw
``ValueError`` from the store's key check)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys.cli import app

CHOICES = "choose one of als, bpr, cooccurrence, ease, item_knn, popularity, random,"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The artifact store, inside the data directory (both must stay empty)."""
    folder = tmp_path / "data" / "artifacts"
    folder.mkdir(parents=True)
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", f"file://{folder}")
    monkeypatch.setenv("RECSYS_DATA_DIR", str(folder.parent))
    # Nothing here needs a database: the checks come before any is opened.
    monkeypatch.setenv("RECSYS_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["models", "promote", "V", "-m", "../../etc"],
            f"error: --model-type: unknown model type '../../etc'; {CHOICES}",
        ),
        (
            ["models", "list", "--model-type", "../x"],
            f"error: --model-type: unknown model type '../x'; {CHOICES}",
        ),
        (
            ["models", "promote", "../../etc", "-m", "popularity"],
            "error: VERSION: '../../etc' is not a version id (e.g. 20261123T121314.123456Z-",
        ),
        (
            ["predict", "1", "-m", "popularity", "--version", "../../etc"],
            "error: --version: '../../etc' is not a version id",
        ),
        (["predict", "1", "-m", "/etc"], "error: --model-type: unknown model type '/etc'"),
        (["train", "-m", "als/../../x"], "error: --model-type: unknown model type 'als/../../x'"),
        (
            ["train", "--weighting", "../x"],
            "error: --weighting: '../x' is not one of binary, rating, threshold, confidence, bm25",
        ),
        (
            ["data", "synth", "--name", "../outside", "--force"],
            "error: --name: '../outside' is not a folder name: 1-128 letters, digits,",
        ),
        (["data", "synth", "--name", "/tmp/x"], "error: --name: '/tmp/x' is not a folder name"),
        (["data", "synth", "--name", ".."], "error: --name: '..' is not a folder name"),
    ],
)
def test_a_bad_parameter_is_one_line_and_exit_2(store: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.output
    assert list(store.iterdir()) == []  # refused before the store was touched
    assert [p.name for p in store.parent.parent.iterdir()] == ["data"]  # nothing beside it
    assert [p.name for p in store.parent.iterdir()] == ["artifacts"]


def test_a_folder_name_is_written_under_the_data_directory(store: Path) -> None:
    args = ["data", "synth", "--name", "small-1.v2", "--users", "20", "--items", "10"]
    result = CliRunner().invoke(app, [*args, "--interactions", "60"])
    assert result.exit_code == 0, result.output
    assert (store.parent / "small-1.v2").is_dir()


def test_a_valid_model_type_and_version_reach_the_store(store: Path) -> None:
    # The same command with allowed values gets past the checks: the store says what is missing.
    result = CliRunner().invoke(
        app, ["models", "promote", "20261123T121314.123456Z-1a2b3c", "-m", "popularity"]
    )
    assert result.exit_code == 1
    assert "20261123T121314.123456Z-1a2b3c" in result.stderr
    assert "is not a version id" not in result.stderr
