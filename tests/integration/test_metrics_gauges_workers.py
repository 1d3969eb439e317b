"""Gauges and counters under `recsys serve --workers 2`, including a worker killed mid-run.

Every request and scrape goes on a fresh connection, so the kernel hands them to either
worker: a scrape must give the same figures whichever answers. Gauges combine the workers
(pool: summed over live workers; model info: 1, not 2); counters keep what a dead worker
counted; a SIGKILLed worker's gauges leave the sum once it is gone, so its restarted successor
is not counted twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from sqlalchemy import text

from recsys.db.session import create_engine
from recsys.modeling.artifacts import LocalArtifactStore, read_latest
from tests.support.scrape import Samples, parse_samples, value
from tests.support.servers import recsys_serve_process
from tests.support.training import train_into

pytestmark = pytest.mark.slow
TOKEN = "metrics-workers-token-0123456789"
POOL_SIZE = 3
WORKERS = 2
NEW_USER = 41  # not in the tiny dataset: no history, so the fallback answers


def fresh_scrape(base: str) -> Samples:
    with httpx.Client(base_url=base, timeout=10) as fresh:
        response = fresh.get("/metrics")
        assert response.status_code == 200
        return parse_samples(response.text)


def workers_of(process: subprocess.Popen[bytes]) -> dict[int, str]:
    """The server's worker pids -> their metrics directory (from their environment)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    found = {}
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # exited meanwhile
        if b"resource_tracker" in command:
            continue  # multiprocessing's helper, not a worker
        for entry in environ:
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                found[pid] = entry.split(b"=", 1)[1].decode()
    return found


def own_pool_size(directory: str, pid: int) -> float:
    """What worker `pid` itself wrote as its pool size (its own file, not the scrape's sum)."""
    path = Path(directory) / f"gauge_livesum_{pid}.db"
    if not path.exists():
        return 0.0
    values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
    for key, number, _timestamp, _pos in values:
        if json.loads(key)[0] == "recsys_db_pool_size":
            return float(number)
    return 0.0


def wait_for_pools(process: subprocess.Popen[bytes], *, not_pid: int | None) -> dict[int, str]:
    """Until WORKERS workers (none of them `not_pid`) run and each has opened its pool."""
    deadline = time.monotonic() + 90
    while True:
        now = workers_of(process)
        if (
            not_pid not in now
            and len(now) == WORKERS
            and all(own_pool_size(d, pid) == POOL_SIZE for pid, d in now.items())
        ):
            return now
        assert time.monotonic() < deadline, f"{WORKERS} workers with their pools not up in 90 s"
        time.sleep(0.2)


async def test_two_workers_sum_gauges_keep_counts_and_forget_a_killed_worker(
    module_tiny_db: str, tmp_path: Path
) -> None:
    artifacts = await train_into(module_tiny_db, tmp_path / "artifacts", "popularity", "item_knn")
    version = read_latest(LocalArtifactStore(artifacts), "popularity")
    engine = create_engine(module_tiny_db)
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO users (id) VALUES (:u)"), {"u": NEW_USER})
    await engine.dispose()
    env = {
        "RECSYS_DATABASE_URL": module_tiny_db,
        "RECSYS_ARTIFACT_URI": f"file://{artifacts}",
        "RECSYS_MODELS": "item_knn,popularity",
        "RECSYS_DEFAULT_MODEL": "item_knn",
        "RECSYS_DB_POOL_SIZE": str(POOL_SIZE),
        "RECSYS_API_WRITE_TOKEN": TOKEN,
        "RECSYS_LOG_LEVEL": "WARNING",
    }
    requests = 20
    info = {"model": "popularity", "version": version}
    event = {"user_id": 1, "movie_id": 11, "type": "watch", "idempotency_key": "workers-twice"}

    def scenario() -> dict[str, object]:
        seen: dict[str, object] = {}
        with recsys_serve_process(env, tmp_path / "serve.log", "--workers", str(WORKERS)) as (
            server,
            process,
        ):
            base = str(server.base_url)
            # Ready means one worker is; the other may still be loading its models.
            wait_for_pools(process, not_pid=None)
            seen["first"] = [fresh_scrape(base) for _ in range(4)]
            for _ in range(requests):
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    response = fresh.get(f"/users/{NEW_USER}/recommendations?k=3")
                    assert response.status_code == 200 and response.json()["fallback"] is True
            for _ in range(2):
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    response = fresh.post(
                        "/events",
                        json={"events": [event]},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                    assert response.status_code == 201
            seen["counted"] = [fresh_scrape(base) for _ in range(4)]

            workers = workers_of(process)
            assert len(workers) == WORKERS
            victim, directory = next(iter(workers.items()))
            assert any(name.endswith(f"_{victim}.db") for name in os.listdir(directory))
            os.kill(victim, signal.SIGKILL)
            # uvicorn's supervisor starts a successor; wait until it serves with its pool.
            wait_for_pools(process, not_pid=victim)
            seen["after_kill"] = [fresh_scrape(base) for _ in range(4)]
            seen["victim_files"] = [
                name
                for name in os.listdir(directory)
                if name.startswith("gauge_live") and name.endswith(f"_{victim}.db")
            ]
        return seen

    try:
        seen = await asyncio.to_thread(scenario)
    finally:
        engine = create_engine(module_tiny_db)
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM users WHERE id = :u"), {"u": NEW_USER})
            await connection.execute(
                text("DELETE FROM events WHERE idempotency_key = 'workers-twice'")
            )
        await engine.dispose()

    first: list[Samples] = seen["first"]  # type: ignore[assignment]
    for samples in first:
        assert value(samples, "recsys_db_pool_size") == POOL_SIZE * WORKERS
        assert value(samples, "recsys_db_pool_checked_out") == 0
        assert value(samples, "recsys_model_info", info) == 1  # livemax: not one per worker
        assert value(samples, "recsys_model_load_seconds", {"model": "popularity"}) > 0

    counted: list[Samples] = seen["counted"]  # type: ignore[assignment]
    answered = {"model": "item_knn", "outcome": "fallback"}
    reason = {"model": "item_knn", "reason": "no_history"}
    for samples in counted:
        assert value(samples, "recsys_recommendations_total", answered) == requests
        assert value(samples, "recsys_fallback_answers_total", reason) == requests
        assert value(samples, "recsys_events_received_total") == 2
        assert value(samples, "recsys_events_stored_total") == 1
        assert value(samples, "recsys_events_replayed_total") == 1

    # The killed worker's counts stay; its gauges left with it (else the size would read 9).
    after_kill: list[Samples] = seen["after_kill"]  # type: ignore[assignment]
    for samples in after_kill:
        assert value(samples, "recsys_db_pool_size") == POOL_SIZE * WORKERS
        assert value(samples, "recsys_model_info", info) == 1
        assert value(samples, "recsys_recommendations_total", answered) == requests
        assert value(samples, "recsys_events_received_total") == 2
    assert seen["victim_files"] == []
