"""Shared fixtures: throwaway PostgreSQL databases built by the Alembic migrations.

- ``tiny_dataset``: a small CSV-layout dataset on disk with known answers (``TINY``).
- ``pg_url``: a fresh, empty PostgreSQL database for one test (dropped at session end).
- ``migrated_db``: one database for the session, upgraded to head with ``tiny_dataset`` seeded.
- ``db_engine`` / ``session_factory``: engine and sessions on ``migrated_db``.
- ``session``: an ``AsyncSession`` inside an outer transaction rolled back after the test.
- ``migrate``: run an Alembic command against a URL (in a worker thread, as the CLI would).

PostgreSQL comes from ``TEST_DATABASE_URL`` (default: local trust auth). When it is unreachable
the PostgreSQL tests are skipped, except under CI (``CI`` set), where that is an error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recsys.db.session import create_engine, create_session_factory
from tests.support.databases import DEFAULT_TEST_DATABASE_URL, Migrate, asyncpg_dsn, run_alembic
from tests.support.datasets import (
    TINY_MOVIES,
    TINY_RATINGS,
    TinyDataset,
    WriteDataset,
    data_root,
    write_csv_dataset,
)
from tests.support.network import free_port
from tests.support.torch import TORCH_MODEL_TYPES, torch_hint

# --------------------------------------------------------------------------- optional torch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests parametrised with a torch-trained model type skip when torch is missing (locally
    only: under CI they run and fail, since .ci/run installs it)."""
    del config
    hint = torch_hint()
    if hint is None or os.environ.get("CI"):
        return
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(isinstance(v, str) and v in TORCH_MODEL_TYPES for v in params.values()):
            item.add_marker(pytest.mark.skip(reason=hint))


# --------------------------------------------------------------------------- tiny dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> TinyDataset:
    """The tiny CSV-layout dataset written once per session, with its known answers."""
    data_dir = tmp_path_factory.mktemp("data")
    write_csv_dataset(data_dir / "tiny", ratings=TINY_RATINGS, movies=TINY_MOVIES)
    return TinyDataset(data_dir=data_dir, name="tiny", movies=TINY_MOVIES, ratings=TINY_RATINGS)


@pytest.fixture(scope="session")
def write_dataset() -> WriteDataset:
    """``write_dataset(folder, ratings=[...], movies=[...])``: see ``write_csv_dataset``."""
    return write_csv_dataset


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """The offline MovieLens 100K (``make test-data``); skips when absent (fails under CI)."""
    folder = data_root() / "ml-100k"
    if not folder.is_dir() or not any(folder.iterdir()):
        message = f"MovieLens 100K not found at {folder}: run `make test-data`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """URL of a PostgreSQL database where throwaway databases can be created."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@pytest.fixture(scope="session")
async def _pg_databases(pg_admin_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    dsn = asyncpg_dsn(pg_admin_url)
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {make_url(pg_admin_url)!r} unreachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    created: list[str] = []

    async def create() -> str:
        name = f"recsys_test_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)

    try:
        yield create
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def pg_url(_pg_databases: Callable[[], Awaitable[str]]) -> str:
    """A fresh, empty PostgreSQL database for this test (dropped at the end of the session)."""
    return await _pg_databases()


@pytest.fixture(scope="session")
def migrate() -> Migrate:
    """``await migrate(url, "upgrade", "head", dataset=..., data_dir=...)``."""
    return run_alembic


@pytest.fixture(scope="session")
async def migrated_db(
    _pg_databases: Callable[[], Awaitable[str]], tiny_dataset: TinyDataset
) -> str:
    """URL of a session-wide database at head, seeded with ``tiny_dataset``."""
    url = await _pg_databases()
    await run_alembic(
        url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
    )
    return url


@pytest.fixture(scope="module")
async def module_tiny_db(
    _pg_databases: Callable[[], Awaitable[str]], tiny_dataset: TinyDataset
) -> str:
    """URL of a database at head seeded with ``tiny_dataset``, for one test module alone
    (modules that write to it or cut its connections)."""
    url = await _pg_databases()
    await run_alembic(
        url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
    )
    return url


@pytest.fixture(scope="session")
async def tiny_sqlite_url(
    tmp_path_factory: pytest.TempPathFactory, tiny_dataset: TinyDataset
) -> str:
    """URL of a session-wide SQLite database at head, seeded with ``tiny_dataset``."""
    path = tmp_path_factory.mktemp("tiny-sqlite") / "recsys.db"
    url = f"sqlite+aiosqlite:///{path}"
    await run_alembic(
        url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir
    )
    return url


@pytest.fixture
async def sqlite_db(tiny_sqlite_url: str) -> AsyncIterator[AsyncSession]:
    """A session on ``tiny_sqlite_url``; its work is rolled back at the end (never committed)."""
    engine = create_engine(tiny_sqlite_url)
    try:
        async with create_session_factory(engine)() as session:
            yield session
            await session.rollback()
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def db_engine(migrated_db: str) -> AsyncIterator[AsyncEngine]:
    """Engine on ``migrated_db``."""
    engine = create_engine(migrated_db)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(db_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work (commits included) is rolled back after the test."""
    async with db_engine.connect() as connection:
        transaction = await connection.begin()
        # Commits inside the test release a SAVEPOINT; the outer transaction is never committed.
        factory = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        async with factory() as db_session:
            yield db_session
        await transaction.rollback()


@pytest.fixture
def session_factory(db_engine: AsyncEngine) -> Iterator[async_sessionmaker[AsyncSession]]:
    """Sessions on ``migrated_db`` that really commit: clean up what you write."""
    yield async_sessionmaker(db_engine, expire_on_commit=False)


# --------------------------------------------------------------------------- GCS emulator

GCS_TEST_BUCKET = "recsys-test"


@pytest.fixture(scope="session")
def gcs_client() -> Iterator[storage.Client]:
    """A real google-cloud-storage client talking to an in-memory gcp-storage-emulator.

    ``STORAGE_EMULATOR_HOST`` is set for the whole session, so code that builds its own
    ``storage.Client()`` (``open_store("gs://...")``, the CLI) reaches the emulator too.
    """
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
            client = storage.Client(project="recsys-test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
            client.create_bucket(GCS_TEST_BUCKET)
            yield client
    finally:
        server.stop()
