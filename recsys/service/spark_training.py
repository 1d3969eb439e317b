"""``recsys train --model-type als --engine spark``: the training job with ALS fitted on Spark.

The database is read as ``recsys train`` reads it (ratings and events summed per user and
movie, the model's weighting), the weighted matrix is exported once to Parquet in a store (the
artifact store by default: a local folder, or under its GCS bucket) so that Spark's executors
read files, never the database, and the factors Spark returns are saved as an ordinary ``als``
version: API, fold-in, similar movies, ``predict``, ``models list/promote`` and hot reload
serve it as they serve implicit's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recsys.events import EventWeights
from recsys.modeling.als import ALSParams
from recsys.modeling.artifacts import ArtifactStore, prune, save_model
from recsys.modeling.artifacts.manifest import new_version
from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model, model_class
from recsys.modeling.spark import SparkUnavailableError, check_spark_available
from recsys.modeling.spark.model import SparkALSRecommender
from recsys.modeling.spark.session import DEFAULT_MASTER, session_conf, spark_session
from recsys.modeling.weighting import WeightingKind
from recsys.service.errors import NoInteractionsError
from recsys.service.training import (
    Stage,
    TrainReport,
    _silent,
    database_fingerprint,
    read_interactions,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Key prefix of the Parquet exports in the store; one folder per run, removed after the fit.
EXPORT_PREFIX = "spark-exports"

# Read, build the matrix, start Spark, export, fit, write: the stages the CLI's bar counts.
SPARK_STAGES = 6

__all__ = ["SPARK_STAGES", "SparkOptions", "SparkUnavailableError", "check_spark", "train_spark"]


def check_spark() -> str:
    """pyspark's version, or ``SparkUnavailableError`` saying what to install (pyspark, Java)."""
    return check_spark_available()


@dataclass(frozen=True)
class SparkOptions:
    """Where Spark runs and how: master, extra ``spark.*`` settings, where the export goes."""

    master: str = DEFAULT_MASTER
    conf: Mapping[str, str] = field(default_factory=dict)
    # Parquet export store (default: the artifact store itself).
    export_store: ArtifactStore | None = None
    keep_export: bool = False
    # A running session to use (tests share one); None starts one and stops it at the end.
    session: SparkSession | None = None


async def train_spark(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    store: ArtifactStore,
    weights: EventWeights,
    params: Mapping[str, Any] | None = None,
    weighting: WeightingKind | None = None,
    keep: int | None = None,
    spark: SparkOptions | None = None,
    stage: Stage | None = None,
) -> TrainReport:
    """Read the interactions, fit ALS on Spark and store a new ``als`` version."""
    options = spark or SparkOptions()
    say = stage or _silent
    # Everything that can be refused is refused before the database is read.
    als_params = create_model("als", dict(params or {})).params
    assert isinstance(als_params, ALSParams)
    running_version = options.session.version if options.session is not None else None
    spark_version = running_version or check_spark_available()
    say("reading ratings and events from the database")
    started = time.perf_counter()
    interactions = await read_interactions(session_factory, weights)
    database = await database_fingerprint(session_factory)
    read_seconds = time.perf_counter() - started
    if len(interactions) == 0:
        raise NoInteractionsError(
            "no ratings or events to train on: seed a dataset first (recsys db upgrade) "
            "or import events (recsys data import-events)"
        )
    say(f"building the {len(interactions):,}-row interaction matrix")
    matrix = build_matrix(interactions, weighting=weighting or model_class("als").default_weighting)
    conf = session_conf(options.master, options.conf)
    running: AbstractContextManager[SparkSession] = (
        nullcontext(options.session)
        if options.session is not None
        else spark_session(options.master, options.conf)
    )
    if options.session is None:
        say(f"starting Spark {spark_version} on {options.master}")
    with running as session:
        model = SparkALSRecommender(
            als_params,
            session=session,
            store=options.export_store or store,
            export_folder=f"{EXPORT_PREFIX}/{new_version()}",
            keep_export=options.keep_export,
            conf=conf,
            stage=say,
        )
        model.fit(matrix)
    run = model.run
    assert run is not None
    started = time.perf_counter()
    say(f"writing the artifact to {store.uri}")
    training: dict[str, Any] = {
        "engine": "spark",
        "fit_seconds": round(run.fit_seconds, 3),
        "spark": run.to_dict(),
    }
    if database is not None:
        training["database"] = database
    info = save_model(store, model, extra_manifest={"training": training})
    pruned = tuple(prune(store, "als", keep=keep)) if keep is not None else ()
    return TrainReport(
        artifact=info,
        rows_read=len(interactions),
        n_users=matrix.shape[0],
        n_items=matrix.shape[1],
        read_seconds=read_seconds,
        fit_seconds=run.fit_seconds,
        write_seconds=time.perf_counter() - started,
        pruned=pruned,
        engine="spark",
        export_seconds=run.export_seconds,
    )
