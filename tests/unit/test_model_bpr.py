"""BPR: the same factors and rankings as implicit's own class; fold-in solves BPR's objective."""

from __future__ import annotations

import numpy as np
import pytest
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from recsys.data.frames import Interactions
from recsys.modeling.base import History
from recsys.modeling.bpr import BPRParams, BPRRecommender, bpr_fold_in
from recsys.modeling.dataset import InteractionMatrix, build_matrix
from recsys.modeling.errors import ModelStateError
from recsys.modeling.toy import random_interactions

K = 10
PARAMS = BPRParams(
    factors=8, learning_rate=0.05, regularization=0.02, iterations=30, random_state=3
)


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    return random_interactions(users=60, items=40, density=0.15, seed=11)


@pytest.fixture(scope="module")
def matrix(interactions: Interactions) -> InteractionMatrix:
    return build_matrix(interactions, weighting="binary")


@pytest.fixture(scope="module")
def ours(matrix: InteractionMatrix) -> BPRRecommender:
    return BPRRecommender(PARAMS).fit(matrix)


@pytest.fixture(scope="module")
def theirs(matrix: InteractionMatrix) -> BayesianPersonalizedRanking:
    with threadpool_limits(1, "blas"):
        model = BayesianPersonalizedRanking(
            factors=PARAMS.factors,
            learning_rate=PARAMS.learning_rate,
            regularization=PARAMS.regularization,
            iterations=PARAMS.iterations,
            random_state=PARAMS.random_state,
            num_threads=1,
        )
        model.fit(matrix.user_items, show_progress=False)
    return model


def test_same_factors_with_the_bias_column(
    ours: BPRRecommender, theirs: BayesianPersonalizedRanking
) -> None:
    np.testing.assert_allclose(ours.user_factors, theirs.user_factors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.item_factors, theirs.item_factors, rtol=1e-5, atol=1e-6)
    assert ours.user_factors.shape[1] == PARAMS.factors + 1
    np.testing.assert_array_equal(ours.user_factors[:, -1], 1.0)  # the bias weight


def test_known_users_match_implicit_recommend(
    ours: BPRRecommender,
    theirs: BayesianPersonalizedRanking,
    matrix: InteractionMatrix,
    interactions: Interactions,
) -> None:
    rows = np.arange(matrix.shape[0])
    ids, scores = theirs.recommend(rows, matrix.user_items, N=K, filter_already_liked_items=True)
    our_ids, our_scores = ours.recommend_batch(matrix.user_ids, histories=interactions, k=K)
    np.testing.assert_array_equal(our_ids, matrix.item_ids[ids])
    np.testing.assert_allclose(our_scores, scores, rtol=1e-4, atol=1e-5)


def test_similar_items_match_implicit(
    ours: BPRRecommender, theirs: BayesianPersonalizedRanking, matrix: InteractionMatrix
) -> None:
    for item in (0, 7, 23):
        ids, scores = theirs.similar_items(item, N=K + 1)
        assert ids[0] == item
        our_ids, our_scores = ours.similar_items(int(matrix.item_ids[item]), k=K)
        np.testing.assert_array_equal(our_ids, matrix.item_ids[ids[1:]])
        np.testing.assert_allclose(our_scores, scores[1:], rtol=1e-4, atol=1e-5)


def objective(
    u: np.ndarray, factors: np.ndarray, counts: np.ndarray, liked: np.ndarray, reg: float
) -> float:
    """BPR's per-user objective, pair by pair (float64, no tricks)."""
    scores = factors[:, :-1] @ u + factors[:, -1]
    negatives = np.setdiff1d(np.arange(factors.shape[0]), liked)
    q = counts[negatives] / counts[negatives].sum()
    total = 0.0
    for i in liked:
        total += float(np.sum(q * -np.log1p(np.exp(-(scores[i] - scores[negatives])))))
    return total / len(liked) - reg / 2 * float(u @ u)


def test_fold_in_maximises_bprs_objective_for_the_user(
    ours: BPRRecommender, matrix: InteractionMatrix
) -> None:
    factors = ours.item_factors.astype(np.float64)
    counts = ours.item_counts.astype(np.float64)
    liked = matrix.user_items[4].indices
    user = bpr_fold_in(ours.item_factors, ours.item_counts, liked, regularization=0.02)
    assert user[-1] == 1.0
    u = user[:-1].astype(np.float64)
    best = objective(u, factors, counts, liked, 0.02)
    # Central differences of the pair-by-pair objective: the gradient vanishes at the optimum.
    eps = 1e-4
    grad = [
        (
            objective(u + eps * e, factors, counts, liked, 0.02)
            - objective(u - eps * e, factors, counts, liked, 0.02)
        )
        / (2 * eps)
        for e in np.eye(u.shape[0])
    ]
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)
    rng = np.random.default_rng(0)
    for _ in range(5):
        nearby = u + 0.05 * rng.standard_normal(u.shape)
        assert objective(nearby, factors, counts, liked, 0.02) < best


def test_new_user_is_folded_in_and_scored_with_the_bias(
    ours: BPRRecommender, matrix: InteractionMatrix
) -> None:
    row = matrix.user_items[4]
    history = History.of(matrix.item_ids[row.indices])
    ids, scores = ours.recommend(10_000, history=history, k=K)
    assert not ours.knows_user(10_000) and len(ids) == K
    user = bpr_fold_in(ours.item_factors, ours.item_counts, row.indices, regularization=0.02)
    np.testing.assert_allclose(scores, ours.item_factors[matrix.item_index(ids)] @ user, rtol=1e-5)
    # Close to what training learnt for the user whose history it is.
    trained = ours.item_factors @ ours.user_factors[4]
    folded = ours.item_factors @ user
    assert np.corrcoef(trained, folded)[0, 1] > 0.8


def test_unknown_user_without_history_gets_nothing(ours: BPRRecommender) -> None:
    ids, _ = ours.recommend(10_000, history=History.empty(), k=K)
    assert len(ids) == 0  # the service falls back to popularity for this user


def test_everything_liked_leaves_only_the_bias(ours: BPRRecommender) -> None:
    everything = np.arange(ours.n_items)
    user = bpr_fold_in(ours.item_factors, ours.item_counts, everything, regularization=0.02)
    np.testing.assert_array_equal(user[:-1], 0.0)
    assert user[-1] == 1.0


def test_to_implicit_carries_the_params_and_factors(ours: BPRRecommender) -> None:
    exported = ours.to_implicit()
    assert isinstance(exported, BayesianPersonalizedRanking)
    assert (exported.factors, exported.num_threads) == (PARAMS.factors, 1)
    np.testing.assert_array_equal(exported.item_factors, ours.item_factors)


def test_state_round_trip_and_bad_shapes(ours: BPRRecommender) -> None:
    state = ours.to_state()
    assert sorted(state["factors"]) == ["item_counts", "item_factors", "user_factors"]
    again = BPRRecommender.from_state(PARAMS.to_dict(), ours.data_info, state)
    np.testing.assert_array_equal(again.item_counts, ours.item_counts)
    np.testing.assert_array_equal(again.user_factors, ours.user_factors)
    bad = {**state, "factors": {**state["factors"], "item_counts": np.zeros(3, np.float32)}}
    with pytest.raises(ModelStateError, match=r"/ item_counts \(3,\) do not match .*\+1 bias"):
        BPRRecommender.from_state(PARAMS.to_dict(), ours.data_info, bad)
