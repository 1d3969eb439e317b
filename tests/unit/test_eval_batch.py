"""Batch inference: chunked top-K of every user equals ``recommend`` per user; CSV layout."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.evaluation.splits import take
from recsys.modeling.base import History, Recommender
from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model
from recsys.modeling.toy import two_taste_groups
from recsys.service.batch import CSV_HEADER, iter_top_k, write_top_k_csv
from recsys.service.fallback import can_score

K = 3


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    data = two_taste_groups()
    # Rows in a scrambled order, as the database export returns them.
    return take(data, np.random.default_rng(0).permutation(len(data)))


@pytest.fixture(scope="module")
def knn(interactions: Interactions) -> Recommender[Any]:
    return create_model("item_knn", {"k": 5}).fit(build_matrix(interactions, weighting="binary"))


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_users_top_k_matches_recommend(
    tmp_path: Path, interactions: Interactions, knn: Recommender[Any]
) -> None:
    out = tmp_path / "recs.csv"
    summary = write_top_k_csv(iter_top_k(knn, interactions, k=K, chunk_users=4), out)
    rows = read(out)
    assert out.read_text().splitlines()[0] == ",".join(CSV_HEADER)
    users = np.unique(interactions.user_ids)
    assert summary.users == users.shape[0] == 18
    assert summary.rows == len(rows)
    assert not (tmp_path / "recs.csv.partial").exists()
    for user in users.tolist():
        mine = interactions.user_ids == user
        history = History(interactions.movie_ids[mine], interactions.ratings[mine])
        ids, scores = knn.recommend(user, history=history, k=K)
        written = [r for r in rows if int(r["user_id"]) == user]
        assert [int(r["movie_id"]) for r in written] == ids.tolist()
        assert [int(r["rank"]) for r in written] == list(range(1, ids.shape[0] + 1))
        np.testing.assert_allclose([float(r["score"]) for r in written], scores, rtol=1e-5)
        assert not set(ids.tolist()) & set(history.movie_ids.tolist())


def test_chunk_size_does_not_change_the_answer(
    interactions: Interactions, knn: Recommender[Any]
) -> None:
    small = list(iter_top_k(knn, interactions, k=K, chunk_users=1))
    whole = list(iter_top_k(knn, interactions, k=K))
    assert len(small) == 18 and len(whole) == 1
    np.testing.assert_array_equal(np.vstack([c.ids for c in small]), whole[0].ids)


def test_users_the_model_cannot_score_get_the_fallback(tmp_path: Path) -> None:
    train = two_taste_groups()
    als = create_model("als", {"factors": 2, "iterations": 3}).fit(build_matrix(train))
    popularity = create_model("popularity").fit(build_matrix(train, weighting="binary"))
    # User 99 rated only a movie nobody trained on: ALS has nothing to go on.
    export = Interactions(
        user_ids=np.r_[train.user_ids, 99],
        movie_ids=np.r_[train.movie_ids, 5555],
        ratings=np.r_[train.ratings, np.float32(4.0)],
        timestamps=np.r_[train.timestamps, 1],
    )
    chunks = list(iter_top_k(als, export, k=K, fallback=popularity))
    summary = write_top_k_csv(iter(chunks), tmp_path / "recs.csv")
    fallback_users = np.concatenate([c.users[c.fallback] for c in chunks])
    assert fallback_users.tolist() == [99] and summary.fallback_users == 1
    expected, _ = popularity.recommend(99, history=History.of([5555]), k=K)
    rows = [r for r in read(tmp_path / "recs.csv") if r["user_id"] == "99"]
    assert [int(r["movie_id"]) for r in rows] == expected.tolist()
    without = list(iter_top_k(als, export, k=K))
    assert sum(int((c.ids[:, 0] == -1).sum()) for c in without) == 1


def test_predict_all_falls_back_exactly_where_the_api_does() -> None:
    # EASE scores any history, even one of movies it never saw (all zeros, ties broken by id),
    # so "the model returned nothing" would keep its answer for user 99; the API's rule
    # (recsys.service.fallback.can_score) gives that user popularity, and so must --all.
    train = two_taste_groups()
    ease = create_model("ease").fit(build_matrix(train, weighting="binary"))
    popularity = create_model("popularity").fit(build_matrix(train, weighting="binary"))
    export = Interactions(
        user_ids=np.r_[train.user_ids, 99],
        movie_ids=np.r_[train.movie_ids, 5555],
        ratings=np.r_[train.ratings, np.float32(4.0)],
        timestamps=np.r_[train.timestamps, 1],
    )
    alone = History.of([5555])
    assert ease.recommend(99, history=alone, k=K)[0].shape[0] == K  # EASE does answer ...
    assert not can_score(ease, 99, alone)  # ... but the API answers from the fallback
    chunks = list(iter_top_k(ease, export, k=K, fallback=popularity, chunk_users=5))
    for chunk in chunks:
        for i, user in enumerate(chunk.users.tolist()):
            mine = export.user_ids == user
            history = History(export.movie_ids[mine], export.ratings[mine])
            assert bool(chunk.fallback[i]) is not can_score(ease, user, history)
    [last] = [c for c in chunks if 99 in c.users]
    row = last.users.tolist().index(99)
    expected, _ = popularity.recommend(99, history=alone, k=K)
    assert last.fallback[row] and last.ids[row].tolist() == expected.tolist()
