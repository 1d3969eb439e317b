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
    folder = tmp_path / "artifacts"
    folder.mkdir()
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", f"file://{folder}")
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


def test_a_valid_model_type_and_version_reach_the_store(store: Path) -> None:
    # The same command with allowed values gets past the checks: the store says what is missing.
    result = CliRunner().invoke(
        app, ["models", "promote", "20261123T121314.123456Z-1a2b3c", "-m", "popularity"]
    )
    assert result.exit_code == 1
    assert "20261123T121314.123456Z-1a2b3c" in result.stderr
    assert "is not a version id" not in result.stderr
