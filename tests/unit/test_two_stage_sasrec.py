"""two_stage with the sasrec source (``sasrec_source``): its score and rank are ranker features,
the one-request path agrees with the batch path, and a saved model loads and answers alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.modeling.artifacts import LocalArtifactStore, load_model, save_model
from recsys.modeling.dataset import build_matrix
from recsys.modeling.items import ItemAttributes
from recsys.modeling.sasrec.model import SASRecRecommender
from recsys.modeling.toy import random_interactions
from recsys.modeling.two_stage.features import feature_names
from recsys.modeling.two_stage.model import TwoStageRecommender
from recsys.modeling.two_stage.params import TwoStageParams
from tests.support.torch import require_torch
from tests.unit.test_two_stage_serving import assert_same_answers


@pytest.fixture(scope="module")
def data() -> Interactions:
    return random_interactions(users=60, items=45, density=0.3, seed=11)


@pytest.fixture(scope="module")
def model(data: Interactions) -> TwoStageRecommender:
    require_torch()
    ids = np.unique(data.movie_ids)
    items = ItemAttributes.from_records(ids.tolist(), [1990] * len(ids), [("A",)] * len(ids))
    params = TwoStageParams(
        per_source=8,
        ease_per_source=12,
        min_child_samples=5,
        learning_rate=0.3,
        validation_share=0.5,
        num_threads=1,
        sasrec_source=True,
    )
    return TwoStageRecommender(params).fit(build_matrix(data, weighting="binary", items=items))


def test_sasrec_is_a_sixth_source_and_its_score_and_rank_are_features(
    model: TwoStageRecommender,
) -> None:
    assert list(model.sources) == [
        "transitions", "recent_knn", "recent_popularity", "ease", "als", "sasrec",
    ]  # fmt: skip
    assert isinstance(model.sources["sasrec"], SASRecRecommender)
    names = model.ranker.feature_name()
    assert names == list(feature_names(tuple(model.sources)))
    assert {"sasrec_score", "sasrec_rank"} <= set(names)


def test_one_request_path_equals_the_batch_path(
    model: TwoStageRecommender, data: Interactions
) -> None:
    assert assert_same_answers(model, data) > 100


def test_saved_and_loaded_it_answers_alike(
    model: TwoStageRecommender, data: Interactions, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path)
    save_model(store, model)
    loaded, manifest = load_model(store, "two_stage")
    assert manifest.params["sasrec_source"] is True
    assert isinstance(loaded, TwoStageRecommender) and "sasrec" in loaded.sources
    users = np.unique(data.user_ids)[:20]
    before = model.recommend_batch(users, histories=data, k=10)
    after = loaded.recommend_batch(users, histories=data, k=10)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


def test_without_the_flag_there_is_no_sasrec_source() -> None:
    assert TwoStageParams().sasrec_source is False
    with pytest.raises(ValueError, match=r"two_stage\.sasrec_source must be true or false"):
        TwoStageParams(sasrec_source="yes")  # type: ignore[arg-type]
