"""Prometheus metric objects shared by the api and service layers, and the /metrics text.

Who counts what: the API's middleware calls `observe_request` once per answer; the `faults`
code `count_database_error(kind)` where it turns a database failure into a 503; the
recommender `count_recommendation` (and `count_fallback` when popularity answers); hot reload
`count_reload` per model type and attempt, `observe_model_load` per version loaded and
`publish_models` whenever what serves changes; the event routes `count_events`. The pool
gauges are kept by `recsys.service.pool_metrics`.

Several uvicorn workers: `recsys serve` sets PROMETHEUS_MULTIPROC_DIR before the workers start,
prometheus_client then keeps each worker's values in files there, and a scrape (whichever
worker answers it) sums them through a MultiProcessCollector. Gauges say how to combine the
workers (`multiprocess_mode`); the "live" modes count only workers still running, and a scrape
first forgets the gauge files of workers that have exited (`mark_process_dead`), however they
exited (SIGKILL included), so a restarted worker is not counted twice. One process without
that variable (tests, `--workers 1`) uses the plain default registry.

Labels stay bounded: routes are templates, methods a fixed set, models the configured types
(an unknown model name is never a label), outcomes and reasons fixed words.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

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
# The model label rides on counters of their own, not on the latency histogram: one more label
# there would multiply every route's 15 series by the number of models.
RECOMMENDATIONS = Counter(
    "recsys_recommendations_total",
    "Recommendation requests, by the model asked for and outcome: model (it answered), "
    "fallback (popularity answered), unknown_user, unavailable (model or fallback not loaded).",
    ["model", "outcome"],
)
FALLBACKS = Counter(
    "recsys_fallback_answers_total",
    "Answers from the popularity fallback, by the model asked for and why it could not score "
    "the user: no_history (nothing rated or done yet), unknown_movies (none the model knows).",
    ["model", "reason"],
)
MODEL_INFO = Gauge(
    "recsys_model_info",
    "1 for the model version each type serves (in any live worker); 0 once replaced.",
    ["model", "version"],
    multiprocess_mode="livemax",
)
MODEL_LOAD_SECONDS = Gauge(
    "recsys_model_load_seconds",
    "Seconds the latest successful load of the model type took (read, sha256 checks, parsing).",
    ["model"],
    multiprocess_mode="livemostrecent",
)
MODEL_LOADED_AT = Gauge(
    "recsys_model_loaded_timestamp_seconds",
    "Unix time of the latest successful load of the model type.",
    ["model"],
    multiprocess_mode="livemax",
)
RELOADS = Counter(
    "recsys_model_reloads_total",
    "Hot-reload attempts (poll or POST /admin/reload) by model type and outcome: loaded, "
    "unchanged, refused (LATEST does not load; the old version serves on), failed (store "
    "unreadable).",
    ["model", "outcome"],
)
EVENTS_RECEIVED = Counter(
    "recsys_events_received_total",
    "Events in batches the event routes committed or refused whole: stored + replayed + "
    "refused (a batch the database failed is counted nowhere: nothing of it was stored).",
)
EVENTS_STORED = Counter(
    "recsys_events_stored_total", "Events stored (committed before the answer)."
)
EVENTS_REPLAYED = Counter(
    "recsys_events_replayed_total",
    "Events accepted again but not stored: their idempotency key was already stored.",
)
EVENTS_REFUSED = Counter(
    "recsys_events_refused_total",
    "Events in batches refused whole with a 422 (unknown movie or type, bad value, future time).",
)

# A client may send any method; an unknown one is counted as OTHER so labels stay bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# `.labels()` hashes and validates its arguments on every call: the children are looked up
# once per label tuple and kept here (the keys are as bounded as the labels).
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_recommendation_children: dict[tuple[str, str], Counter] = {}
_fallback_children: dict[tuple[str, str], Counter] = {}
# model type -> the version this process published as serving (set to 0 when replaced).
_published: dict[str, str] = {}
# Workers scrape (and sweep) concurrently: another may remove a dead pid's files first.
_ATTEMPTS = 3
# A worker's file starts with 4 bytes of "bytes used" and 4 of padding.
_HEADER_BYTES = 8
# Called before each scrape to bring this process's gauges up to date (pool_metrics).
_refreshers: list[Callable[[], None]] = []


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


def _child(
    children: dict[tuple[str, str], Counter], counter: Counter, key: tuple[str, str]
) -> Counter:
    # `.labels()` validates and hashes on every call: each label pair's child is looked up once.
    child = children.get(key)
    if child is None:
        child = children[key] = counter.labels(*key)
    return child


def count_recommendation(model: str, outcome: str) -> None:
    """One recommendation request for `model` (a configured type) ending in `outcome`."""
    _child(_recommendation_children, RECOMMENDATIONS, (model, outcome)).inc()


def count_fallback(model: str, reason: str) -> None:
    """One answer the popularity fallback gave because `model` could not score the user."""
    _child(_fallback_children, FALLBACKS, (model, reason)).inc()


def count_reload(model: str, outcome: str) -> None:
    """One reload attempt of `model` ending in `outcome` (a ReloadStatus value)."""
    RELOADS.labels(model, outcome).inc()  # once per type per poll: no cache needed


def observe_model_load(model: str, seconds: float) -> None:
    """A version of `model` loaded in `seconds` (start-up or reload), just now."""
    MODEL_LOAD_SECONDS.labels(model).set(seconds)
    MODEL_LOADED_AT.labels(model).set(time.time())


def publish_models(versions: Mapping[str, str]) -> None:
    """What this process serves now (type -> version): 1 for those, 0 for the ones replaced.

    A replaced version stays as a 0 series rather than being removed: with several workers
    the value lives in each worker's file, which `remove` would not touch.
    """
    for model, old in list(_published.items()):
        if versions.get(model) != old:
            MODEL_INFO.labels(model, old).set(0)
            del _published[model]
    for model, version in versions.items():
        if _published.get(model) != version:
            MODEL_INFO.labels(model, version).set(1)
            _published[model] = version


def count_events(*, received: int, stored: int, replayed: int) -> None:
    """A batch of `received` events, committed: `stored` new, `replayed` already stored."""
    EVENTS_RECEIVED.inc(received)
    EVENTS_STORED.inc(stored)
    EVENTS_REPLAYED.inc(replayed)


def count_refused_events(received: int) -> None:
    """A batch of `received` events refused whole (nothing stored)."""
    EVENTS_RECEIVED.inc(received)
    EVENTS_REFUSED.inc(received)


def add_refresher(refresh: Callable[[], None]) -> None:
    """Run `refresh` before every scrape this process answers (until `remove_refresher`)."""
    _refreshers.append(refresh)


def remove_refresher(refresh: Callable[[], None]) -> None:
    """Stop running `refresh` before scrapes (no error if it was never added)."""
    if refresh in _refreshers:
        _refreshers.remove(refresh)


def render_metrics() -> bytes:
    """Every series in Prometheus text: all workers' sum when the multiprocess directory is set."""
    for refresh in tuple(_refreshers):
        refresh()
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    forget_dead_workers(directory)
    # A live-gauge file another worker's sweep removes after the listing is skipped by
    # prometheus_client itself; a starting worker's empty file by _WorkerFiles.
    return _all_workers(directory)


