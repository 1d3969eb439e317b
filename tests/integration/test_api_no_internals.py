"""Answers say what is wrong in product words, never internals (issue 14, point 7), and a pod
starts on the newest earlier version when LATEST does not load (point 8).

The artifacts live in a folder whose path is known (``KNOWN``), the database sits behind a TCP
proxy the test controls (tests/support/proxy.py): no answer may carry that path, ``file://``,
the proxy's host or port, or the driver's text, while the log keeps the detail, once.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import storage
from sqlalchemy.engine import make_url

from recsys.modeling.artifacts import GCSArtifactStore, LocalArtifactStore, read_latest
from recsys.settings import Settings
from tests.integration.served import serve
from tests.support.proxy import TcpProxy
from tests.support.training import train_into

KNOWN = "srv-recsys-known-artifact-folder"
TOKEN = "internals-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Created by the session-wide gcs_client fixture (tests/conftest.py).
GCS_TEST_BUCKET = "recsys-test"
# What the driver, the OS and the store put in their messages; none of it belongs in a body.
DRIVER_WORDS = ("asyncpg", "Errno", "Connect call", "Multiple exceptions", "sqlalchemy", "file://")


@pytest.fixture(scope="module")
def db(module_tiny_db: str) -> str:
    return module_tiny_db


@pytest.fixture(scope="module")
async def trained(tmp_path_factory: pytest.TempPathFactory, db: str) -> Path:
    """Popularity, one good version."""
    return await train_into(db, tmp_path_factory.mktemp("trained") / "artifacts")


@pytest.fixture
def store_dir(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained artifacts under a known path this test may change."""
    return Path(shutil.copytree(trained, tmp_path / KNOWN / "artifacts"))


def settings_for(url: str, store_dir: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "database_url": url,
        "artifact_uri": f"file://{store_dir}",
        "models": ("popularity",),
        "default_model": "popularity",
        "history_cache": "off",
        "api_write_token": TOKEN,
        **overrides,
    }
    return Settings(**options)


def assert_no_internals(body: str, *more: str) -> None:
    for word in (KNOWN, *DRIVER_WORDS, *more):
        assert word not in body, (word, body)


def flip_a_byte(store_dir: Path, model_type: str, version: str) -> None:
    npz = sorted((store_dir / model_type / version).glob("*.npz"))[0]
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF  # same size: only the sha256 tells
    npz.write_bytes(bytes(data))


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


# -- the database unreachable ---------------------------------------------------------------


@pytest.fixture
async def proxy(db: str) -> AsyncIterator[TcpProxy]:
    url = make_url(db)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


