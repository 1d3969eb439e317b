"""/metrics under `recsys serve --workers 2`: the scrape sums both workers, whichever answers.

Each request goes on a fresh connection, so the kernel hands them to either worker; the
counter for /healthz must still read exactly N more after N requests, from any scrape.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS
from tests.support.servers import recsys_serve

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
HEALTHZ = {"route": "/healthz", "method": "GET", "status": "200"}


def healthz_count(http: httpx.Client) -> float:
    response = http.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "recsys_http_requests_total" and sample.labels == HEALTHZ:
                return sample.value
    return 0.0


def wait_for_both_workers(base: str) -> None:
    """Until answers on fresh connections have come from two processes (two id prefixes)."""
    prefixes: set[str] = set()
    deadline = time.monotonic() + 90
    while len(prefixes) < 2:
        assert time.monotonic() < deadline, "the second worker did not answer within 90 s"
        with httpx.Client(base_url=base, timeout=10) as fresh:
            prefixes.add(fresh.get("/healthz").headers["x-request-id"].split("-")[0])


async def test_two_workers_scrape_the_same_total(
    ml100k_url: str, ml100k_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    weights = EventWeights(DEFAULT_EVENT_WEIGHTS)
    await train(ml100k_sessions, weights=weights, model_type="popularity", store=store)
    env = {
        "RECSYS_DATABASE_URL": ml100k_url,
        "RECSYS_ARTIFACT_URI": f"file://{tmp_path / 'artifacts'}",
        "RECSYS_MODELS": "popularity",
        "RECSYS_DEFAULT_MODEL": "popularity",
        "RECSYS_LOG_LEVEL": "WARNING",
    }
    requests = 40

    def scenario() -> tuple[float, list[float], set[str]]:
        with recsys_serve(env, tmp_path / "serve.log", "--workers", "2") as server:
            base = str(server.base_url)
            # Ready means one worker is: on a busy machine the other may still be loading.
            wait_for_both_workers(base)
            before = healthz_count(server)
            prefixes = set()
            for _ in range(requests):
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    response = fresh.get("/healthz")
                    assert response.status_code == 200
                    # Generated ids start with the answering process's own prefix.
                    prefixes.add(response.headers["x-request-id"].split("-")[0])
            scrapes = []
            for _ in range(6):
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    scrapes.append(healthz_count(fresh))
            return before, scrapes, prefixes

    before, scrapes, prefixes = await asyncio.to_thread(scenario)
    assert len(prefixes) == 2  # both workers answered some
    assert scrapes == [before + requests] * len(scrapes)
