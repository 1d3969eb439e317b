"""infra/grafana/recsys.json against the app: every series its PromQL reads exists in /metrics.

The app runs its real lifespan on the tiny dataset (item_knn and popularity trained on it) and
is made to produce each kind of series once (an answer, a fallback, an event, a refused batch,
a reload); then every `recsys_*` name in every panel's expression must be a series the scrape
shows (or one its family's type implies, for a family nothing has touched yet, such as
database errors), and every label the expression groups or filters by must be a label of one
of its series. Renaming a metric or a label in the code without the dashboard fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from recsys.db.session import create_engine
from recsys.settings import Settings
from tests.infra.helpers import ROOT
from tests.integration.served import serve, settle
from tests.support.training import train_into

DASHBOARD = ROOT / "infra" / "grafana" / "recsys.json"
TOKEN = "dashboard-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_USER = 42  # not in the tiny dataset: the fallback answers for item_knn

METRIC = re.compile(r"\brecsys_[a-z0-9_]+\b")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r"\{([^}]*)\}")
LABEL_IN_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
# Series names a family of each type exposes, from its family name.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def expressions() -> list[str]:
    return [t["expr"] for p in panels() for t in p.get("targets", [])]


@pytest.fixture(scope="module")
async def client(
    module_tiny_db: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    folder = tmp_path_factory.mktemp("artifacts")
    await train_into(module_tiny_db, folder, "item_knn", "popularity")
    settings = Settings(
        database_url=module_tiny_db,
        artifact_uri=f"file://{folder}",
        models=("item_knn", "popularity"),
        default_model="item_knn",
        api_write_token=TOKEN,
    )
    async with serve(settings) as client:
        yield client


async def execute(url: str, sql: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()
    await settle()


@pytest.fixture(scope="module")
async def exposition(client: httpx.AsyncClient, module_tiny_db: str) -> str:
    """/metrics after one of everything the dashboard shows."""
    await execute(module_tiny_db, f"INSERT INTO users (id) VALUES ({NEW_USER})")
    try:
        assert (await client.get("/users/1/recommendations?k=2")).status_code == 200
        fallback = await client.get(f"/users/{NEW_USER}/recommendations?k=2")
        assert fallback.json()["fallback"] is True
    finally:
        await execute(module_tiny_db, f"DELETE FROM users WHERE id = {NEW_USER}")
    event = {"user_id": 1, "movie_id": 5, "type": "watch"}
    assert (await client.post("/events", json={"events": [event]}, headers=AUTH)).status_code == 201
    bad = {**event, "movie_id": 99_999}
    assert (await client.post("/events", json={"events": [bad]}, headers=AUTH)).status_code == 422
    assert (await client.post("/admin/reload", headers=AUTH)).status_code == 200
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


def known_series(exposition: str) -> tuple[set[str], dict[str, set[str]]]:
    """Series names the scrape shows or implies, and the labels seen on each name."""
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        for sample in family.samples:
            names.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    return names, labels


def test_the_dashboard_is_a_grafana_model_with_unique_panel_ids() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_the_dashboard_shows_what_issue_14_asks_for() -> None:
    used = {name for expr in expressions() for name in METRIC.findall(expr)}
    assert used >= {
        "recsys_http_requests_total",
        "recsys_http_request_duration_seconds_bucket",
        "recsys_fallback_answers_total",
        "recsys_recommendations_total",
        "recsys_model_info",
        "recsys_model_load_seconds",
        "recsys_model_loaded_timestamp_seconds",
        "recsys_model_reloads_total",
        "recsys_events_received_total",
        "recsys_events_stored_total",
        "recsys_events_replayed_total",
        "recsys_database_errors_total",
        "recsys_db_pool_checked_out",
        "recsys_db_pool_size",
    }
    quantiles = {m for e in expressions() for m in re.findall(r"histogram_quantile\(([\d.]+)", e)}
    assert quantiles >= {"0.5", "0.99"}


def missing_series(exprs: list[str], names: set[str]) -> set[tuple[str, str]]:
    """(name, expression) for every `recsys_*` name an expression reads that is not exposed."""
    return {(name, expr) for expr in exprs for name in METRIC.findall(expr) if name not in names}


def misused_labels(exprs: list[str], labels: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(label, expression) for every label grouped or matched on that none of its series has."""
    problems = set()
    for expr in exprs:
        used = {label.strip() for group in GROUPING.findall(expr) for label in group.split(",")}
        for matcher in MATCHER.findall(expr):
            used.update(LABEL_IN_MATCHER.findall(matcher))
        used.discard("")
        offered = set().union(*(labels.get(n, set()) for n in METRIC.findall(expr)))
        if offered:  # else nothing touched these series yet: their names are checked anyway
            problems |= {(label, expr) for label in used - offered}
    return problems


def test_every_series_the_dashboard_reads_exists_in_metrics(exposition: str) -> None:
    names, _ = known_series(exposition)
    assert missing_series(expressions(), names) == set()


def test_every_label_the_dashboard_uses_is_on_its_series(exposition: str) -> None:
    _, labels = known_series(exposition)
    assert misused_labels(expressions(), labels) == set()


def test_the_checks_catch_a_renamed_series_or_label(exposition: str) -> None:
    names, labels = known_series(exposition)
    renamed = "sum(rate(recsys_fallbacks_total[5m]))"
    assert missing_series([renamed], names) == {("recsys_fallbacks_total", renamed)}
    wrong_label = 'sum by (cause) (rate(recsys_fallback_answers_total{model="als"}[5m]))'
    assert misused_labels([wrong_label], labels) == {("cause", wrong_label)}
    # An implied name (from a family's type) counts even before its first sample.
    assert "recsys_database_errors_total" in names