async def test_readyz_with_the_database_unreachable_says_so_and_logs_the_detail_once(
    db: str, store_dir: Path, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    proxied = make_url(db).set(host="127.0.0.1", port=proxy.port)
    url = proxied.render_as_string(hide_password=False)
    caplog.set_level(logging.INFO, logger="recsys")
    async with serve(settings_for(url, store_dir, db_pool_pre_ping=False)) as client:
        assert (await client.get("/readyz")).status_code == 200
        proxy.refuse()
        await proxy.cut()
        answers = [await client.get(path) for path in ("/readyz", "/ping") * 3]
        recommendation = await client.get("/users/1/recommendations")
        proxy.resume()
        back = await client.get("/readyz")
        again = await client.get("/readyz")
    for response in answers[0::2]:  # /readyz
        assert response.status_code == 503
        body = response.json()
        assert (body["ready"], body["database"]) == (False, "unreachable")
        assert body["reasons"] == ["database unreachable"]
        assert body["models"]["popularity"]["loaded"] is True
    for response in answers[1::2]:  # /ping
        assert response.status_code == 503
        assert response.json() == {"status": "not ready", "reasons": ["database unreachable"]}
    assert recommendation.status_code == 503
    assert recommendation.json() == {"detail": "database unavailable; retry shortly"}
    for response in (*answers, recommendation):
        assert_no_internals(response.text, str(proxy.port), "127.0.0.1")
    assert back.status_code == again.status_code == 200
    # Six failed probes, one line with the driver's detail; one line when it is back.
    [down] = messages(caplog, "readiness: database unreachable")
    assert "Error" in down.getMessage() and down.exc_info is None  # one line, the driver's words
    assert len(messages(caplog, "readiness: database ok again")) == 1
    assert len(messages(caplog, "database unavailable")) == 1


async def test_readyz_with_the_database_frozen_answers_within_its_bound_in_words(
    db: str, store_dir: Path, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    proxied = make_url(db).set(host="127.0.0.1", port=proxy.port)
    url = proxied.render_as_string(hide_password=False)
    caplog.set_level(logging.INFO, logger="recsys")
    async with serve(settings_for(url, store_dir)) as client:
        assert (await client.get("/readyz")).status_code == 200
        proxy.freeze()
        frozen = [await client.get("/readyz") for _ in range(2)]
        proxy.resume()
        await proxy.cut()  # what a frozen server's connections come to; the pool reconnects
        healed = [(await client.get("/readyz")).status_code for _ in range(3)]
    for response in frozen:
        assert response.status_code == 503
        assert response.json()["database"] == "not answering within 0.8 s"
        assert response.json()["reasons"] == ["database not answering within 0.8 s"]
        assert_no_internals(response.text, str(proxy.port), "127.0.0.1")
    assert healed[-1] == 200
    assert len(messages(caplog, "readiness: database not answering within 0.8 s")) == 1


async def test_readyz_on_a_database_that_was_never_migrated_says_so(
    pg_url: str, store_dir: Path
) -> None:
    async with serve(settings_for(pg_url, store_dir)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "not migrated (run: recsys db upgrade)"
    assert_no_internals(response.text, "dataset_seeds", "relation")


# -- artifacts missing or corrupt -------------------------------------------------------------


async def test_a_missing_model_answers_in_product_words(db: str, store_dir: Path) -> None:
    settings = settings_for(db, store_dir, models=("popularity", "item_knn"))
    async with serve(settings) as client:
        ready = await client.get("/readyz")
        missing = await client.get("/users/1/recommendations?model=item_knn")
    hint = "no trained 'item_knn' model; train one with: make train-cli model_type=item_knn"
    assert ready.status_code == 503
    assert ready.json()["models"]["item_knn"] == {
        "loaded": False,
        "version": None,
        "error": hint,
        "refused": None,
    }
    assert ready.json()["reasons"] == [f"model item_knn: {hint}"]
    assert missing.status_code == 503
    assert missing.json() == {"detail": f"model 'item_knn' is not loaded: {hint}"}
    for response in (ready, missing):
        assert_no_internals(response.text, str(store_dir))


async def test_a_corrupt_only_version_answers_hash_mismatch_and_the_log_has_the_path(
    db: str, store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    version = read_latest(LocalArtifactStore(store_dir), "popularity")
    flip_a_byte(store_dir, "popularity", version)
    caplog.set_level(logging.INFO, logger="recsys")
    async with serve(settings_for(db, store_dir)) as client:
        ready = await client.get("/readyz")
        answer = await client.get("/users/1/recommendations")
    error = f"{version}: hash mismatch; no earlier version loads"
    assert ready.status_code == 503
    assert ready.json()["models"]["popularity"]["error"] == error
    assert answer.status_code == 503
    assert answer.json() == {"detail": f"model 'popularity' is not loaded: {error}"}
    for response in (ready, answer):
        assert_no_internals(response.text, str(store_dir), "sha256")
    [logged] = messages(caplog, "LATEST")[:1]
    assert str(store_dir) in logged.getMessage() and "sha256" in logged.getMessage()


async def test_an_unopenable_store_names_no_bucket(
    db: str, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No emulator and credentials that do not exist: the client cannot even be built.
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / KNOWN / "creds.json"))
    settings = settings_for(db, store_dir, artifact_uri="gs://recsys-known-bucket/models")
    async with serve(settings) as client:
        ready = await client.get("/readyz")
        answer = await client.get("/users/1/recommendations")
    assert ready.status_code == 503
    assert ready.json()["models"]["popularity"]["error"] == "artifact store cannot be opened"
    assert answer.status_code == 503
    assert answer.json() == {
        "detail": "model 'popularity' is not loaded: artifact store cannot be opened"
    }
    for response in (ready, answer):
        assert_no_internals(response.text, "recsys-known-bucket", "gs://", "creds.json")


async def test_a_bucket_with_a_corrupt_latest_serves_the_version_before_it_naming_no_bucket(
    db: str, store_dir: Path, gcs_client: storage.Client
) -> None:
    # The emulator (STORAGE_EMULATOR_HOST, set by gcs_client) stands in for the bucket.
    prefix = f"known-{uuid.uuid4().hex[:8]}/models"
    bucket = GCSArtifactStore(GCS_TEST_BUCKET, prefix, client=gcs_client)
    good = read_latest(LocalArtifactStore(store_dir), "popularity")
    await train_into(db, store_dir)
    bad = read_latest(LocalArtifactStore(store_dir), "popularity")
    flip_a_byte(store_dir, "popularity", bad)
    for path in sorted(store_dir.rglob("*")):
        if path.is_file():
            bucket.put_bytes(path.relative_to(store_dir).as_posix(), path.read_bytes())
    models = ("popularity", "item_knn")
    settings = settings_for(db, store_dir, artifact_uri=bucket.uri, models=models)
    async with serve(settings) as client:
        ready = await client.get("/readyz")
        answer = await client.get("/users/1/recommendations")
    body = ready.json()
    assert body["models"]["popularity"]["version"] == good
    assert body["models"]["popularity"]["refused"] == f"{bad}: hash mismatch"
    assert body["models"]["item_knn"]["error"].startswith("no trained 'item_knn' model;")
    assert answer.status_code == 200 and answer.json()["model_version"] == good
    assert_no_internals(ready.text, prefix, GCS_TEST_BUCKET, "gs://")


# -- LATEST refused: the next pod starts on the version before it ----------------------------


async def test_a_refused_reload_leaves_a_pod_that_starts_on_the_previous_version(
    db: str, store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalArtifactStore(store_dir)
    good = read_latest(store, "popularity")
    settings = settings_for(db, store_dir)
    async with serve(settings) as running:
        await train_into(db, store_dir)  # a complete new version, LATEST on it...
        bad = read_latest(store, "popularity")
        flip_a_byte(store_dir, "popularity", bad)  # ...then damaged
        refused = await running.post("/admin/reload", headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["models"]["popularity"]["error"] == f"{bad}: hash mismatch"
    assert_no_internals(refused.text, str(store_dir))
    assert read_latest(store, "popularity") == bad  # LATEST still names the refused version

    caplog.clear()
    caplog.set_level(logging.INFO, logger="recsys")
    async with serve(settings) as fresh:  # the next pod, or a restart
        ready = await fresh.get("/readyz")
        answer = await fresh.get("/users/1/recommendations")
        ping = await fresh.get("/ping")
    # Ready (200): it serves a version that loads, and says why it is not LATEST.
    assert ready.status_code == 200 and ping.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["reasons"] == []
    assert body["models"]["popularity"] == {
        "loaded": True,
        "version": good,
        "error": None,
        "refused": f"{bad}: hash mismatch",
    }
    assert body["warnings"] == [
        f"model popularity: serving {good}, not LATEST {bad} (hash mismatch)"
    ]
    assert_no_internals(ready.text, str(store_dir))
    assert answer.status_code == 200 and answer.json()["model_version"] == good
    # The log says so once, with the detail.
    [serving] = messages(caplog, "the newest earlier version that loads")
    assert good in serving.getMessage() and bad in serving.getMessage()
    [detail] = messages(caplog, "does not load:")
    assert str(store_dir) in detail.getMessage()


async def test_an_unreadable_latest_serves_the_newest_version_and_says_so(
    db: str, store_dir: Path
) -> None:
    newest = read_latest(LocalArtifactStore(store_dir), "popularity")
    (store_dir / "popularity" / "LATEST").write_text("not a version\n")
    async with serve(settings_for(db, store_dir)) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["models"]["popularity"]["version"] == newest
    assert body["models"]["popularity"]["refused"] == "LATEST holds no version id"
    assert body["warnings"] == [
        f"model popularity: serving {newest}, the newest stored version that loads "
        "(LATEST holds no version id)"
    ]
    assert_no_internals(ready.text, str(store_dir), "not a version")


async def test_latest_fixed_by_a_promotion_clears_the_refusal_on_reload(
    db: str, store_dir: Path
) -> None:
    store = LocalArtifactStore(store_dir)
    good = read_latest(store, "popularity")
    await train_into(db, store_dir)
    bad = read_latest(store, "popularity")
    flip_a_byte(store_dir, "popularity", bad)
    async with serve(settings_for(db, store_dir)) as client:
        before = (await client.get("/readyz")).json()
        await train_into(db, store_dir)  # the next good version
        fixed = read_latest(store, "popularity")
        reload = await client.post("/admin/reload", headers=AUTH)
        after = (await client.get("/readyz")).json()
    assert before["models"]["popularity"]["version"] == good
    assert before["models"]["popularity"]["refused"] == f"{bad}: hash mismatch"
    assert reload.status_code == 200
    assert reload.json()["models"]["popularity"]["previous"] == good
    assert after["models"]["popularity"] == {
        "loaded": True,
        "version": fixed,
        "error": None,
        "refused": None,
    }
    assert after["warnings"] == []


async def test_the_poll_leaves_a_refused_latest_alone_and_serves_the_next_good_one(
    db: str, store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalArtifactStore(store_dir)
    good = read_latest(store, "popularity")
    await train_into(db, store_dir)
    bad = read_latest(store, "popularity")
    flip_a_byte(store_dir, "popularity", bad)
    caplog.set_level(logging.INFO, logger="recsys")
    async with serve(settings_for(db, store_dir, reload_poll_seconds=0.02)) as client:
        polled = (await client.get("/readyz")).json()
        # Training takes many poll ticks, all with LATEST still on the refused version (it is
        # written last); none of them may load and refuse those bytes again.
        await train_into(db, store_dir)
        fixed = read_latest(store, "popularity")
        async with asyncio.timeout(30):  # bounded: the poll runs every 0.02 s
            while (await client.get("/readyz")).json()["models"]["popularity"]["version"] != fixed:
                await asyncio.sleep(0.02)
        after = (await client.get("/readyz")).json()
    assert polled["models"]["popularity"]["version"] == good
    assert polled["models"]["popularity"]["refused"] == f"{bad}: hash mismatch"
    assert len(messages(caplog, "does not load")) == 1  # start-up's, and no poll's
    assert not messages(caplog, f"refused popularity {bad}")
    assert len(messages(caplog, f"reloaded popularity: {good} -> {fixed}")) == 1
    assert after["models"]["popularity"]["refused"] is None and after["warnings"] == []
