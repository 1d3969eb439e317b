"""Runtime configuration: one pydantic-settings class, environment prefix ``RECSYS_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

# The zero-setup default is an embedded SQLite file, as MLflow and Airflow do; production and the
# test suite point RECSYS_DATABASE_URL at PostgreSQL (postgresql+asyncpg://...).
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/recsys.db"


class Settings(BaseSettings):
    """Everything recsys reads from the environment (or a local ``.env`` file)."""

    model_config = SettingsConfigDict(
        env_prefix="RECSYS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    data_dir: Path = Field(default=Path("./data"), description="Where datasets are fetched to.")
    dataset: str = Field(
        default="ml-100k",
        description="Dataset the seed migration loads: a name under DATA_DIR, or 'none'.",
    )
    artifact_uri: str = Field(
        default_factory=lambda: "file://" + str(Path("./artifacts").resolve()),
        description="Model artifact store: file:///abs/path or gs://bucket/prefix.",
    )
    log_level: LogLevel = "INFO"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "RECSYS_DATABASE_URL must name the async driver: postgresql+asyncpg://..."
            )
        if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite://"):
            raise ValueError(
                "RECSYS_DATABASE_URL must name the async driver: sqlite+aiosqlite://..."
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def dataset_dir(self) -> Path:
        """Folder that holds the configured dataset's files."""
        return self.data_dir / self.dataset


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process (tests build their own ``Settings`` instead)."""
    return Settings()
