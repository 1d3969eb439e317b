"""ML-100K leave-last-out: Spark's ALS at the mapped parameters ranks as well as implicit's.

Both fit the same weighted train matrix; both are scored the way the API scores (each user's
vector folded in from the train history against the model's item factors), on every movie the
user has not rated. Spark's NDCG@10 must lie inside implicit's 95% interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from recsys.data.loader import load_dataset
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import interactions_from_ratings, leave_last_out
from recsys.modeling.als import ALSParams
from recsys.modeling.artifacts import LocalArtifactStore
from recsys.modeling.dataset import build_matrix
from recsys.modeling.spark.model import SparkALSRecommender

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
# Fewer iterations than the default 30 to keep CI short; the benchmark runs the defaults.
PARAMS = {"factors": 32, "iterations": 10}


def test_spark_ndcg_at_10_is_within_implicit_s_interval(
    spark: SparkSession, ml100k_dir: Path, tmp_path: Path
) -> None:
    ratings = load_dataset(ml100k_dir).ratings
    split = leave_last_out(interactions_from_ratings(ratings))
    data = EvalData.from_split(split)

    implicit_model, _ = fit_model("als", split.train, params=PARAMS)
    implicit = evaluate_model(implicit_model, data, k=10, with_auc=False).estimates()["ndcg"]

    spark_model = SparkALSRecommender(
        ALSParams(**PARAMS),
        session=spark,
        store=LocalArtifactStore(tmp_path),
        export_folder="spark-exports/ml100k",
    )
    spark_model.fit(build_matrix(split.train, weighting="confidence"))
    on_spark = evaluate_model(spark_model, data, k=10, with_auc=False).estimates()["ndcg"]

    report = (
        f"NDCG@10 implicit {implicit.mean:.4f} [{implicit.low:.4f}, {implicit.high:.4f}], "
        f"spark {on_spark.mean:.4f} [{on_spark.low:.4f}, {on_spark.high:.4f}] (n={implicit.n})"
    )
    print(report)
    assert implicit.n == on_spark.n == data.users.shape[0] > 900
    # Far above popularity's ~0.02 on this split: both learned something.
    assert implicit.mean > 0.03 and on_spark.mean > 0.03, report
    assert implicit.low <= on_spark.mean <= implicit.high, report
