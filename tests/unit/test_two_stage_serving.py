"""two_stage's one-request path (serving.py) against its batch path on the same fitted model.

``recommend`` gathers from numpy arrays prepared at fit/load time; ``recommend_batch`` for one
row is the original path (scipy products, ``gather_candidates``, ``build_features``). Both
must give the same ids in the same order and the same scores, for every training user's
history, timed and untimed, with unknown movies, for unknown users and empty histories, and
with the item-item matrices dense (small catalogues) or gathered from CSR arrays (large ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.modeling.base import History
from recsys.modeling.dataset import build_matrix
from recsys.modeling.explain import anchors
from recsys.modeling.items import ItemAttributes
from recsys.modeling.toy import random_interactions
from recsys.modeling.two_stage import serving_arrays, serving_sources
from recsys.modeling.two_stage.model import TwoStageRecommender
from recsys.modeling.two_stage.params import TwoStageParams

K = 10


@pytest.fixture(scope="module")
def data() -> Interactions:
    return random_interactions(users=60, items=45, density=0.3, seed=11)


@pytest.fixture(scope="module")
def model(data: Interactions) -> TwoStageRecommender:
    ids = np.unique(data.movie_ids)
    rng = np.random.default_rng(3)
    genres = [tuple(g for g in ("A", "B", "C", "D") if rng.random() < 0.4) for _ in ids]
    years = [1950 + int(i) % 40 if i % 7 else None for i in ids]
    items = ItemAttributes.from_records(ids.tolist(), years, genres)
    matrix = build_matrix(data, weighting="binary", items=items)
    params = TwoStageParams(
        per_source=8,
        ease_per_source=12,
        periods=3,
        min_child_samples=5,
        learning_rate=0.3,
        validation_share=0.5,
        num_threads=1,
    )
    return TwoStageRecommender(params).fit(matrix)


def histories(data: Interactions) -> Iterator[tuple[int, History]]:
    """Every user's rows timed and untimed, a truncated one, and odd cases."""
    for user in np.unique(data.user_ids):
        own = data.user_ids == user
        movies, ratings, times = data.movie_ids[own], data.ratings[own], data.timestamps[own]
        yield int(user), History.of(movies, ratings, times)
        yield int(user), History.of(movies[::-1], ratings[::-1])
        yield int(user), History.of(movies[:3], ratings[:3], times[:3])
    first = int(data.user_ids[0])
    movies = data.movie_ids[data.user_ids == first]
    yield first, History.empty()
    yield 10**9, History.empty()  # unknown user, nothing to go on
    yield 10**9, History.of([int(movies[0]), 999_999], [4.0, 5.0], [10**9, 10**9 + 5])
    yield first, History.of([int(movies[0]), int(movies[0])], [2.0, 3.0], [5, 6])


def assert_same_answers(model: TwoStageRecommender, data: Interactions) -> int:
    checked = 0
    for n, (user, history) in enumerate(histories(data)):
        # Every 10th also past the candidates, into the popularity fallback (45 items).
        for k in (K, 40) if n % 10 == 0 else (K,):
            ids, scores = model.recommend(user, history=history, k=k)
            batch_ids, batch_scores = model.recommend_batch([user], histories=[history], k=k)
            keep = np.isfinite(batch_scores[0])
            np.testing.assert_array_equal(ids, batch_ids[0][keep])
            np.testing.assert_allclose(scores, batch_scores[0][keep], rtol=0, atol=1e-5)
        checked += 1
    return checked


def test_one_request_path_equals_the_batch_path(
    model: TwoStageRecommender, data: Interactions
) -> None:
    model._serving = None
    assert model.serving_model().neighbours.dense is not None  # 45 items: the dense reads
    assert assert_same_answers(model, data) > 150