def _all_workers(directory: str) -> bytes:
    registry = CollectorRegistry()
    _WorkerFiles(registry, directory)
    return generate_latest(registry)


class _WorkerFiles(MultiProcessCollector):
    """MultiProcessCollector minus the files a starting worker has created but not sized yet.

    prometheus_client opens a worker's file (empty) and then extends it; a scrape between the
    two would fail to read its header (struct.error, a 500: seen while workers restarted under
    a scrape load). An empty file holds no values, so leaving it out loses nothing.
    """

    def __init__(self, registry: CollectorRegistry, directory: str) -> None:
        super().__init__(registry, directory)  # type: ignore[no-untyped-call]  # untyped upstream
        self._directory = directory

    def collect(self) -> Any:
        files = [f for f in glob.glob(os.path.join(self._directory, "*.db")) if _sized(f)]
        return self.merge(files, accumulate=True)  # type: ignore[no-untyped-call]  # untyped


def _sized(path: str) -> bool:
    try:
        return os.path.getsize(path) >= _HEADER_BYTES
    except FileNotFoundError:
        return False  # removed since the listing (a dead worker's, swept)


def forget_dead_workers(directory: str) -> list[int]:
    """Drop the live-gauge files of processes that no longer run; the pids dropped.

    uvicorn's supervisor has no hook when a worker exits (and SIGKILL leaves no chance to
    clean up), so the scrape checks: a `gauge_live*_PID.db` whose PID is gone is forgotten.
    Counters' files stay, so nothing counted is lost.
    """
    dead = sorted(
        {
            pid
            for path in glob.glob(os.path.join(directory, "gauge_live*_*.db"))
            if (pid := _pid_of(path)) is not None and not _running(pid)
        }
    )
    for pid in dead:
        for _ in range(_ATTEMPTS):
            try:
                mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]  # untyped
                break
            except FileNotFoundError:
                continue  # another worker's scrape removed one first: look again
    return dead


def _pid_of(path: str) -> int | None:
    stem = os.path.basename(path).removesuffix(".db")
    digits = stem.rsplit("_", 1)[-1]
    return int(digits) if digits.isdigit() else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    # A zombie (exited, not yet reaped by the supervisor) answers signal 0 too.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust the signal
