"""Our models give the same factors, similarities and rankings as implicit's own classes."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, ItemItemRecommender
from threadpoolctl import threadpool_limits

from recsys.data.frames import Interactions
from recsys.modeling.als import ALSParams, ALSRecommender
from recsys.modeling.base import History
from recsys.modeling.dataset import InteractionMatrix, build_matrix
from recsys.modeling.item_knn import ItemKNNParams, ItemKNNRecommender
from recsys.modeling.toy import random_interactions

K = 10


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    return random_interactions(users=60, items=40, density=0.15, seed=11)


@pytest.fixture(scope="module")
def matrix(interactions: Interactions) -> InteractionMatrix:
    return build_matrix(interactions, weighting="confidence", alpha=2.0)


def implicit_als(matrix: InteractionMatrix, params: ALSParams) -> AlternatingLeastSquares:
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            random_state=params.random_state,
        )
        model.fit(matrix.user_items, show_progress=False)
    return model


class TestALSParity:
    PARAMS = ALSParams(factors=8, iterations=5, regularization=0.05, alpha=1.5, random_state=3)

    @pytest.fixture
    def ours(self, matrix: InteractionMatrix) -> ALSRecommender:
        return ALSRecommender(self.PARAMS).fit(matrix)

    @pytest.fixture
    def theirs(self, matrix: InteractionMatrix) -> AlternatingLeastSquares:
        return implicit_als(matrix, self.PARAMS)

    def test_same_factors(self, ours: ALSRecommender, theirs: AlternatingLeastSquares) -> None:
        np.testing.assert_allclose(ours.user_factors, theirs.user_factors, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.item_factors, theirs.item_factors, rtol=1e-5, atol=1e-6)

    def test_known_users_match_implicit_recommend_from_their_history(
        self,
        ours: ALSRecommender,
        theirs: AlternatingLeastSquares,
        matrix: InteractionMatrix,
        interactions: Interactions,
    ) -> None:
        # Known users are folded in from their history too: implicit's recalculate_user=True.
        rows = np.arange(matrix.shape[0])
        ids, scores = theirs.recommend(
            rows, matrix.user_items, N=K, filter_already_liked_items=True, recalculate_user=True
        )
        our_ids, our_scores = ours.recommend_batch(matrix.user_ids, histories=interactions, k=K)
        np.testing.assert_array_equal(our_ids, matrix.item_ids[ids])
        np.testing.assert_allclose(our_scores, scores, rtol=1e-4, atol=1e-5)

    def test_unknown_user_is_folded_in_like_recalculate_user(
        self, ours: ALSRecommender, theirs: AlternatingLeastSquares, matrix: InteractionMatrix
    ) -> None:
        # A new user who rated what training user row 5 rated (confidence 1 + 2r inverted).
        row = matrix.user_items[5]
        ratings = (row.data - 1.0) / 2.0
        history = History(matrix.item_ids[row.indices], ratings)
        ids, scores = theirs.recommend(0, row, N=K, recalculate_user=True)
        our_ids, our_scores = ours.recommend(10_000, history=history, k=K)
        assert not ours.knows_user(10_000)
        np.testing.assert_array_equal(our_ids, matrix.item_ids[ids])
        np.testing.assert_allclose(our_scores, scores, rtol=1e-4, atol=1e-5)

    def test_fold_in_solves_what_recalculate_user_solves(
        self, ours: ALSRecommender, theirs: AlternatingLeastSquares, matrix: InteractionMatrix
    ) -> None:
        rows = np.arange(matrix.shape[0])
        expected = theirs.recalculate_user(rows, matrix.user_items)
        got = ours.user_vectors(matrix.user_ids, histories=ours_histories(matrix))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        # Not the trained vectors (fit solves the users against the previous iteration's item
        # factors, by conjugate gradient): the history and the final item factors decide.
        assert not np.allclose(got, ours.user_factors, rtol=1e-4, atol=1e-5)

    def test_a_new_rating_moves_a_known_users_vector_toward_the_movie(
        self, ours: ALSRecommender, matrix: InteractionMatrix
    ) -> None:
        histories = ours_histories(matrix)
        user = int(matrix.user_ids[3])
        before, _ = ours.recommend(user, history=histories[3], k=matrix.shape[1])
        unrated = int(before[-1])  # the movie the user is least likely to want
        history = History(
            np.append(histories[3].movie_ids, unrated), np.append(histories[3].ratings, 5.0)
        )
        vector = ours.user_vectors([user], histories=[history])[0]
        movie = ours.item_factors[matrix.item_index([unrated])[0]]
        old = ours.user_vectors([user], histories=[histories[3]])[0]
        assert vector @ movie > old @ movie
        after, _ = ours.recommend(user, history=history, k=matrix.shape[1])
        assert unrated not in after and after.tolist() != [m for m in before if m != unrated]

    def test_the_seed_is_passed_through(
        self, ours: ALSRecommender, matrix: InteractionMatrix
    ) -> None:
        other = ALSRecommender(replace(self.PARAMS, random_state=4)).fit(matrix)
        assert not np.allclose(ours.item_factors, other.item_factors)

    def test_similar_items_match_implicit(
        self, ours: ALSRecommender, theirs: AlternatingLeastSquares, matrix: InteractionMatrix
    ) -> None:
        for item in (0, 7, 23):
            ids, scores = theirs.similar_items(item, N=K + 1)
            assert ids[0] == item  # implicit includes the item itself; we leave it out
            our_ids, our_scores = ours.similar_items(int(matrix.item_ids[item]), k=K)
            np.testing.assert_array_equal(our_ids, matrix.item_ids[ids[1:]])
            np.testing.assert_allclose(our_scores, scores[1:], rtol=1e-4, atol=1e-5)


def ours_histories(matrix: InteractionMatrix) -> list[History]:
    """Each training user's history as raw ratings (the matrix holds confidence 1 + 2r)."""
    return [
        History(matrix.item_ids[row.indices], (row.data - 1.0) / 2.0)
        for row in (matrix.user_items[i] for i in range(matrix.shape[0]))
    ]


