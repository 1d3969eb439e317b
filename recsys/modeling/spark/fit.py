"""Fit pyspark.ml.recommendation.ALS on an export and bring the factors back as numpy arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recsys.modeling.dataset import FloatArray
from recsys.modeling.spark.mapping import MIN_RATING, SparkALSParams

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def fit_factors(
    session: SparkSession,
    export_uri: str,
    params: SparkALSParams,
    *,
    n_users: int,
    n_items: int,
    checkpoint_uri: str | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(user factors, item factors), rows in matrix order, from ALS on ``export_uri``."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    if checkpoint_uri is not None:
        # Without a checkpoint directory Spark ignores checkpointInterval, and the lineage of
        # many iterations can overflow the JVM's stack.
        session.sparkContext.setCheckpointDir(checkpoint_uri)
    frame = session.read.parquet(export_uri).select(
        "user",
        "item",
        F.greatest(F.col("weight") * F.lit(params.rating_scale) - F.lit(1.0), F.lit(MIN_RATING))
        .cast("float")
        .alias("rating"),
    )
    als = ALS(userCol="user", itemCol="item", ratingCol="rating", **params.als_kwargs())
    model = als.fit(frame)
    users = _dense(model.userFactors, n_users, params.rank, "users")
    items = _dense(model.itemFactors, n_items, params.rank, "items")
    return users, items


def _dense(frame: DataFrame, n_rows: int, rank: int, what: str) -> FloatArray:
    # Spark returns (id, features) rows in no order; id is the matrix row or column.
    import pyarrow.compute as pc

    table = frame.select("id", "features").toArrow()
    ids = table.column("id").to_numpy()
    flat = pc.list_flatten(table.column("features")).to_numpy()
    out = np.zeros((n_rows, rank), dtype=np.float32)
    if ids.shape[0] != n_rows or flat.shape[0] != ids.shape[0] * rank:
        # Every row of the matrix has at least one entry with a positive rating, so Spark
        # returns a vector for each; anything else is a broken export.
        raise ValueError(
            f"Spark returned {ids.shape[0]} {what} factors of rank "
            f"{flat.shape[0] // max(ids.shape[0], 1)}, expected {n_rows} of rank {rank}"
        )
    out[ids] = flat.reshape(-1, rank)
    return out
