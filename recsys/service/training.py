"""The training job: read every interaction from the database, fit one model, store a version.

Interactions are ratings and events summed per (user, movie) by recsys.events' rule
(``RatingRepository.export``), as the video seed sums its interaction values.

Shared by ``recsys train``, ``recsys ensure-models`` and ``recsys tune``'s final fit; the
layers stay one-way (this module uses ``db.repositories`` and ``modeling``; neither knows
about it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recsys.data.frames import Interactions
from recsys.db.repositories import DatasetSeedRepository, MovieRepository, RatingRepository
from recsys.events import EventWeights
from recsys.modeling.artifacts import (
    ArtifactError,
    ArtifactInfo,
    ArtifactStore,
    prune,
    read_latest,
    read_manifest,
    save_model,
)
from recsys.modeling.dataset import build_matrix
from recsys.modeling.items import ItemAttributes
from recsys.modeling.registry import create_model, model_class
from recsys.modeling.weighting import WeightingKind
from recsys.service.errors import NoInteractionsError

Stage = Callable[[str], None]


@dataclass(frozen=True)
class TrainReport:
    """What a training run read, how long each step took, and where the artifact went."""

    artifact: ArtifactInfo
    rows_read: int
    n_users: int
    n_items: int
    read_seconds: float
    fit_seconds: float
    write_seconds: float
    pruned: tuple[str, ...]
    # "implicit" (in-process) or "spark"; the Spark path also spends time exporting Parquet.
    engine: str = "implicit"
    export_seconds: float = 0.0

    @property
    def total_seconds(self) -> float:
        """Read + export + fit + write."""
        return self.read_seconds + self.export_seconds + self.fit_seconds + self.write_seconds


async def read_interactions(
    session_factory: async_sessionmaker[AsyncSession], weights: EventWeights
) -> Interactions:
    """Every (user, movie) interaction as column arrays: ratings plus events' weights."""
    async with session_factory() as session:
        return await RatingRepository(session).export(weights)


async def count_movies(
    session_factory: async_sessionmaker[AsyncSession], weights: EventWeights
) -> int:
    """How many movies ``read_interactions`` would return (the matrix's columns)."""
    async with session_factory() as session:
        return await RatingRepository(session).count_movies(weights)


async def read_item_attributes(session_factory: async_sessionmaker[AsyncSession]) -> ItemAttributes:
    """Every movie's year and genres, for models that read them (``needs_items``)."""
    async with session_factory() as session:
        rows = await MovieRepository(session).attributes()
    return ItemAttributes.from_records(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    )


def fit_and_store(
    interactions: Interactions,
    *,
    model_type: str,
    store: ArtifactStore,
    params: Mapping[str, Any] | None = None,
    weighting: WeightingKind | None = None,
    keep: int | None = None,
    stage: Stage | None = None,
    items: ItemAttributes | None = None,
    database: str | None = None,
) -> TrainReport:
    """Build the matrix, fit ``model_type``, save it (LATEST last) and prune old versions.

    ``items`` (movie years and genres) are required by the models that read them; ``database``
    (the seed's fingerprint) is recorded in the manifest, so ``ensure-models`` can tell a model
    trained on this database from one trained on another.
    """
    say = stage or _silent
    if len(interactions) == 0:
        raise NoInteractionsError(
            "no ratings or events to train on: seed a dataset first (recsys db upgrade) "
            "or import events (recsys data import-events)"
        )
    model = create_model(model_type, dict(params or {}))
    started = time.perf_counter()
    say(f"building the {len(interactions):,}-row interaction matrix")
    matrix = build_matrix(
        interactions, weighting=weighting or model_class(model_type).default_weighting, items=items
    )
    say(f"fitting {model_type} on {matrix.shape[0]:,} users x {matrix.shape[1]:,} movies")
    model.fit(matrix)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    say(f"writing the artifact to {store.uri}")
    training: dict[str, Any] = {"fit_seconds": round(fit_seconds, 3)}
    if database is not None:
        training["database"] = database
    info = save_model(store, model, extra_manifest={"training": training})
    pruned = tuple(prune(store, model_type, keep=keep)) if keep is not None else ()
    return TrainReport(
        artifact=info,
        rows_read=len(interactions),
        n_users=matrix.shape[0],
        n_items=matrix.shape[1],
        read_seconds=0.0,
        fit_seconds=fit_seconds,
        write_seconds=time.perf_counter() - started,
        pruned=pruned,
    )


