"""Spark's ALS on the toy catalogue: within-group answers, and an artifact that is plain ALS's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recsys.modeling.als import ALSParams, ALSRecommender
from recsys.modeling.artifacts import LocalArtifactStore, load_model, save_model
from recsys.modeling.dataset import build_matrix
from recsys.modeling.spark.model import SparkALSRecommender
from recsys.modeling.toy import GROUP_A_FIRST_ITEM, GROUP_B_FIRST_ITEM, two_taste_groups

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TOY = ALSParams(factors=2, iterations=8, regularization=0.1, random_state=7)


def _group(movie_id: int) -> str:
    return "A" if GROUP_A_FIRST_ITEM <= movie_id < GROUP_B_FIRST_ITEM else "B"


def test_spark_als_recommends_and_relates_within_each_taste_group(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path)
    matrix = build_matrix(two_taste_groups(), weighting="confidence")
    model = SparkALSRecommender(TOY, session=spark, store=store, export_folder="spark-exports/t")
    model.fit(matrix)
    # User 1 is in group A (ids 1..12), user 13 in group B (13..18); each skipped two movies.
    for user, group in ((1, "A"), (13, "B")):
        ids, scores = model.recommend(user, k=2)
        assert [_group(int(i)) for i in ids] == [group, group], (user, ids, scores)
    similar, _ = model.similar_items(GROUP_B_FIRST_ITEM + 3, k=3)
    assert {_group(int(i)) for i in similar} == {"B"}
    # The export was read and removed: nothing is left in the store but what we save next.
    assert store.list() == []
    run = model.run
    assert run is not None and run.export.rows == matrix.nnz == 108
    assert run.params.implicitPrefs and run.params.rank == 2 and run.params.maxIter == 8


def test_the_saved_version_loads_as_plain_als_with_identical_scores(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path)
    matrix = build_matrix(two_taste_groups(), weighting="confidence")
    model = SparkALSRecommender(
        TOY, session=spark, store=store, export_folder="spark-exports/t", keep_export=True
    )
    model.fit(matrix)
    assert run_files(store) == ["spark-exports/t/interactions/part-00000.parquet"]
    assert model.run is not None
    save_model(store, model, extra_manifest={"training": {"spark": model.run.to_dict()}})
    loaded, manifest = load_model(store, "als")
    assert isinstance(loaded, ALSRecommender) and manifest.model_type == "als"
    assert type(loaded) is ALSRecommender
    assert manifest.training["spark"]["version"] == spark.version
    assert manifest.training["spark"]["params"]["rating_scale"] == TOY.alpha
    np.testing.assert_array_equal(loaded.item_factors, model.item_factors)
    users = np.arange(1, 19)
    history = two_taste_groups()
    _, original = model.recommend_batch(users, histories=history, k=5)
    _, reloaded = loaded.recommend_batch(users, histories=history, k=5)
    np.testing.assert_array_equal(original, reloaded)


def run_files(store: LocalArtifactStore) -> list[str]:
    return [key for key in store.list() if not key.endswith(".crc")]
