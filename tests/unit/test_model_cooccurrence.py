"""Co-occurrence counts on a hand-made matrix whose counts can be read off by eye."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.modeling.base import History
from recsys.modeling.cooccurrence import CooccurrenceParams, CooccurrenceRecommender
from recsys.modeling.dataset import InteractionMatrix, build_matrix

# user: movies (ratings differ on purpose: counts must ignore them)
RATED = {
    1: {10: 5.0, 20: 1.0, 30: 3.0},
    2: {10: 2.0, 20: 4.0},
    3: {20: 5.0, 30: 5.0},
    4: {10: 1.0, 40: 2.0},
}
# Users per movie: 10 -> 3, 20 -> 3, 30 -> 2, 40 -> 1. Pairs: (10, 20) 2, (10, 30) 1,
# (10, 40) 1, (20, 30) 2, the others 0.
COUNTS = np.array(
    [
        [0, 2, 1, 1],
        [2, 0, 2, 0],
        [1, 2, 0, 0],
        [1, 0, 0, 0],
    ],
    dtype=np.float64,
)
MOVIES = np.array([10, 20, 30, 40])


def hand_made() -> Interactions:
    rows = [(u, m, r) for u, movies in RATED.items() for m, r in movies.items()]
    users, movies, ratings = zip(*rows, strict=True)
    return Interactions(
        user_ids=np.asarray(users, dtype=np.int64),
        movie_ids=np.asarray(movies, dtype=np.int64),
        ratings=np.asarray(ratings, dtype=np.float32),
        timestamps=np.arange(len(rows), dtype=np.int64),
    )


@pytest.fixture(scope="module")
def matrix() -> InteractionMatrix:
    # Rating weights on purpose: the counts must be of 0/1 interactions regardless.
    return build_matrix(hand_made(), weighting="rating")


def fit(matrix: InteractionMatrix, **params: object) -> CooccurrenceRecommender:
    return CooccurrenceRecommender(CooccurrenceParams(**params)).fit(matrix)  # type: ignore[arg-type]


def test_raw_counts(matrix: InteractionMatrix) -> None:
    model = fit(matrix, normalize="none", k=10)
    np.testing.assert_array_equal(model.neighbours.toarray(), COUNTS)


def test_jaccard(matrix: InteractionMatrix) -> None:
    model = fit(matrix, normalize="jaccard", k=10)
    users = np.array([3.0, 3.0, 2.0, 1.0])
    union = users[:, None] + users[None, :] - COUNTS
    np.testing.assert_allclose(model.neighbours.toarray(), COUNTS / union, rtol=1e-6)
    assert model.neighbours[0, 1] == pytest.approx(2 / 4)  # 10 & 20: 2 of 4 users
    assert model.neighbours[1, 2] == pytest.approx(2 / 3)  # 20 & 30: 2 of 3 users


def test_top_k_keeps_the_largest_and_breaks_ties_by_lower_movie_id(
    matrix: InteractionMatrix,
) -> None:
    model = fit(matrix, normalize="none", k=2)
    neighbours = model.neighbours.toarray()
    # Movie 10: 20 (2), then 30 and 40 tie at 1 -> 30 (the lower id) is kept.
    np.testing.assert_array_equal(neighbours[0], [0, 2, 1, 0])
    np.testing.assert_array_equal(neighbours[3], [1, 0, 0, 0])  # only one co-occurrence
    assert model.neighbours.nnz == 2 + 2 + 2 + 1


def test_scores_are_history_times_neighbours(matrix: InteractionMatrix) -> None:
    model = fit(matrix, normalize="none", k=10)
    ids, scores = model.recommend(99, history=History.of([30]), k=4)
    # Row 30 of C: 20 -> 2, 10 -> 1; 40 never co-occurs with 30 and is not returned.
    np.testing.assert_array_equal(ids, [20, 10])
    np.testing.assert_array_equal(scores, [2.0, 1.0])
    ids, scores = model.recommend(99, history=History.of([30, 40]), k=4)
    # 10 now gets 1 from 30 and 1 from 40: tied with 20, and the lower id comes first.
    np.testing.assert_array_equal(ids, [10, 20])
    np.testing.assert_array_equal(scores, [2.0, 2.0])


def test_similar_items_are_the_neighbour_row(matrix: InteractionMatrix) -> None:
    model = fit(matrix, normalize="none", k=10)
    ids, scores = model.similar_items(10, k=3)
    np.testing.assert_array_equal(ids, [20, 30, 40])
    np.testing.assert_array_equal(scores, [2.0, 1.0, 1.0])
    ids, _ = model.similar_items(40, k=3)
    np.testing.assert_array_equal(ids, [10])


def test_blocks_do_not_change_the_result(
    matrix: InteractionMatrix, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recsys.modeling.cooccurrence as cooccurrence

    whole = fit(matrix, normalize="jaccard", k=2).neighbours.toarray()
    monkeypatch.setattr(cooccurrence, "_BLOCK_CELLS", 4)  # one movie per block
    np.testing.assert_array_equal(fit(matrix, normalize="jaccard", k=2).neighbours.toarray(), whole)
