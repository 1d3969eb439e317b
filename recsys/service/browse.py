"""What the web pages show beyond recommendations: a user's timeline, a movie's counts, the
stored model versions and the latest offline evaluation report of the dataset.

The pages call these the way the JSON routes call ``RecommenderService``; nothing here knows
HTTP or HTML.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import UserRepository
from recsys.db.repositories.activity import ActivityRepository, MovieCounts
from recsys.modeling.artifacts import (
    ArtifactError,
    ArtifactNotFoundError,
    Manifest,
    list_versions,
    open_store,
    read_latest,
    read_manifest,
)
from recsys.service.errors import UnknownUserError
from recsys.service.recommend import RecommenderService
from recsys.service.registry import ModelRegistry

__all__ = [
    "ActivityEntry",
    "ModelOverview",
    "MovieCounts",
    "OfflineReport",
    "StoredVersion",
    "UserActivity",
    "latest_report",
    "model_overview",
    "movie_counts",
    "random_user",
    "report_plot",
    "user_activity",
]

logger = logging.getLogger(__name__)

# The file `recsys evaluate --out DIR` writes its numbers to, and the plots beside it.
RESULTS_FILE = "results.json"
# The metrics the models page lists, in the report's order (results.json has more).
REPORT_METRICS = ("hr", "recall", "precision", "ndcg", "map", "mrr", "auc")


@dataclass(frozen=True)
class ActivityEntry:
    """One rating or event of a user, with what the catalogue says about the movie."""

    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    kind: str  # "rating" or the event's type (watch, like, ...)
    value: float | None  # the rating; an event's optional value
    at: datetime


@dataclass(frozen=True)
class UserActivity:
    """A user's latest ratings and events, newest first."""

    user_id: int
    entries: list[ActivityEntry]


async def user_activity(
    service: RecommenderService, session: AsyncSession, user_id: int, *, limit: int
) -> UserActivity:
    """A known user's latest ``limit`` ratings and events, titled; ``UnknownUserError``."""
    if not await UserRepository(session).exists(user_id):
        raise UnknownUserError(user_id)
    records = await ActivityRepository(session).recent(user_id, limit=limit)
    movies = {
        m.id: m for m in await service.catalog.get_many(session, [r.movie_id for r in records])
    }
    return UserActivity(
        user_id=user_id,
        entries=[
            ActivityEntry(m.id, m.title, m.year, m.genres, r.kind, r.value, r.at)
            for r in records
            if (m := movies.get(r.movie_id)) is not None
        ],
    )


async def movie_counts(session: AsyncSession, movie_id: int) -> MovieCounts:
    """How many ratings and events the movie has (call after checking it exists)."""
    return await ActivityRepository(session).movie_counts(movie_id)


def random_user(service: RecommenderService, rng: random.Random | None = None) -> int | None:
    """A user some loaded model was trained on (so the page has something to show), or None
    when no model is loaded."""
    users = [m.model.user_ids for m in service.models.values() if m.model.n_users > 0]
    if not users:
        return None
    rng = rng or random.Random()
    ids = rng.choice(users)
    return int(ids[rng.randrange(len(ids))])


@dataclass(frozen=True)
class StoredVersion:
    """One stored version of a model type, as its manifest describes it."""

    version: str
    created_at: str
    n_users: int | None
    n_items: int | None
    n_interactions: int | None
    params: dict[str, Any]
    fit_seconds: float | None
    latest: bool


@dataclass(frozen=True)
class ModelOverview:
    """A configured model type: what serves, why not, and every version the store holds."""

    model_type: str
    serving: str | None  # the version loaded now
    missing: str | None  # why nothing is loaded
    refused: str | None  # why a newer LATEST was refused (the loaded one keeps serving)
    versions: list[StoredVersion] = field(default_factory=list)
    store_error: str | None = None  # the store could not be listed

    @property
    def serving_version(self) -> StoredVersion | None:
        """The stored version that serves now, when the store still has it."""
        return next((v for v in self.versions if v.version == self.serving), None)


