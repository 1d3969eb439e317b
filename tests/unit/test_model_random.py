"""The random baseline: uniform, independent, and a pure function of (seed, user id, movie id)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.modeling.base import History
from recsys.modeling.dataset import InteractionMatrix, build_matrix
from recsys.modeling.random_baseline import RandomParams, RandomRecommender, uniform_scores
from recsys.modeling.toy import random_interactions

N_ITEMS = 20


@pytest.fixture(scope="module")
def matrix() -> InteractionMatrix:
    return build_matrix(random_interactions(users=30, items=N_ITEMS, density=0.2, seed=1))


@pytest.fixture(scope="module")
def model(matrix: InteractionMatrix) -> RandomRecommender:
    return RandomRecommender(RandomParams(random_state=5)).fit(matrix)


def empty(n: int) -> list[History]:
    return [History.empty()] * n


def test_top_pick_is_uniform_over_the_catalogue(model: RandomRecommender) -> None:
    users = np.arange(100_000, 104_000)
    ids, _ = model.recommend_batch(users, histories=empty(len(users)), k=1)
    counts = np.unique(ids[:, 0], return_counts=True)[1]
    assert counts.shape == (N_ITEMS,)
    # Pearson chi-square, 19 degrees of freedom: 43.8 is its 0.999 quantile.
    expected = len(users) / N_ITEMS
    assert float(np.sum((counts - expected) ** 2 / expected)) < 43.8


def test_scores_are_uniform_and_uncorrelated_between_users(model: RandomRecommender) -> None:
    users = np.arange(1, 2001)
    _, scores = model.recommend_batch(users, histories=empty(len(users)), k=N_ITEMS)
    assert scores.min() >= 0.0 and scores.max() < 1.0
    assert abs(float(scores.mean()) - 0.5) < 0.01
    # Two users' scores for the same movies: correlation near zero.
    raw = uniform_scores(np.array([11, 12], dtype=np.uint64), np.arange(5000, dtype=np.int64))
    assert abs(float(np.corrcoef(raw[0], raw[1])[0, 1])) < 0.05


def test_a_users_list_depends_only_on_seed_and_user_id(model: RandomRecommender) -> None:
    alone, alone_scores = model.recommend(777_777, k=5)
    users = np.array([3, 777_777, 12, 999_999])
    ids, scores = model.recommend_batch(users, histories=empty(4), k=5)
    np.testing.assert_array_equal(ids[1], alone)
    np.testing.assert_array_equal(scores[1], alone_scores)
    # Different users, known or not, get different lists.
    assert len({tuple(row) for row in ids.tolist()}) == 4


def test_another_seed_gives_other_lists(
    model: RandomRecommender, matrix: InteractionMatrix
) -> None:
    other = RandomRecommender(RandomParams(random_state=6)).fit(matrix)
    users = np.arange(1, 31)
    mine, _ = model.recommend_batch(users, histories=empty(30), k=5)
    theirs, _ = other.recommend_batch(users, histories=empty(30), k=5)
    assert np.mean(np.all(mine == theirs, axis=1)) < 0.1


def test_history_is_excluded_and_unknown_users_are_served(model: RandomRecommender) -> None:
    history = History.of(model.item_ids[:15])
    ids, _ = model.recommend(123_456, history=history, k=10)
    np.testing.assert_array_equal(np.sort(ids), model.item_ids[15:])
    assert not model.personalised and not model.knows_user(123_456)
