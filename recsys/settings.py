"""Runtime configuration: one pydantic-settings class, environment prefix ``RECSYS_``."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["text", "json"]

# The zero-setup default is an embedded SQLite file, as MLflow and Airflow do; production and the
# test suite point RECSYS_DATABASE_URL at PostgreSQL (postgresql+asyncpg://...).
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/recsys.db"
DEFAULT_MODELS = ("als", "item_knn", "popularity")
# The video seed's interaction weights; a "rating" event weighs its value instead.
# ``dislike`` is negative feedback: -5 outweighs a watch and a like together (1 + 2) and any
# rating up to 4.5, so a disliked movie's interaction ends below zero in nearly every history.
DEFAULT_EVENT_WEIGHTS = {"watch": 1.0, "like": 2.0, "complete": 3.0, "dislike": -5.0}
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


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
    reports_dir: Path = Field(
        default=Path("./reports"),
        description="Where `recsys evaluate` reports are: the models page shows the latest one "
        "of RECSYS_DATASET.",
    )
    log_level: LogLevel = "INFO"
    log_format: LogFormat = Field(
        default="text",
        description="`recsys serve`'s log lines: text (one readable line each) or json (one JSON "
        "object a line, for log collectors; the container's default).",
    )
    # NoDecode: the environment gives a comma-separated list (als,item_knn), not JSON.
    models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_MODELS,
        description="Model types the API loads at startup (LATEST of each), comma-separated.",
    )
    default_model: str = Field(
        default="als", description="Model the API answers with when a request names none."
    )
    db_pool_size: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="API database connections per worker: at least the concurrent requests "
        "one worker serves (fewer makes requests queue for a connection).",
    )
    db_pool_pre_ping: bool = Field(
        default=False,
        description="Test each pooled connection before use: survives a database restart "
        "without one failed request, at the cost of a round trip per request.",
    )

    db_connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="API: give up opening a database connection, or waiting for a free pooled "
        "one, after this long (the request answers 503).",
    )
    db_statement_timeout_ms: int = Field(
        default=5000,
        ge=1,
        le=3_600_000,
        description="API: a query that takes longer is cancelled and the request answers 503 "
        "(PostgreSQL's statement_timeout, and the driver's own bound for a frozen database).",
    )

    history_cache: Literal["warm", "lazy", "off"] = Field(
        default="warm",
        description="PostgreSQL only: keep users' histories in memory, kept current by "
        "NOTIFY (migration 0004). warm loads them all at startup, lazy as users arrive, off "
        "queries the database per request.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Worker processes of `recsys serve` (default: one per CPU the process may "
        "use, container CPU limits included).",
    )

    api_write_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the write routes (POST /events, POST/PUT/DELETE /movies, "
        "/admin/reload); "
        "unset turns them off (they answer 403 and say so).",
    )
    event_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS),
        description='Event type -> interaction weight, as JSON ({"watch": 1, "like": 2, '
        "\"dislike\": -5}); a negative weight is negative feedback; a 'rating' event always "
        "weighs its value.",
    )
    event_future_tolerance_seconds: float = Field(
        default=300.0,
        ge=0.0,
        le=86_400.0,
        description="How far in the future an event's occurred_at may be (clock skew).",
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1,
        description="Largest request body accepted on any route; a bigger one is a 413 "
        "(1,000 events of the longest ids and keys allowed are under 1 MiB of JSON).",
    )
    explore_share: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Share of each answer's k slots given to new movies (in the catalogue, "
        "unseen by the model), marked 'new in the catalogue'; rounded half up (0.1 of 10 is "
        "1 slot); 0 turns it off.",
    )
    catalog_poll_seconds: float = Field(
        default=2.0,
        ge=0.0,
        le=3_600.0,
        description="How often each API worker checks the catalogue version and reloads the "
        "catalogue after a write elsewhere (the bound on how stale a worker can be); 0: never "
        "(only its own writes).",
    )
    reload_poll_seconds: float = Field(
        default=0.0,
        ge=0.0,
        le=86_400.0,
        description="Check the artifact store's LATEST every N seconds and hot-reload new "
        "versions; 0 turns polling off (POST /admin/reload still works).",
    )
    spark_master: str = Field(
        default="local[*]",
        min_length=1,
        description="`recsys train --engine spark`: the Spark master (local[*], local[2], "
        "k8s://https://HOST:PORT, spark://HOST:7077, yarn).",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="`recsys train --engine spark`: extra Spark settings as JSON, e.g. "
        '{"spark.driver.memory": "4g", "spark.executor.instances": "4"}; --spark-conf adds more.',
    )

    @field_validator("spark_conf")
    @classmethod
    def _spark_conf(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key.startswith("spark."):
                raise ValueError(f"RECSYS_SPARK_CONF: {key!r} is not a Spark setting (spark.*)")
        return value

    @field_validator("api_write_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None  # RECSYS_API_WRITE_TOKEN= (empty) means "no token": writes are off
        return value

    @field_validator("event_weights")
    @classmethod
    def _event_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not _MODEL_NAME.match(name):
                raise ValueError(f"RECSYS_EVENT_WEIGHTS: {name!r} is not an event type name")
            if name == "rating":
                raise ValueError("RECSYS_EVENT_WEIGHTS: 'rating' weighs its value; drop it")
            if not (-1e6 < weight < 1e6) or weight == 0.0:
                raise ValueError(
                    f"RECSYS_EVENT_WEIGHTS: {name} weight must be in (-1e6, 1e6) and not 0 "
                    f"(negative: negative feedback, as dislike), got {weight}"
                )
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Only the shape is checked here: the model registry (and its heavy imports) is the
        # API's business, and create_app names the unknown type against it.
        if not value:
            raise ValueError("RECSYS_MODELS must name at least one model type")
        bad = [name for name in value if not _MODEL_NAME.match(name)]
        if bad:
            raise ValueError(f"RECSYS_MODELS: {', '.join(map(repr, bad))} is not a model type name")
        if len(set(value)) != len(value):
            raise ValueError(f"RECSYS_MODELS lists a model type twice: {','.join(value)}")
        return value

    @model_validator(mode="after")
    def _default_model_is_served(self) -> Self:
        if self.default_model not in self.models:
            raise ValueError(
                f"RECSYS_DEFAULT_MODEL={self.default_model!r} is not in "
                f"RECSYS_MODELS={','.join(self.models)}"
            )
        return self

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