async def train(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    model_type: str,
    store: ArtifactStore,
    params: Mapping[str, Any] | None = None,
    weighting: WeightingKind | None = None,
    keep: int | None = None,
    weights: EventWeights,
    stage: Stage | None = None,
) -> TrainReport:
    """Read the interactions, fit ``model_type`` and store a new version; returns the report.

    ``weights`` (event type -> weight) says what each event adds to an interaction.
    """
    # Validate the model type and parameters before reading a possibly large table, and the
    # catalogue's size against a model that caps it (dense EASE): a refusal after the read
    # cost 79 s and 3.4 GB at 25M rows.
    model = create_model(model_type, dict(params or {}))
    say = stage or _silent
    if model.size_limited:
        model.check_catalogue(await count_movies(session_factory, weights))
    say("reading ratings and events from the database")
    started = time.perf_counter()
    interactions = await read_interactions(session_factory, weights)
    items = None
    if model_class(model_type).needs_items:
        items = await read_item_attributes(session_factory)
    database = await database_fingerprint(session_factory)
    read_seconds = time.perf_counter() - started
    report = fit_and_store(
        interactions,
        model_type=model_type,
        store=store,
        params=params,
        weighting=weighting,
        keep=keep,
        stage=say,
        items=items,
        database=database,
    )
    return replace(report, read_seconds=read_seconds)


async def database_fingerprint(session_factory: async_sessionmaker[AsyncSession]) -> str | None:
    """The fingerprint of the dataset the database was seeded with (None: never seeded)."""
    async with session_factory() as session:
        seed = await DatasetSeedRepository(session).latest()
    return seed.fingerprint if seed is not None else None


@dataclass(frozen=True)
class StoredModel:
    """What ``ensure-models`` found for one model type: keep ``version``, or why to train."""

    model_type: str
    version: str | None  # LATEST, when its manifest reads back
    # Why LATEST must not serve this database (None: it may); e.g. trained on other data.
    stale: str | None = None

    @property
    def keep(self) -> bool:
        """True when LATEST can serve as it is."""
        return self.version is not None and self.stale is None


async def check_stored(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    store: ArtifactStore,
    model_types: Sequence[str],
) -> list[StoredModel]:
    """Each type's LATEST, and whether it was trained on the data this database was seeded with.

    A manifest names the database it was trained on (``training.database``, the seed's
    fingerprint), or, written before that, the fingerprint of the interactions it read, which
    equals the seed's when no events had been added. Events added since the training do not
    make a model stale: keeping models current is ``recsys train``'s and the hot reload's job;
    this check only stops a model of another dataset from serving. A database without a seed
    record (events imported only) cannot be compared: its models are kept.
    """
    database = await database_fingerprint(session_factory)
    found = []
    for model_type in model_types:
        try:
            version = read_latest(store, model_type)
            manifest = read_manifest(store, model_type, version)
        except ArtifactError:
            found.append(StoredModel(model_type, None))
            continue
        trained_on = manifest.training.get("database") or manifest.data.get("fingerprint")
        stale = None
        if database is not None and trained_on != database:
            stale = (
                f"was trained on other data (fingerprint {_short(trained_on)}, "
                f"database {_short(database)})"
            )
        found.append(StoredModel(model_type, version, stale))
    return found


def _short(fingerprint: object) -> str:
    # "sha256:" and 12 hex digits: enough to tell two datasets apart on one line.
    return str(fingerprint)[:19] if fingerprint else "none"


def _silent(_message: str) -> None:
    pass
