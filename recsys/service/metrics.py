"""Prometheus metric objects shared by the api and service layers, and the /metrics text.

The `faults` code calls `count_database_error(kind)` where it turns a database failure into a
503; the API's middleware calls `observe_request` once per answer.

Several uvicorn workers: `recsys serve` sets PROMETHEUS_MULTIPROC_DIR before the workers start,
prometheus_client then keeps each worker's values in files there, and a scrape (whichever
worker answers it) sums them through a MultiProcessCollector. One process without that
variable (tests, `--workers 1`) uses the plain default registry.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

DATABASE_ERRORS = Counter(
    "recsys_database_errors_total",
    "Database errors seen while answering, by kind.",
    ["kind"],
)
REQUESTS = Counter(
    "recsys_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
# Buckets around the /healthz (sub-ms) and recommendation (ms to tens of ms) latencies.
LATENCY = Histogram(
    "recsys_http_request_duration_seconds",
    "Time from request to the end of the answer, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

# A client may send any method; an unknown one is counted as OTHER so labels stay bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# `.labels()` hashes and validates its arguments on every call: the children are looked up
# once per (route, method, status) and kept here.
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def count_database_error(kind: str) -> None:
    """Count one database error of `kind` (a short fixed word, e.g. "unavailable", "timeout")."""
    DATABASE_ERRORS.labels(kind=kind).inc()


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answer for `route` (a template such as /users/{user_id}/recommendations)."""
    if method not in _METHODS:
        method = "OTHER"  # before the lookup too: the cache must stay as bounded as the labels
    key = (route, method, status)
    children = _children.get(key)
    if children is None:
        labels = (route, method, str(status))
        children = _children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    children[0].inc()
    children[1].observe(seconds)


def render_metrics() -> bytes:
    """Every series in Prometheus text: all workers' sum when the multiprocess directory is set."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        return generate_latest(registry)
    return generate_latest(REGISTRY)