def test_csr_gathers_equal_the_batch_path(
    model: TwoStageRecommender, data: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What catalogues above DENSE_ITEMS use: the same answers from the CSR arrays.
    monkeypatch.setattr(serving_arrays, "DENSE_ITEMS", 0)
    model._serving = None
    try:
        assert model.serving_model().neighbours.dense is None
        assert assert_same_answers(model, data) > 150
    finally:
        model._serving = None


def test_windowed_popularity_equals_the_per_item_counts(model: TwoStageRecommender) -> None:
    source = model.serving_model().sources["recent_popularity"]
    assert isinstance(source, serving_sources.PopularitySource)
    timeline = source.timeline
    latest = timeline.latest_time()
    for end in (timeline.origin - 1, timeline.origin + 1, latest // 2, latest, latest + 10**7):
        history = serving_arrays.OneHistory.of(
            History.of([], [], []), model.item_ids, default_time=end
        )
        ends = np.full(model.n_items, end, dtype=np.int64)
        expected = timeline.counts_before(source.all_items, ends) - timeline.counts_before(
            source.all_items, ends - source.window
        )
        np.testing.assert_array_equal(
            source.scores(history, -1), (expected + source.tiebreak).astype(np.float32)
        )


def test_catalogue_limits_serve_the_same_and_are_recorded(data: Interactions) -> None:
    # What a 62k-movie catalogue gets: EASE on the most-rated items only, the ranker trained
    # on a sample of users; the one-request path must still equal the batch path.
    ids = np.unique(data.movie_ids)
    items = ItemAttributes.from_records(
        ids.tolist(), (1950 + ids % 40).tolist(), [("A",)] * len(ids)
    )
    matrix = build_matrix(data, weighting="binary", items=items)
    params = TwoStageParams(
        per_source=8,
        ease_items=20,
        ranker_users=30,
        min_child_samples=5,
        learning_rate=0.3,
        validation_share=0.5,
        num_threads=1,
    )
    model = TwoStageRecommender(params).fit(matrix)
    assert model.data_info["ease_items"] == 20
    assert model.data_info["ranker_users"] == 30
    ease = model.sources["ease"]
    assert ease.subset is not None and ease.subset.shape == (20,)  # type: ignore[attr-defined]
    counts = np.bincount(np.searchsorted(ids, data.movie_ids), minlength=ids.shape[0])
    assert counts[ease.subset].min() >= np.delete(counts, ease.subset).max()  # type: ignore[attr-defined]
    assert assert_same_answers(model, data) > 150


def test_similar_items_equal_the_batch_path(model: TwoStageRecommender) -> None:
    for item in range(model.n_items):
        np.testing.assert_allclose(
            model._similar(item), model.similar_reference(item), rtol=0, atol=1e-5
        )


@pytest.mark.parametrize("dense_items", [serving_arrays.DENSE_ITEMS, 0])
def test_explain_equals_the_scipy_anchors(
    model: TwoStageRecommender,
    data: Interactions,
    monkeypatch: pytest.MonkeyPatch,
    dense_items: int,
) -> None:
    monkeypatch.setattr(serving_arrays, "DENSE_ITEMS", dense_items)
    model._serving = None
    try:
        last, recency = model.anchor_window()
        rng = np.random.default_rng(0)
        for user, history in histories(data):
            ids, _ = model.recommend(user, history=history, k=K)
            asked = np.concatenate([ids, rng.choice(model.item_ids, 5), [ids[:1].sum(), -5]])
            expected = anchors(
                model.item_ids,
                model.explaining_matrices(),
                history,
                asked,
                last=last,
                recency=recency,
            )
            np.testing.assert_array_equal(model.explain(history, asked), expected)
    finally:
        model._serving = None


def test_catalogue_check_names_the_ease_limit() -> None:
    # two_stage fits EASE on its ease_items most-rated movies: any catalogue passes with the
    # default, a cover above ease.max_items (20,000) is refused before any data is read.
    assert TwoStageRecommender.size_limited
    TwoStageRecommender().check_catalogue(62_423)
    model = TwoStageRecommender(TwoStageParams(ease_items=30_000))
    model.check_catalogue(20_000)
    with pytest.raises(ValueError, match=r"30,000 items exceed ease\.max_items = 20,000"):
        model.check_catalogue(62_423)


def test_a_repeat_history_is_ranked_once_and_a_changed_one_again(
    model: TwoStageRecommender, data: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    model._serving = None
    user = int(data.user_ids[0])
    own = data.user_ids == user
    movies, ratings, times = data.movie_ids[own], data.ratings[own], data.timestamps[own]
    history = History.of(movies, ratings, times)
    ranked: list[int] = []
    original = model._rank_one

    def counting(*args: Any) -> Any:
        ranked.append(1)
        return original(*args)

    monkeypatch.setattr(model, "_rank_one", counting)
    first = model.recommend(user, history=history, k=K)
    again = model.recommend(user, history=history, k=K)
    assert len(ranked) == 1 and len(model.serving_model().ranked) == 1
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    # One more rating, a later time, another weight, another user: each a new ranking, and
    # each the batch path's answer.
    unseen = int(np.setdiff1d(np.unique(data.movie_ids), movies)[0])
    changed = [
        (
            user,
            History.of(
                np.r_[movies, unseen], np.r_[ratings, 1.0], np.r_[times, int(times.max()) + 1]
            ),
        ),
        (user, History.of(movies, ratings, times + 1)),
        (user, History.of(movies, ratings * 2, times)),
        (int(data.user_ids[~own][0]), history),
    ]
    for n, (who, other) in enumerate(changed, start=2):
        ids, scores = model.recommend(who, history=other, k=K)
        assert len(ranked) == n
        batch_ids, batch_scores = model.recommend_batch([who], histories=[other], k=K)
        keep = np.isfinite(batch_scores[0])
        np.testing.assert_array_equal(ids, batch_ids[0][keep])
        np.testing.assert_allclose(scores, batch_scores[0][keep], rtol=0, atol=1e-5)
    # The remembered arrays are shared: read-only.
    candidates, _ = next(iter(model.serving_model().ranked._values.values()))[0]
    assert not candidates.cols.flags.writeable
    model._serving = None


def test_a_filtered_request_is_not_memoised_and_not_served_from_the_memo(
    model: TwoStageRecommender, data: Interactions
) -> None:
    # The memo's key names no mask: a filtered answer must neither come from an unfiltered
    # ranking remembered for the same history nor be remembered for the unfiltered one.
    model._serving = None
    user = int(data.user_ids[0])
    own = data.user_ids == user
    history = History.of(data.movie_ids[own], data.ratings[own], data.timestamps[own])
    plain_ids, _ = model.recommend(user, history=history, k=K)
    allowed = np.ones(model.n_items, dtype=bool)
    allowed[np.searchsorted(model.item_ids, plain_ids[: K // 2])] = False
    before = len(model.serving_model().ranked)
    ids, scores = model.recommend(user, history=history, k=K, allowed=allowed)
    assert len(model.serving_model().ranked) == before == 1
    assert not np.isin(ids, plain_ids[: K // 2]).any()
    assert allowed[np.searchsorted(model.item_ids, ids)].all()
    again_ids, _ = model.recommend(user, history=history, k=K)
    np.testing.assert_array_equal(again_ids, plain_ids)
    model._serving = None
