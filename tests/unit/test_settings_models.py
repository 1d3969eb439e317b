"""Settings of the API: RECSYS_MODELS (comma-separated) and RECSYS_DEFAULT_MODEL."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from recsys.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("MODELS", "DEFAULT_MODEL"):
        monkeypatch.delenv(f"RECSYS_{name}", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file is read


def test_defaults_serve_three_models_and_answer_with_als() -> None:
    settings = Settings()
    assert settings.models == ("als", "item_knn", "popularity")
    assert settings.default_model == "als"


def test_models_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MODELS", " item_knn, popularity ,")
    monkeypatch.setenv("RECSYS_DEFAULT_MODEL", "item_knn")
    settings = Settings()
    assert settings.models == ("item_knn", "popularity")
    assert settings.default_model == "item_knn"


@pytest.mark.parametrize(
    ("models", "default", "message"),
    [
        ("", "als", "at least one model type"),
        ("als,als", "als", "lists a model type twice"),
        ("als,Item-KNN", "als", "'Item-KNN' is not a model type name"),
        ("item_knn,popularity", "als", "RECSYS_DEFAULT_MODEL='als' is not in RECSYS_MODELS"),
    ],
)
def test_bad_model_settings_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, models: str, default: str, message: str
) -> None:
    monkeypatch.setenv("RECSYS_MODELS", models)
    monkeypatch.setenv("RECSYS_DEFAULT_MODEL", default)
    with pytest.raises(ValidationError, match=message):
        Settings()
