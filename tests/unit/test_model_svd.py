"""Truncated SVD against numpy's dense SVD of the same matrix."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.modeling.base import History
from recsys.modeling.dataset import InteractionMatrix, build_matrix
from recsys.modeling.errors import ModelStateError
from recsys.modeling.svd import SVDParams, SVDRecommender
from recsys.modeling.toy import random_interactions

F = 5
K = 8


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    return random_interactions(users=40, items=25, density=0.25, seed=3)


@pytest.fixture(scope="module")
def matrix(interactions: Interactions) -> InteractionMatrix:
    return build_matrix(interactions, weighting="rating")


@pytest.fixture(scope="module")
def model(matrix: InteractionMatrix) -> SVDRecommender:
    return SVDRecommender(SVDParams(factors=F, random_state=1)).fit(matrix)


@pytest.fixture(scope="module")
def reconstruction(matrix: InteractionMatrix) -> np.ndarray:
    u, s, vt = np.linalg.svd(matrix.user_items.toarray().astype(np.float64), full_matrices=False)
    rank_f: np.ndarray = (u[:, :F] * s[:F]) @ vt[:F]
    return rank_f


def test_singular_values_match_numpy(model: SVDRecommender, matrix: InteractionMatrix) -> None:
    s = np.linalg.svd(matrix.user_items.toarray().astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(model.singular_values, s[:F], rtol=1e-5)
    # V has orthonormal columns.
    np.testing.assert_allclose(model.item_factors.T @ model.item_factors, np.eye(F), atol=1e-5)


def test_scores_are_the_rank_f_reconstruction(
    model: SVDRecommender,
    matrix: InteractionMatrix,
    interactions: Interactions,
    reconstruction: np.ndarray,
) -> None:
    ids, scores = model.recommend_batch(matrix.user_ids, histories=interactions, k=K)
    seen = matrix.user_items.toarray() > 0
    expected = np.where(seen, -np.inf, reconstruction)
    for row in range(matrix.shape[0]):
        order = np.argsort(-expected[row], kind="stable")[:K]
        np.testing.assert_array_equal(ids[row], matrix.item_ids[order])
        np.testing.assert_allclose(scores[row], expected[row, order], rtol=1e-4, atol=1e-5)


def test_fold_in_of_a_training_row_gives_that_users_scores(
    model: SVDRecommender, matrix: InteractionMatrix, reconstruction: np.ndarray
) -> None:
    # x V = U S: a new user with training user 7's ratings is scored exactly as user 7.
    row = matrix.user_items[7]
    history = History(matrix.item_ids[row.indices], row.data)
    ids, scores = model.recommend(10_000, history=history, k=K)
    assert not model.knows_user(10_000)
    known_ids, known_scores = model.recommend(int(matrix.user_ids[7]), history=history, k=K)
    np.testing.assert_array_equal(ids, known_ids)
    np.testing.assert_allclose(scores, known_scores, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, reconstruction[7, matrix.item_index(ids)], rtol=1e-4)


def test_a_rating_after_training_is_projected_into_a_known_users_scores(
    model: SVDRecommender, matrix: InteractionMatrix, reconstruction: np.ndarray
) -> None:
    # The user's current row x + r e_j is projected: scores = (x + r e_j) V V^T.
    row = matrix.user_items[7]
    unrated = int(np.setdiff1d(np.arange(matrix.shape[1]), row.indices)[0])
    history = History(
        np.append(matrix.item_ids[row.indices], matrix.item_ids[unrated]), np.append(row.data, 4.0)
    )
    ids, scores = model.recommend(int(matrix.user_ids[7]), history=history, k=K)
    v = model.item_factors.astype(np.float64)
    expected = reconstruction[7] + 4.0 * (v[unrated] @ v.T)
    np.testing.assert_allclose(scores, expected[matrix.item_index(ids)], rtol=1e-4, atol=1e-5)
    assert matrix.item_ids[unrated] not in ids


def test_similar_items_are_column_cosines_of_the_reconstruction(
    model: SVDRecommender, matrix: InteractionMatrix, reconstruction: np.ndarray
) -> None:
    columns = reconstruction / np.linalg.norm(reconstruction, axis=0)
    cosine = columns.T @ columns
    for item in (0, 11):
        ids, scores = model.similar_items(int(matrix.item_ids[item]), k=K)
        expected = cosine[item].copy()
        expected[item] = -np.inf
        order = np.argsort(-expected, kind="stable")[:K]
        np.testing.assert_array_equal(ids, matrix.item_ids[order])
        np.testing.assert_allclose(scores, expected[order], rtol=1e-4, atol=1e-5)


def test_more_factors_than_the_matrix_has_is_refused(matrix: InteractionMatrix) -> None:
    with pytest.raises(ValueError, match=r"svd\.factors must be at most min\(users, items\) = 25"):
        SVDRecommender(SVDParams(factors=26)).fit(matrix)


def test_the_seed_gives_identical_factors(matrix: InteractionMatrix, model: SVDRecommender) -> None:
    again = SVDRecommender(SVDParams(factors=F, random_state=1)).fit(matrix)
    np.testing.assert_array_equal(again.item_factors, model.item_factors)
    np.testing.assert_array_equal(again.user_factors, model.user_factors)


def test_state_round_trip_and_bad_shapes(model: SVDRecommender) -> None:
    state = model.to_state()
    params = model.params.to_dict()
    again = SVDRecommender.from_state(params, model.data_info, state)
    np.testing.assert_array_equal(again.singular_values, model.singular_values)
    assert again.similar_items(int(model.item_ids[0]), k=5)[0].tolist() == (
        model.similar_items(int(model.item_ids[0]), k=5)[0].tolist()
    )
    factors = {k: v for k, v in state["factors"].items() if k != "singular_values"}
    with pytest.raises(ModelStateError, match=r"factors\.npz lacks array\(s\) singular_values"):
        SVDRecommender.from_state(params, model.data_info, {**state, "factors": factors})
    factors["singular_values"] = np.zeros(F + 1, np.float32)
    with pytest.raises(ModelStateError, match=rf"singular_values \({F + 1},\) do not match"):
        SVDRecommender.from_state(params, model.data_info, {**state, "factors": factors})