def model_overview(registry: ModelRegistry, artifact_uri: str) -> list[ModelOverview]:
    """Every configured model type with its stored versions, newest first (blocking I/O: the
    store may be a bucket; call it from a worker thread)."""
    try:
        store = open_store(artifact_uri)
    except Exception as exc:  # no credentials, a bad URI: the page says so instead of a 500
        reason = f"artifact store {artifact_uri} cannot be opened: {exc}"
        return [_overview(registry, t, [], reason) for t in registry.configured]
    out = []
    for model_type in registry.configured:
        try:
            names = list_versions(store, model_type)
            try:
                latest: str | None = read_latest(store, model_type)
            except ArtifactNotFoundError:
                latest = None
            versions = [_stored(read_manifest(store, model_type, name), latest) for name in names]
        except ArtifactError as exc:  # a corrupt manifest, an unreadable LATEST
            out.append(_overview(registry, model_type, [], str(exc)))
            continue
        except Exception as exc:  # the store itself failing (network, credentials)
            logger.exception("versions of %s cannot be listed from %s", model_type, store.uri)
            out.append(_overview(registry, model_type, [], f"artifact store failed: {exc}"))
            continue
        versions.sort(key=lambda v: (v.created_at, v.version), reverse=True)
        out.append(_overview(registry, model_type, versions, None))
    return out


def _overview(
    registry: ModelRegistry, model_type: str, versions: list[StoredVersion], error: str | None
) -> ModelOverview:
    loaded = registry.loaded.get(model_type)
    return ModelOverview(
        model_type=model_type,
        serving=loaded.version if loaded is not None else None,
        missing=registry.missing.get(model_type),
        refused=registry.refused.get(model_type),
        versions=versions,
        store_error=error,
    )


def _stored(manifest: Manifest, latest: str | None) -> StoredVersion:
    data = manifest.data
    fit = manifest.training.get("fit_seconds")
    return StoredVersion(
        version=manifest.version,
        created_at=manifest.created_at,
        n_users=_int_or_none(data.get("n_users")),
        n_items=_int_or_none(data.get("n_items")),
        n_interactions=_int_or_none(data.get("n_interactions")),
        params=dict(manifest.params),
        fit_seconds=float(fit) if isinstance(fit, int | float) else None,
        latest=manifest.version == latest,
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class OfflineReport:
    """The numbers of one ``recsys evaluate`` run and the plots it drew."""

    folder: str  # the report's folder name under the reports directory
    dataset: str
    protocol: str
    k: int
    created_at: str
    command: str
    # model type -> metric name -> mean over users (REPORT_METRICS that the report has)
    metrics: dict[str, dict[str, float]]
    coverage: dict[str, float]
    plots: list[str]  # PNG file names in the folder

    @property
    def metric_names(self) -> list[str]:
        """The REPORT_METRICS some model of the report has, in that order."""
        return [n for n in REPORT_METRICS if any(n in row for row in self.metrics.values())]


def latest_report(reports_dir: Path, dataset: str) -> OfflineReport | None:
    """The newest ``recsys evaluate`` report of ``dataset`` under ``reports_dir`` (one folder
    deep, by its ``created_at``), or None. Unreadable reports are skipped with a log line."""
    if not reports_dir.is_dir():
        return None
    found: list[OfflineReport] = []
    for results in sorted(reports_dir.glob(f"*/{RESULTS_FILE}")):
        try:
            report = _read_report(results)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("report %s skipped: %s", results, exc)
            continue
        if report is not None and report.dataset == dataset:
            found.append(report)
    return max(found, key=lambda r: (r.created_at, r.folder), default=None)


def _read_report(results: Path) -> OfflineReport | None:
    doc = json.loads(results.read_text(encoding="utf-8"))
    # Other tools write results.json too (tuning, simulations): an evaluation has these keys.
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict) or "k" not in doc:
        return None
    metrics: dict[str, dict[str, float]] = {}
    coverage: dict[str, float] = {}
    for model_type, entry in doc["models"].items():
        values = entry.get("metrics", {})
        metrics[str(model_type)] = {
            name: float(values[name]["mean"]) for name in REPORT_METRICS if name in values
        }
        if isinstance(entry.get("coverage"), int | float):
            coverage[str(model_type)] = float(entry["coverage"])
    return OfflineReport(
        folder=results.parent.name,
        dataset=str(doc.get("dataset", "")),
        protocol=str(doc.get("protocol", "")),
        k=int(doc["k"]),
        created_at=str(doc.get("created_at", "")),
        command=str(doc.get("command", "")),
        metrics=metrics,
        coverage=coverage,
        plots=sorted(p.name for p in results.parent.glob("*.png")),
    )


def report_plot(reports_dir: Path, folder: str, name: str) -> Path | None:
    """The PNG ``folder/name`` under ``reports_dir``, or None: only a plain file name ending in
    .png one folder deep, so a crafted path never reads anything else."""
    for part in (folder, name):
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
            return None
    if not name.endswith(".png"):
        return None
    path = reports_dir / folder / name
    return path if path.is_file() else None
