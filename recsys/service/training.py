"""The training job: read every interaction from the database, fit one model, store a version.

Interactions are ratings and events summed per (user, movie) by recsys.events' rule
(``RatingRepository.export``), as the video seed sums its interaction values.

Shared by ``recsys train`` and the API's tooling; the layers stay one-way (this module uses
``db.repositories`` and ``modeling``; neither knows about it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recsys.data.frames import Interactions
from recsys.db.repositories import MovieRepository, RatingRepository
from recsys.events import EventWeights
from recsys.modeling.artifacts import ArtifactInfo, ArtifactStore, prune, save_model
from recsys.modeling.dataset import build_matrix
from recsys.modeling.items import ItemAttributes
from recsys.modeling.registry import create_model, model_class
from recsys.modeling.weighting import WeightingKind

# Each model type's default weighting of raw 1-5 ratings: ALS takes confidence weights
# (Hu, Koren & Volinsky), item-kNN applies its own cosine/BM25 normalisation to 0/1 input, and
# popularity counts every interaction once. BPR reads only which cells are non-zero, EASE and
# co-occurrence are defined on 0/1 data, random ignores the matrix, and SVD of the 0/1 matrix
# did as well as of raw ratings (ML-100K leave-last-out HR@10 0.089 vs 0.082).
DEFAULT_WEIGHTING: Mapping[str, WeightingKind] = {
    "als": "confidence",
    "bpr": "binary",
    "cooccurrence": "binary",
    "ease": "binary",
    "item_knn": "binary",
    "popularity": "binary",
    "random": "binary",
    "recent_knn": "binary",
    "recent_popularity": "binary",
    "svd": "binary",
    "transitions": "binary",
    # Each of its candidate sources applies its own weighting to the raw ratings.
    "two_stage": "binary",
}

Stage = Callable[[str], None]


class NoInteractionsError(RuntimeError):
    """The database holds no ratings or events to train on."""


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

    @property
    def total_seconds(self) -> float:
        """Read + fit + write."""
        return self.read_seconds + self.fit_seconds + self.write_seconds


async def read_interactions(
    session_factory: async_sessionmaker[AsyncSession], weights: EventWeights | None = None
) -> Interactions:
    """Every (user, movie) interaction as column arrays: ratings plus events' weights.

    ``weights`` None means RECSYS_EVENT_WEIGHTS.
    """
    async with session_factory() as session:
        return await RatingRepository(session).export(weights)


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
) -> TrainReport:
    """Build the matrix, fit ``model_type``, save it (LATEST last) and prune old versions.

    ``items`` (movie years and genres) are required by the models that read them.
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
        interactions, weighting=weighting or DEFAULT_WEIGHTING[model_type], items=items
    )
    say(f"fitting {model_type} on {matrix.shape[0]:,} users x {matrix.shape[1]:,} movies")
    model.fit(matrix)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    say(f"writing the artifact to {store.uri}")
    info = save_model(
        store, model, extra_manifest={"training": {"fit_seconds": round(fit_seconds, 3)}}
    )
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
    stage: Stage | None = None,
    weights: EventWeights | None = None,
) -> TrainReport:
    """Read the interactions, fit ``model_type`` and store a new version; returns the report.

    ``weights`` (event type -> weight) None means RECSYS_EVENT_WEIGHTS.
    """
    # Validate the model type and parameters before reading a possibly large table.
    create_model(model_type, dict(params or {}))
    say = stage or _silent
    say("reading ratings and events from the database")
    started = time.perf_counter()
    interactions = await read_interactions(session_factory, weights)
    items = None
    if model_class(model_type).needs_items:
        items = await read_item_attributes(session_factory)
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
    )
    return replace(report, read_seconds=read_seconds)


def _silent(_message: str) -> None:
    pass
