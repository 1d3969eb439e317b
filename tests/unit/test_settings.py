"""Settings: the embedded defaults, the RECSYS_ prefix, and refusing a sync driver."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from recsys.settings import DEFAULT_DATABASE_URL, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "DATA_DIR", "DATASET", "ARTIFACT_URI", "LOG_LEVEL"):
        monkeypatch.delenv(f"RECSYS_{name}", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file is read


def test_defaults_are_the_embedded_zero_setup_ones(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.is_sqlite
    assert settings.data_dir == Path("data")
    assert settings.dataset == "ml-100k"
    assert settings.dataset_dir == Path("data/ml-100k")
    assert settings.artifact_uri == "file://" + str(tmp_path / "artifacts")
    assert settings.log_level == "INFO"


def test_environment_overrides_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/x")
    monkeypatch.setenv("RECSYS_DATASET", "ml-1m")
    monkeypatch.setenv("RECSYS_ARTIFACT_URI", "gs://bucket/prefix")
    settings = Settings()
    assert not settings.is_sqlite
    assert settings.dataset == "ml-1m"
    assert settings.artifact_uri == "gs://bucket/prefix"


@pytest.mark.parametrize("url", ["postgresql://postgres@localhost/x", "sqlite:///x.db"])
def test_sync_driver_urls_are_refused_with_a_hint(url: str) -> None:
    with pytest.raises(ValidationError, match=r"async driver"):
        Settings(database_url=url)


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RECSYS_DATASET=ml-latest-small\n")
    assert Settings().dataset == "ml-latest-small"


def test_bad_log_level_is_refused() -> None:
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="LOUD")