IMPLICIT_KNN = {
    "cosine": lambda: CosineRecommender(K=8),
    "bm25": lambda: BM25Recommender(K=8, K1=1.2, B=0.75),
    "itemitem": lambda: ItemItemRecommender(K=8),
}


@pytest.mark.parametrize("similarity", sorted(IMPLICIT_KNN))
def test_item_knn_matches_implicit(
    similarity: str, matrix: InteractionMatrix, interactions: Interactions
) -> None:
    ours = ItemKNNRecommender(ItemKNNParams(similarity=similarity, k=8)).fit(matrix)  # type: ignore[arg-type]
    theirs = IMPLICIT_KNN[similarity]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit warns about its own COO intermediate
        theirs.fit(matrix.user_items.astype(np.float64), show_progress=False)

    np.testing.assert_allclose(
        ours.similarity.toarray(), theirs.similarity.toarray(), rtol=1e-5, atol=1e-6
    )
    our_ids, our_scores = ours.recommend_batch(matrix.user_ids, histories=interactions, k=K)
    exported = ours.to_implicit()
    for row in range(matrix.shape[0]):
        user_row = matrix.user_items[row]
        ids, scores = theirs.recommend(row, user_row, N=K)
        exported_ids, _ = exported.recommend(row, user_row, N=K)
        np.testing.assert_array_equal(exported_ids, ids)
        n = len(ids)
        # Same top-k scores; with tied scores (itemitem sums integer weights) either of the
        # tied movies is right, so check each id against implicit's full score row instead.
        np.testing.assert_allclose(our_scores[row, :n], scores, rtol=1e-4, atol=1e-5)
        assert np.all(our_ids[row, n:] == -1)  # implicit's scorer found nothing more either
        full = (user_row.astype(np.float64) @ theirs.similarity).toarray().ravel()
        chosen = matrix.item_index(our_ids[row, :n])
        np.testing.assert_allclose(full[chosen], our_scores[row, :n], rtol=1e-4, atol=1e-5)
        assert not set(chosen.tolist()) & set(user_row.indices.tolist())
    for item in (0, 13):
        ids, scores = theirs.similar_items(item, N=K + 1)
        our_ids, our_scores = ours.similar_items(int(matrix.item_ids[item]), k=K)
        expected = scores[ids != item][:K]
        np.testing.assert_allclose(our_scores, expected, rtol=1e-4, atol=1e-5)
        row = theirs.similarity[item].toarray().ravel()
        np.testing.assert_allclose(row[matrix.item_index(our_ids)], our_scores, rtol=1e-4)
