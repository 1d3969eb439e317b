"""Sequence-aware sources on tiny histories whose next item is obvious; timeline counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.modeling.base import History
from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model
from recsys.modeling.sequences import build_sequences, training_sequences
from recsys.modeling.timeline import ItemTimeline
from recsys.modeling.toy import two_taste_groups, two_taste_items

DAY = 86_400
T0 = 1_000_000_000


def interactions(rows: list[tuple[int, int, int]]) -> Interactions:
    """(user, movie, time) rows, rating 4."""
    users, movies, times = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    return Interactions(users, movies, np.full(users.shape, 4.0, np.float32), times)


def a_then_b() -> Interactions:
    # Every user watches a filler movie, then A (1), then B (2); users 1..4 also watch C (3)
    # first, so C is the most popular movie and co-occurs with A as often as B does.
    rows = []
    for user in range(1, 9):
        start = T0 + user * 1000
        if user <= 4:
            rows.append((user, 3, start - 10))
        rows += [(user, 10 + user, start), (user, 1, start + 1), (user, 2, start + 2)]
    return interactions(rows)


def test_transitions_rank_the_item_that_follows_first() -> None:
    model = create_model("transitions").fit(build_matrix(a_then_b(), weighting="binary"))
    ids, _ = model.recommend(99, history=History.of([1], timestamps=[T0 + 50_000]), k=3)
    assert ids[0] == 2
    # The reverse direction is not a transition: after B nothing follows.
    ids, _ = model.recommend(99, history=History.of([2], timestamps=[T0 + 50_000]), k=3)
    assert len(ids) == 0


def test_transitions_weigh_the_latest_item_most() -> None:
    # Users watch 1 -> 2 and, later, 5 -> 6 (window 1: only direct successors count); a
    # history ending in 5 must want 6 first.
    rows = []
    for user in range(1, 6):
        base = T0 + user * 1000
        rows += [(user, 1, base), (user, 2, base + 1), (user, 5, base + 500), (user, 6, base + 501)]
    model = create_model("transitions", {"recency": 0.5, "window": 1}).fit(
        build_matrix(interactions(rows), weighting="binary")
    )
    history = History.of([1, 5], timestamps=[T0 + 10_000, T0 + 10_001])
    ids, scores = model.recommend(99, history=history, k=2)
    assert ids.tolist() == [6, 2] and scores[0] > scores[1]
    # The same movies in the other order of time: 2 first.
    swapped = History.of([1, 5], timestamps=[T0 + 10_001, T0 + 10_000])
    assert model.recommend(99, history=swapped, k=2)[0].tolist() == [2, 6]


def test_recent_knn_follows_the_taste_of_the_latest_items() -> None:
    data = two_taste_groups()
    model = create_model("recent_knn", {"recency": 0.3, "last_items": 10}).fit(
        build_matrix(data, weighting="binary")
    )
    # Two group-A movies long ago, two group-B movies lately: group B comes first.
    history = History.of([100, 101, 200, 201], timestamps=[T0, T0 + 1, T0 + 900, T0 + 901])
    ids, _ = model.recommend(99, history=history, k=3)
    assert all(200 <= i < 300 for i in ids)
    old_b = History.of([100, 101, 200, 201], timestamps=[T0 + 900, T0 + 901, T0, T0 + 1])
    ids, _ = model.recommend(99, history=old_b, k=3)
    assert all(100 <= i < 200 for i in ids)


def test_recent_popularity_counts_only_the_window_before_the_request() -> None:
    # Movie 1: 6 users, 100 days ago. Movie 2: 3 users in the last 10 days. Movie 3: 2 users
    # after the request time (must not count).
    rows = [(u, 1, T0 - 100 * DAY + u) for u in range(1, 7)]
    rows += [(u, 2, T0 - 10 * DAY + u) for u in range(7, 10)]
    rows += [(u, 3, T0 + DAY + u) for u in range(10, 12)]
    rows += [(20, 4, T0)]
    model = create_model("recent_popularity", {"days": 30.0}).fit(
        build_matrix(interactions(rows), weighting="binary")
    )
    ids, scores = model.recommend(20, history=History.of([4], timestamps=[T0]), k=3)
    assert ids[0] == 2 and 2 < scores[0] < 4  # 3 in the window, plus a tie-break below 1
    assert scores[1] < 1 and scores[2] < 1  # 1 (too old) and 3 (in the future): no window count


def test_sequences_order_by_time_then_movie_id_and_keep_untimed_order() -> None:
    item_ids = np.array([5, 7, 9], dtype=np.int64)
    sequences = build_sequences(
        item_ids,
        n_rows=2,
        rows=np.array([0, 0, 0, 1], dtype=np.intp),
        movie_ids=np.array([9, 5, 7, 42], dtype=np.int64),
        ratings=np.ones(4, np.float32),
        times=np.array([20, 20, 10, 30], dtype=np.int64),
        tiebreak=np.array([9, 5, 7, 42], dtype=np.int64),
        default_time=99,
    )
    assert item_ids[sequences.cols].tolist() == [7, 5, 9]  # 7 at t=10, then 5 and 9 tied
    assert sequences.lengths.tolist() == [3, 0]  # the unknown movie 42 is dropped...
    assert sequences.reference_times.tolist() == [20, 30]  # ...but still dates its row
    assert sequences.from_end().tolist() == [2, 1, 0]


def test_item_timeline_counts_match_a_brute_force_count() -> None:
    rng = np.random.default_rng(3)
    cols = rng.integers(0, 7, 300).astype(np.intp)
    times = rng.integers(T0, T0 + 1000, 300).astype(np.int64)
    ratings = rng.integers(1, 6, 300).astype(np.float32)
    timeline = ItemTimeline.build(cols, times, ratings, n_items=8)
    query_cols = np.repeat(np.arange(8), 5).astype(np.intp)
    query_times = np.tile(np.array([T0 - 5, T0, T0 + 400, T0 + 999, T0 + 2000]), 8)
    expected = [
        int(np.sum((cols == c) & (times < t))) for c, t in zip(query_cols, query_times, strict=True)
    ]
    sums = [
        float(ratings[(cols == c) & (times < t)].sum())
        for c, t in zip(query_cols, query_times, strict=True)
    ]
    assert timeline.counts_before(query_cols, query_times).tolist() == expected
    np.testing.assert_allclose(timeline.rating_sums_before(query_cols, query_times), sums)
    assert np.isnan(timeline.first_times()[7])  # item 7 has no rows
    order = np.argsort(times[cols == 3], kind="stable")
    third = timeline.nth_times(np.array([3, 3, 7], dtype=np.intp), np.array([0, 2, 0]))
    assert third[:2].tolist() == [times[cols == 3][order][0], times[cols == 3][order][2]]
    assert np.isnan(third[2])


@pytest.mark.parametrize("model_type", ["transitions", "recent_knn", "two_stage"])
def test_a_sequence_model_fit_without_timestamps_says_so(model_type: str) -> None:
    matrix = build_matrix(two_taste_groups(), items=two_taste_items())
    with pytest.raises(ValueError, match="needs the interactions with their timestamps"):
        create_model(model_type).fit(dataclasses.replace(matrix, source=None))


def test_two_stage_fit_without_movie_attributes_says_so() -> None:
    with pytest.raises(ValueError, match="needs movie years and genres"):
        create_model("two_stage").fit(build_matrix(two_taste_groups()))


def test_a_subset_of_training_sequences_equals_the_sequences_of_the_kept_rows() -> None:
    # two_stage takes its base rows' sequences from the full ones instead of sorting again:
    # they must be what training_sequences of those rows gives (order, reference times,
    # emptied rows), with timestamp ties broken by movie id and an unknown movie dropped.
    rng = np.random.default_rng(4)
    n = 400
    users = rng.integers(1, 30, n)
    movies = rng.integers(1, 25, n)
    pairs = np.unique(np.stack([users, movies], axis=1), axis=0)  # one row per (user, movie)
    pairs = np.r_[pairs, [[98, 3], [99, 4], [99, 5]]]  # users with 1 and 2 rows: emptied below
    rows = Interactions(
        user_ids=pairs[:, 0].astype(np.int64),
        movie_ids=pairs[:, 1].astype(np.int64),
        ratings=rng.integers(1, 6, pairs.shape[0]).astype(np.float32),
        timestamps=rng.integers(0, 40, pairs.shape[0]).astype(np.int64),  # many ties
    )
    user_ids = np.unique(rows.user_ids)
    item_ids = np.unique(rows.movie_ids)[1:]  # the first movie is unknown to the vocabulary
    full = training_sequences(rows, user_ids=user_ids, item_ids=item_ids)
    keep = full.from_end() >= 2  # drop each row's two latest entries: some rows empty
    keep &= rng.random(keep.shape[0]) < 0.8
    assert (np.diff(np.r_[0, np.cumsum(keep)][full.indptr]) == 0).any()
    kept = Interactions(
        user_ids=user_ids[full.rows()[keep]],
        movie_ids=item_ids[full.cols[keep]],
        ratings=full.ratings[keep],
        timestamps=full.times[keep],
    )
    want = training_sequences(kept, user_ids=user_ids, item_ids=item_ids)
    got = full.subset(keep)
    for field in dataclasses.fields(want):
        np.testing.assert_array_equal(
            getattr(got, field.name), getattr(want, field.name), err_msg=field.name
        )
