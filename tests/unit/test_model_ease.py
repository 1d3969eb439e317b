"""EASE against Steck's formula written out in numpy, and against per-column least squares."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.modeling.base import History
from recsys.modeling.dataset import InteractionMatrix, build_matrix
from recsys.modeling.ease import EASEParams, EASERecommender
from recsys.modeling.toy import random_interactions

L2 = 3.0


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    return random_interactions(users=25, items=9, density=0.35, seed=5)


@pytest.fixture(scope="module")
def matrix(interactions: Interactions) -> InteractionMatrix:
    return build_matrix(interactions, weighting="binary")


@pytest.fixture(scope="module")
def model(matrix: InteractionMatrix) -> EASERecommender:
    return EASERecommender(EASEParams(l2=L2)).fit(matrix)


def dense(matrix: InteractionMatrix) -> np.ndarray:
    x: np.ndarray = matrix.user_items.toarray().astype(np.float64)
    return x


def test_weights_match_the_closed_form(model: EASERecommender, matrix: InteractionMatrix) -> None:
    x = dense(matrix)
    p = np.linalg.inv(x.T @ x + L2 * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights, b, rtol=1e-5, atol=1e-6)


def test_each_column_is_the_ridge_regression_of_that_item_on_the_others(
    model: EASERecommender, matrix: InteractionMatrix
) -> None:
    # The definition, independent of the inverse trick: column j of B regresses item j on
    # every other item with an L2 penalty, its own weight held at 0.
    x = dense(matrix)
    for j in range(x.shape[1]):
        others = np.delete(np.arange(x.shape[1]), j)
        xo = x[:, others]
        beta = np.linalg.solve(xo.T @ xo + L2 * np.eye(len(others)), xo.T @ x[:, j])
        np.testing.assert_allclose(model.weights[others, j], beta, rtol=1e-4, atol=1e-6)
        assert model.weights[j, j] == 0.0


def test_scores_are_history_times_weights(
    model: EASERecommender, matrix: InteractionMatrix
) -> None:
    history = History.of(matrix.item_ids[[0, 3, 4]], [5.0, 1.0, 3.0])  # binary: values ignored
    expected = model.weights[[0, 3, 4]].sum(axis=0)
    expected[[0, 3, 4]] = -np.inf
    ids, scores = model.recommend(10_000, history=history, k=6)
    order = np.lexsort((np.arange(expected.shape[0]), -expected))[:6]
    np.testing.assert_array_equal(ids, matrix.item_ids[order])
    np.testing.assert_allclose(scores, expected[order], rtol=1e-5)


def test_similar_items_are_the_weight_row(
    model: EASERecommender, matrix: InteractionMatrix
) -> None:
    ids, scores = model.similar_items(int(matrix.item_ids[2]), k=3)
    row = model.weights[2].copy()
    row[2] = -np.inf
    top = np.argsort(-row, kind="stable")[:3]
    np.testing.assert_array_equal(ids, matrix.item_ids[top])
    np.testing.assert_allclose(scores, row[top])


def test_refuses_a_catalogue_above_max_items(matrix: InteractionMatrix) -> None:
    model = EASERecommender(EASEParams(max_items=8))
    with pytest.raises(ValueError, match=r"9 items exceed ease\.max_items = 8.*iB"):
        model.fit(matrix)
    assert not model.is_fitted


def test_bad_params_name_the_parameter_and_range() -> None:
    with pytest.raises(ValueError, match=r"ease\.l2 must be a number in \(0, inf\)"):
        EASEParams(l2=0.0)
    with pytest.raises(ValueError, match=r"ease\.max_items must be an integer in \[1, 100000\]"):
        EASEParams(max_items=200_000)


def test_top_items_is_ease_on_the_most_rated_items(matrix: InteractionMatrix) -> None:
    counts = np.diff(matrix.user_items.tocsc().indptr)
    subset = np.sort(np.argsort(-counts, kind="stable")[:5])
    model = EASERecommender(EASEParams(l2=L2, top_items=5)).fit(matrix)
    assert model.subset is not None
    np.testing.assert_array_equal(model.subset, subset)
    x = dense(matrix)[:, subset]
    p = np.linalg.inv(x.T @ x + L2 * np.eye(5))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights, b, rtol=1e-5, atol=1e-6)
    # Items outside the subset are never recommended; the rest score history @ B.
    user = int(matrix.user_ids[0])
    row = matrix.user_items[0]
    ids, scores = model.recommend(user, history=History.of(matrix.item_ids[row.indices]), k=9)
    assert set(ids.tolist()) <= set(matrix.item_ids[subset].tolist())
    restored = EASERecommender.from_state({}, model.data_info, model.to_state())
    np.testing.assert_array_equal(restored.subset, model.subset)


def test_oversize_is_refused_in_one_line_before_fitting(matrix: InteractionMatrix) -> None:
    with pytest.raises(ValueError, match="exceed ease.max_items") as error:
        EASERecommender(EASEParams(max_items=4)).fit(matrix)
    assert "\n" not in str(error.value)
    EASERecommender(EASEParams(max_items=4, top_items=4)).fit(matrix)  # fits on 4 items


def test_catalogue_check_needs_no_data() -> None:
    # What training asks before reading the interactions: the catalogue size alone.
    assert EASERecommender.size_limited
    EASERecommender(EASEParams(max_items=8)).check_catalogue(8)
    with pytest.raises(ValueError, match=r"^ease: 9 items exceed ease\.max_items = 8; [^\n]*$"):
        EASERecommender(EASEParams(max_items=8)).check_catalogue(9)
    EASERecommender(EASEParams(max_items=8, top_items=8)).check_catalogue(1_000)
