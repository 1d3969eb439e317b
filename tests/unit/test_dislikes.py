"""Negative feedback in the models: the weightings keep the sign, dislikes push neighbours down.

On the two taste groups (recsys.modeling.toy) a new user who liked one group-A and one
group-B movie gets both groups; after disliking the B movie, every A movie ranks above every B
movie, for each model that reads histories item by item or by fold-in.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data.frames import Interactions
from recsys.modeling.base import History
from recsys.modeling.dataset import FittedWeighting, Weighting, build_matrix, without_negatives
from recsys.modeling.registry import model_class
from recsys.modeling.toy import GROUP_A_FIRST_ITEM as A
from recsys.modeling.toy import GROUP_B_FIRST_ITEM as B
from recsys.modeling.toy import two_taste_groups
from recsys.modeling.weighting import WeightingKind

NEW_USER = 999


@pytest.mark.parametrize("kind", ["binary", "confidence", "bm25", "rating", "threshold"])
def test_weightings_keep_the_sign_row_and_matrix_alike(kind: WeightingKind) -> None:
    raw = np.array([4.0, -5.0, 0.0, 2.0], dtype=np.float32)
    cols = np.array([0, 1, 2, 3], dtype=np.intp)
    weighting = FittedWeighting(
        Weighting(kind=kind, threshold=3.0),
        np.ones(100, dtype=np.float32),
    )
    # 100 items: bm25's idf is positive for a 4-movie history.
    row_cols, row_weights = weighting.apply_row(cols, raw, n_items=100)
    matrix = weighting.apply(sp.csr_matrix((raw, cols, [0, 4]), shape=(1, 100)))
    matrix.eliminate_zeros()
    dense = np.zeros(100, np.float32)
    dense[row_cols] = row_weights
    np.testing.assert_array_equal(dense, matrix.toarray()[0])
    if kind == "threshold":
        assert dense[1] == 0  # clipped: below any threshold
    elif kind != "rating":
        assert dense[1] < 0 < dense[0]
    if kind == "binary":
        assert dense[:4].tolist() == [1.0, -1.0, 0.0, 1.0]  # a zero sum weighs nothing
    if kind == "confidence":
        assert dense[1] == pytest.approx(-(1 + 5.0))  # implicit's "disliked": -(1 + alpha |r|)


def test_models_that_cannot_learn_negatives_train_on_the_positive_part() -> None:
    data = Interactions(
        user_ids=np.array([1, 1, 2], dtype=np.int64),
        movie_ids=np.array([10, 20, 20], dtype=np.int64),
        ratings=np.array([4.0, -5.0, 3.0], dtype=np.float32),
        timestamps=np.array([1, 2, 3], dtype=np.int64),
    )
    matrix = build_matrix(data, weighting="binary")
    assert matrix.user_items.toarray().tolist() == [[1.0, -1.0], [0.0, 1.0]]
    clipped = without_negatives(matrix)
    assert clipped.user_items.toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert clipped.item_ids.tolist() == [10, 20]  # the vocabulary stays
    assert clipped.source is not None and clipped.source.ratings.tolist() == [4.0, 3.0]
    assert without_negatives(clipped) is clipped


@pytest.mark.parametrize("model_type", ["item_knn", "cooccurrence", "ease", "als", "svd"])
def test_a_dislike_pushes_its_neighbours_below_the_liked_ones(model_type: str) -> None:
    cls = model_class(model_type)
    matrix = build_matrix(two_taste_groups(), weighting=cls.default_weighting)
    model = cls(cls.params_type.from_dict(dict(cls.example_params))).fit(matrix)
    liked = History.of([A, B], [4.0, 4.0])
    disliked = History.of([A, B], [4.0, -4.0])  # B watched (1), then disliked (-5): -4
    k = 14
    before, _ = model.recommend(NEW_USER, history=liked, k=k)
    after, _ = model.recommend(NEW_USER, history=disliked, k=k)
    assert B not in after.tolist() and A not in after.tolist()
    group_b = [i for i in after.tolist() if i >= B]
    group_a = [i for i in after.tolist() if i < B]
    # Every A movie ranks above every B movie once B is disliked; before, B movies were mixed in.
    if group_b:
        assert after.tolist().index(group_b[0]) > after.tolist().index(group_a[-1])
    assert any(i >= B for i in before.tolist()[:7])
