"""build_matrix: vocabularies, every weighting, history weighting, fingerprints, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

from recsys.data.fingerprint import interactions_fingerprint as fingerprint
from recsys.data.frames import Interactions
from recsys.modeling import dataset
from recsys.modeling.base import History
from recsys.modeling.dataset import build_matrix, is_strictly_sorted_by_pair, lookup
from recsys.modeling.toy import random_interactions
from recsys.modeling.weighting import WEIGHTING_KINDS


def make(users: list[int], movies: list[int], ratings: list[float]) -> Interactions:
    n = len(users)
    return Interactions(
        user_ids=np.asarray(users, dtype=np.int64),
        movie_ids=np.asarray(movies, dtype=np.int64),
        ratings=np.asarray(ratings, dtype=np.float32),
        timestamps=np.arange(n, dtype=np.int64),
    )


# Users 7, 3, 50 and movies 30, 10, 20, given out of order.
SMALL = make([7, 3, 7, 50, 3], [30, 10, 10, 20, 30], [5.0, 2.0, 4.0, 1.0, 3.5])


def dense(interactions: Interactions, **options: Any) -> np.ndarray[Any, Any]:
    return np.asarray(build_matrix(interactions, **options).user_items.toarray())


def test_vocabularies_are_sorted_and_index_rows_and_columns() -> None:
    m = build_matrix(SMALL, weighting="rating")
    np.testing.assert_array_equal(m.user_ids, [3, 7, 50])
    np.testing.assert_array_equal(m.item_ids, [10, 20, 30])
    assert m.user_items.dtype == np.float32 and sp.isspmatrix_csr(m.user_items)
    assert m.shape == (3, 3) and m.nnz == 5
    np.testing.assert_array_equal(m.user_index([50, 3, 4, 7]), [2, 0, -1, 1])
    np.testing.assert_array_equal(m.item_index([30, 31, 10]), [2, -1, 0])
    assert lookup(np.zeros(0, np.int64), [1, 2]).tolist() == [-1, -1]


def test_rating_weighting_keeps_raw_ratings() -> None:
    expected = [[2.0, 0.0, 3.5], [4.0, 0.0, 5.0], [0.0, 1.0, 0.0]]
    np.testing.assert_array_equal(dense(SMALL, weighting="rating"), expected)


def test_binary_weighting() -> None:
    expected = [[1, 0, 1], [1, 0, 1], [0, 1, 0]]
    np.testing.assert_array_equal(dense(SMALL, weighting="binary"), expected)


def test_confidence_weighting_is_one_plus_alpha_r() -> None:
    expected = [[1 + 0.5 * 2, 0, 1 + 0.5 * 3.5], [1 + 0.5 * 4, 0, 1 + 0.5 * 5], [0, 1.5, 0]]
    np.testing.assert_allclose(dense(SMALL, weighting="confidence", alpha=0.5), expected)


def test_threshold_weighting_drops_low_ratings_and_their_ids() -> None:
    m = build_matrix(SMALL, weighting="threshold", threshold=3.5)
    # Movie 20 and user 50 only have a rating of 1.0: both vanish.
    np.testing.assert_array_equal(m.user_ids, [3, 7])
    np.testing.assert_array_equal(m.item_ids, [10, 30])
    np.testing.assert_array_equal(m.user_items.toarray(), [[0, 1], [1, 1]])
    assert m.n_interactions == 5  # the input size, recorded for the manifest


def test_bm25_weighting_is_implicits_on_the_items_x_users_matrix() -> None:
    m = build_matrix(SMALL, weighting="bm25", bm25_k1=1.2, bm25_b=0.75)
    raw = sp.csr_matrix(dense(SMALL, weighting="rating"))
    expected = bm25_weight(raw.T, K1=1.2, B=0.75).T.toarray()
    np.testing.assert_allclose(m.user_items.toarray(), expected, rtol=1e-6)


@pytest.mark.parametrize("kind", WEIGHTING_KINDS)
def test_history_weighting_reproduces_the_training_rows(kind: str) -> None:
    # What a model does to a request-time history must equal what training did to that row.
    interactions = random_interactions(users=30, items=20, seed=5)
    m = build_matrix(interactions, weighting=kind, alpha=3.0, threshold=3.0)  # type: ignore[arg-type]
    user_rows = m.user_index(interactions.user_ids)
    cols = m.item_index(interactions.movie_ids)
    keep = (user_rows >= 0) & (cols >= 0)
    raw = sp.csr_matrix((interactions.ratings[keep], (user_rows[keep], cols[keep])), shape=m.shape)
    np.testing.assert_allclose(
        m.weighting.apply(raw).toarray(), m.user_items.toarray(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("kind", WEIGHTING_KINDS)
@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_rows_in_key_order_give_the_matrix_of_any_order(
    kind: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows sorted by (user, movie) (a seeded table's scan) are written straight into the CSR;
    # shuffled rows go through COO. Both must give the same arrays, dtypes and weights. A
    # 3-row slice puts user boundaries on, before and after every slice edge.
    monkeypatch.setattr(dataset, "_CHUNK", chunk)
    interactions = random_interactions(users=40, items=25, density=0.2, seed=11)
    assert is_strictly_sorted_by_pair(interactions.user_ids, interactions.movie_ids)
    order = np.random.default_rng(3).permutation(len(interactions))
    shuffled = Interactions(
        interactions.user_ids[order],
        interactions.movie_ids[order],
        interactions.ratings[order],
        interactions.timestamps[order],
    )
    assert not is_strictly_sorted_by_pair(shuffled.user_ids, shuffled.movie_ids)
    options: dict[str, Any] = {"weighting": kind, "alpha": 0.7, "threshold": 3.0}
    direct, reference = build_matrix(interactions, **options), build_matrix(shuffled, **options)
    for name in ("indptr", "indices", "data"):
        got, want = getattr(direct.user_items, name), getattr(reference.user_items, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert direct.user_items.shape == reference.user_items.shape
    np.testing.assert_array_equal(direct.user_ids, reference.user_ids)
    np.testing.assert_array_equal(direct.item_ids, reference.item_ids)
    assert direct.user_ids.dtype == direct.item_ids.dtype == np.int64
    assert direct.fingerprint == reference.fingerprint
    np.testing.assert_array_equal(
        direct.weighting.item_length_norm, reference.weighting.item_length_norm
    )


def test_sorted_rows_with_a_repeated_pair_are_refused() -> None:
    # Non-decreasing but not strictly increasing: the direct path must not take them.
    dup = make([1, 1, 2], [10, 10, 10], [4, 3, 5])
    with pytest.raises(ValueError, match=r"1 duplicate .*user 1 movie 10"):
        build_matrix(dup, weighting="binary")


def test_fingerprint_ignores_row_order_but_not_values() -> None:
    order = np.array([3, 0, 4, 1, 2])
    shuffled = Interactions(
        SMALL.user_ids[order], SMALL.movie_ids[order], SMALL.ratings[order], SMALL.timestamps[order]
    )
    assert fingerprint(shuffled) == fingerprint(SMALL) == build_matrix(SMALL).fingerprint
    assert fingerprint(SMALL).startswith("sha256:") and len(fingerprint(SMALL)) == 7 + 64
    changed = make([7, 3, 7, 50, 3], [30, 10, 10, 20, 30], [5.0, 2.0, 4.0, 1.5, 3.5])
    assert fingerprint(changed) != fingerprint(SMALL)


def test_duplicate_pairs_are_refused_with_an_example() -> None:
    dup = make([1, 2, 1], [10, 10, 10], [4, 3, 5])
    with pytest.raises(ValueError, match=r"1 duplicate .*user 1 movie 10"):
        build_matrix(dup)


def test_non_finite_ratings_are_refused() -> None:
    bad = make([1, 2], [10, 11], [4.0, float("nan")])
    with pytest.raises(ValueError, match=r"non-finite rating.*row 1 \(user 2, movie 11\)"):
        build_matrix(bad)


def test_empty_and_ragged_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no interactions"):
        build_matrix(make([], [], []))
    ragged = Interactions(
        np.array([1, 2], np.int64),
        np.array([1], np.int64),
        np.array([1, 2], np.float32),
        np.array([0, 0], np.int64),
    )
    with pytest.raises(ValueError, match="equally long"):
        build_matrix(ragged)
    with pytest.raises(ValueError, match="threshold 9"):
        build_matrix(SMALL, weighting="threshold", threshold=9)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"weighting": "log"}, "kind"),
        ({"alpha": 0.0}, "alpha"),
        ({"bm25_k1": -1.0}, "bm25_k1"),
        ({"bm25_b": 2.0}, "bm25_b"),
        ({"threshold": float("inf")}, "threshold"),
    ],
)
def test_bad_weighting_options_name_the_option(options: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=rf"weighting\.{name} must be"):
        build_matrix(SMALL, **options)


def test_history_validates_its_columns() -> None:
    with pytest.raises(ValueError, match="2 movie ids but 1 ratings"):
        History(np.array([1, 2]), np.array([5.0], dtype=np.float32))
    with pytest.raises(ValueError, match="finite"):
        History.of([1], [float("nan")])
    h = History.of([3, 4])
    assert h.movie_ids.dtype == np.int64 and h.ratings.tolist() == [1.0, 1.0] and len(h) == 2


@pytest.mark.parametrize("slice_rows", [4, 1 << 20])
def test_popularity_counts_every_entry_whatever_the_slice(
    slice_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Popularity counts its matrix's entries in slices (a whole-column bincount copies it to
    # intp); slices of 4 entries cut users and movies apart, the counts must not change.
    from recsys.modeling import popularity

    monkeypatch.setattr(popularity, "_COUNT_SLICE", slice_rows)
    interactions = random_interactions(users=30, items=20, seed=2)
    m = build_matrix(interactions, weighting="binary")
    model = popularity.PopularityRecommender().fit(m)
    per_movie = {int(i): int((interactions.movie_ids == i).sum()) for i in m.item_ids}
    np.testing.assert_array_equal(model.counts, [per_movie[int(i)] for i in m.item_ids])
