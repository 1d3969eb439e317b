"""Ranking metrics: hand-computed answers, scipy for AUC, implicit's ranking_metrics_at_k."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.evaluation import ranking_metrics_at_k
from scipy import stats

from recsys.data.synth import generate
from recsys.evaluation import metrics
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import Split, interactions_from_ratings, random_split
from recsys.modeling.als import ALSRecommender
from recsys.modeling.dataset import lookup

LOG2_3 = math.log2(3)


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    """A 0/1 users x items matrix with the given items per row."""
    indptr = np.cumsum([0, *(len(r) for r in rows)])
    indices = np.asarray([i for r in rows for i in r], dtype=np.int32)
    return sp.csr_matrix((np.ones(indices.shape[0]), indices, indptr), shape=(len(rows), n_items))


# Two users, K = 3. A: relevant {1, 4}, recommended [4, 2, 1] -> hits at ranks 1 and 3.
# B: relevant {0, 2, 3, 5}, recommended [1, 5, (empty)] -> one hit at rank 2.
RECS = np.array([[4, 2, 1], [1, 5, -1]])
RELEVANT = csr([[1, 4], [0, 2, 3, 5]], n_items=6)


@pytest.fixture
def hits() -> np.ndarray[Any, Any]:
    return metrics.hits_at(RECS, RELEVANT)


def test_hits_mark_relevant_slots_and_never_empty_ones(hits: np.ndarray[Any, Any]) -> None:
    assert hits.tolist() == [[True, False, True], [False, True, False]]
    # -1 must not match the previous row's last item (row * n_items - 1 keys collide).
    edge = metrics.hits_at(np.array([[-1], [-1]]), csr([[5], [0]], n_items=6))
    assert not edge.any()


def test_known_answers_at_3(hits: np.ndarray[Any, Any]) -> None:
    n_rel = metrics.relevant_counts(RELEVANT)
    assert n_rel.tolist() == [2, 4]
    got = metrics.accuracy_metrics(hits, n_rel)
    expected = {
        "hr": [1.0, 1.0],
        "precision": [2 / 3, 1 / 3],
        # min(|R|, K): 2 for A, 3 for B.
        "recall": [2 / 2, 1 / 3],
        "ndcg": [(1 + 1 / 2) / (1 + 1 / LOG2_3), (1 / LOG2_3) / (1 + 1 / LOG2_3 + 1 / 2)],
        "map": [(1 / 1 + 2 / 3) / 2, (1 / 2) / 3],
        "mrr": [1.0, 1 / 2],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-12, err_msg=name)
    assert metrics.micro_recall(hits, n_rel) == pytest.approx(3 / 5)


def test_ndcg_curve_is_ndcg_at_every_cutoff(hits: np.ndarray[Any, Any]) -> None:
    n_rel = metrics.relevant_counts(RELEVANT)
    curve = metrics.ndcg_curve(hits, n_rel)
    np.testing.assert_allclose(curve[:, 0], [1.0, 0.0])
    np.testing.assert_allclose(curve[:, 1], [1 / (1 + 1 / LOG2_3), (1 / LOG2_3) / (1 + 1 / LOG2_3)])
    for j in range(1, 4):
        np.testing.assert_allclose(curve[:, j - 1], metrics.ndcg(hits[:, :j], n_rel))


def test_users_without_test_items_are_refused(hits: np.ndarray[Any, Any]) -> None:
    with pytest.raises(ValueError, match="at least one relevant"):
        metrics.recall(hits, np.array([2, 0]))


def test_auc_counts_ties_half_and_ranks_unscored_candidates_last() -> None:
    # User 1: scores 0.9 (pos), 0.5 (neg), 0.5 (pos), 0.1 (neg) and one negative the model did
    # not score. Pairs won: 3 for the 0.9 positive, 0.5 + 2 for the tied one -> 5.5 of 2 x 3.
    # User 2: 0.8 (neg), 0.3 (pos), one unscored positive and one unscored negative:
    # 1 (0.3 over the unscored neg) + 0.5 (unscored pos tied with unscored neg) of 2 x 2.
    scores = np.array([[0.9, 0.5, 0.5, 0.1], [0.8, 0.3, -np.inf, -np.inf]])
    positive = np.array([[True, False, True, False], [False, True, False, False]])
    auc = metrics.auc_from_ranking(
        scores, positive, n_candidates=np.array([5, 4]), n_relevant=np.array([2, 2])
    )
    np.testing.assert_allclose(auc, [5.5 / 6, 1.5 / 4])


def test_auc_matches_mann_whitney_with_ties() -> None:
    rng = np.random.default_rng(3)
    n_users, n_items = 20, 30
    raw = rng.integers(0, 6, size=(n_users, n_items)).astype(np.float64)  # many ties
    relevant = rng.random((n_users, n_items)) < 0.2
    relevant[:, 0] = True
    relevant[:, 1] = False
    order = np.argsort(-raw, axis=1, kind="stable")
    auc = metrics.auc_from_ranking(
        np.take_along_axis(raw, order, axis=1),
        np.take_along_axis(relevant, order, axis=1),
        n_candidates=np.full(n_users, n_items),
        n_relevant=relevant.sum(axis=1),
    )
    for u in range(n_users):
        pos, neg = raw[u][relevant[u]], raw[u][~relevant[u]]
        u_stat = stats.mannwhitneyu(pos, neg).statistic
        assert auc[u] == pytest.approx(u_stat / (pos.size * neg.size), rel=1e-12)


def test_limited_auc_is_implicits_formula() -> None:
    # hits [1, 0, 1] with 2 relevant of 10 items (8 negatives): the one miss in the top 3 has
    # 1 hit above it; the 7 negatives below the list tie with nothing left: (2 + 2) / 2 each.
    value = metrics.limited_auc(np.array([[True, False, True]]), np.array([2]), np.array([8]))
    assert value[0] == pytest.approx((1 + (2 + 2) / 2 * 7) / (2 * 8))


def test_coverage_and_novelty() -> None:
    assert metrics.item_coverage(RECS, 10) == pytest.approx(4 / 10)  # items 1, 2, 4, 5
    info = metrics.self_information(np.array([8, 4, 2, 1]), 8)
    np.testing.assert_allclose(info, [0.0, 1.0, 2.0, 3.0])
    novelty = metrics.novelty(np.array([[0, 3], [1, -1], [-1, -1]]), info)
    np.testing.assert_allclose(novelty[:2], [1.5, 1.0])
    assert math.isnan(novelty[2])
    with pytest.raises(ValueError, match="n_users"):
        metrics.self_information(np.array([0, 1]), 2)


# -- cross-check with implicit ------------------------------------------------------------------


@pytest.fixture(scope="module")
def split() -> Split:
    data = generate(users=300, items=200, interactions=6000, seed=1)
    return random_split(interactions_from_ratings(data.ratings), seed=5)


@pytest.mark.parametrize(
    ("model_type", "params"),
    [("als", {"factors": 16, "iterations": 5, "random_state": 1}), ("item_knn", {"k": 20})],
)
def test_metrics_agree_with_implicit_ranking_metrics_at_k(
    split: Split, model_type: str, params: dict[str, Any]
) -> None:
    k = 10
    model, _ = fit_model(model_type, split.train, params=params)
    ours = evaluate_model(model, EvalData.from_split(split), k=k)

    # implicit ranks with its own code, in the model's index space.
    def matrix(part: Any) -> sp.csr_matrix:
        rows, cols = lookup(model.user_ids, part.user_ids), lookup(model.item_ids, part.movie_ids)
        assert (rows >= 0).all() and (cols >= 0).all()
        shape = (model.n_users, model.n_items)
        return sp.csr_matrix((np.ones(rows.shape[0], np.float32), (rows, cols)), shape=shape)

    implicit_model = model.to_implicit()  # type: ignore[attr-defined]  # ALS and item-kNN have it
    if isinstance(model, ALSRecommender):
        # Our ALS scores users with vectors folded in from their history: hand implicit those.
        implicit_model.user_factors = model.user_vectors(model.user_ids, histories=split.train)
    theirs = ranking_metrics_at_k(
        implicit_model, matrix(split.train), matrix(split.test), K=k, show_progress=False
    )
    per_user = ours.per_user
    assert np.mean(per_user["ndcg"]) == pytest.approx(theirs["ndcg"], rel=1e-9)
    assert np.mean(per_user["map"]) == pytest.approx(theirs["map"], rel=1e-9)
    # implicit's "precision" divides by min(|test|, K): our Recall@K, micro-averaged.
    n_rel = np.bincount(np.unique(split.test.user_ids, return_inverse=True)[1])
    hits = np.round(per_user["recall"] * np.minimum(n_rel, k))
    assert hits.sum() / np.minimum(n_rel, k).sum() == pytest.approx(theirs["precision"])
    # implicit's "auc" is AUC@K with every other item (train ones too) a negative.
    limited = metrics.limited_auc(_hit_matrix(model, split, k), n_rel, model.n_items - n_rel)
    assert np.mean(limited) == pytest.approx(theirs["auc"], rel=1e-9)
    # Our AUC ranks the whole catalogue, so it differs from the truncated one.
    assert 0.5 < np.mean(per_user["auc"]) < 1.0


def _hit_matrix(model: Any, split: Split, k: int) -> np.ndarray[Any, Any]:
    data = EvalData.from_split(split)
    ids, _ = model.recommend_batch(data.users, histories=split.train, k=k)
    return metrics.hits_at(lookup(data.item_ids, ids), data.relevant)
