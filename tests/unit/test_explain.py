"""Reasons: the history movie that led an item-to-item model to each recommendation."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.data.frames import Interactions
from recsys.modeling.base import History
from recsys.modeling.dataset import build_matrix
from recsys.modeling.explain import NO_ANCHOR, anchors
from recsys.modeling.registry import create_model

ITEMS = np.array([10, 20, 30, 40, 50], dtype=np.int64)


def item_item(pairs: dict[tuple[int, int], float]) -> sp.csr_matrix:
    """Items x items CSR over ``ITEMS`` from {(movie i, movie j): weight}."""
    index = {int(m): n for n, m in enumerate(ITEMS)}
    rows = [index[i] for i, _ in pairs]
    cols = [index[j] for _, j in pairs]
    return sp.csr_matrix((np.array(list(pairs.values()), np.float32), (rows, cols)), shape=(5, 5))


def test_the_strongest_history_item_is_the_anchor_and_unrelated_movies_have_none() -> None:
    matrix = item_item({(10, 40): 0.2, (20, 40): 0.9, (10, 50): 0.5})
    history = History.of([10, 20])
    got = anchors(ITEMS, [matrix], history, [40, 50, 30, 999])
    assert got.tolist() == [20, 10, NO_ANCHOR, NO_ANCHOR]


def test_with_timestamps_a_recent_item_outweighs_an_equally_related_old_one() -> None:
    matrix = item_item({(10, 40): 1.0, (20, 40): 1.0})
    recent_20 = History.of([10, 20], timestamps=[100, 200])
    recent_10 = History.of([10, 20], timestamps=[200, 100])
    assert anchors(ITEMS, [matrix], recent_20, [40], last=10, recency=0.5).tolist() == [20]
    assert anchors(ITEMS, [matrix], recent_10, [40], last=10, recency=0.5).tolist() == [10]
    # Beyond the window an item cannot anchor, however related.
    strong_old = item_item({(10, 40): 9.0, (20, 40): 1.0})
    assert anchors(ITEMS, [strong_old], recent_20, [40], last=1, recency=0.5).tolist() == [20]
    # Without a window (item_knn and the like) every item weighs 1: the most related wins.
    assert anchors(ITEMS, [strong_old], recent_20, [40]).tolist() == [10]


def test_a_later_matrix_explains_only_what_the_first_could_not() -> None:
    first = item_item({(10, 40): 0.1})
    second = item_item({(20, 40): 5.0, (20, 50): 1.0})
    got = anchors(ITEMS, [first, second], History.of([10, 20]), [40, 50])
    assert got.tolist() == [10, 20]


def test_models_without_item_to_item_structure_give_no_reasons() -> None:
    # Users 1-3 watch 10 then 20; ALS has no item-to-item matrix to say "because".
    users = np.array([1, 1, 2, 2, 3, 3, 4], dtype=np.int64)
    movies = np.array([10, 20, 10, 20, 10, 20, 30], dtype=np.int64)
    data = Interactions(users, movies, np.full(7, 4.0, np.float32), np.arange(7, dtype=np.int64))
    history = History.of([10], timestamps=[100])
    als = create_model("als", {"factors": 2, "iterations": 2}).fit(build_matrix(data))
    ids, _ = als.recommend(9, history=history, k=2)
    assert (als.explain(history, ids) == NO_ANCHOR).all()
    transitions = create_model("transitions").fit(build_matrix(data, weighting="binary"))
    ids, _ = transitions.recommend(9, history=history, k=1)
    assert ids.tolist() == [20] and transitions.explain(history, ids).tolist() == [10]
