"""The chunked, vectorised evaluation equals a plain per-user loop over ``recommend``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from recsys.data.synth import generate
from recsys.evaluation import runner
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import Split, interactions_from_ratings, random_split
from recsys.modeling.base import History

K = 5


@pytest.fixture(scope="module")
def split() -> Split:
    data = generate(users=120, items=80, interactions=2000, seed=4)
    return random_split(interactions_from_ratings(data.ratings), seed=2)


def brute_force(model: Any, split: Split, k: int) -> dict[str, list[float]]:
    """HR, NDCG, MRR and AUC per test user, one user at a time, straight from the definitions."""
    catalogue = set(split.train.movie_ids.tolist())
    out: dict[str, list[float]] = {"hr": [], "ndcg": [], "mrr": [], "auc": [], "top": []}
    for user in np.unique(split.test.user_ids):
        seen = split.train.user_ids == user
        history = History(split.train.movie_ids[seen], split.train.ratings[seen])
        relevant = set(split.test.movie_ids[split.test.user_ids == user].tolist())
        ids, scores = model.recommend(int(user), history=history, k=len(catalogue))
        ranked = ids.tolist()
        top = ranked[:k]
        out["top"].extend(top)
        gains = [1.0 if item in relevant else 0.0 for item in top]
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
        first = next((i for i, g in enumerate(gains) if g), None)
        out["hr"].append(float(any(gains)))
        out["ndcg"].append(dcg / ideal)
        out["mrr"].append(0.0 if first is None else 1.0 / (first + 1))
        score_of = dict(zip(ranked, scores.tolist(), strict=True))
        candidates = catalogue - set(history.movie_ids.tolist())
        pos = [score_of.get(i, -np.inf) for i in candidates if i in relevant]
        neg = [score_of.get(i, -np.inf) for i in candidates if i not in relevant]
        out["auc"].append(stats.mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))
    return out


@pytest.mark.parametrize(
    ("model_type", "params"),
    [("item_knn", {"k": 10}), ("popularity", {}), ("als", {"factors": 4, "iterations": 3})],
)
def test_chunked_evaluation_equals_the_per_user_loop(
    split: Split, model_type: str, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = fit_model(model_type, split.train, params=params)
    data = EvalData.from_split(split)
    # Chunks of ~7 users, so the loop, slicing and concatenation are all exercised.
    monkeypatch.setattr(runner, "_CHUNK_CELLS", 7 * model.n_items)
    got = evaluate_model(model, data, k=K)
    expected = brute_force(model, split, K)
    for name in ("hr", "ndcg", "mrr", "auc"):
        np.testing.assert_allclose(got.per_user[name], expected[name], rtol=1e-9, err_msg=name)
    assert got.coverage == pytest.approx(len(set(expected["top"])) / data.n_items)
    np.testing.assert_allclose(got.ndcg_curve[K - 1], np.mean(expected["ndcg"]))
    assert got.model_type == model_type and got.k == K


def test_without_auc_only_auc_is_missing(split: Split) -> None:
    model, _ = fit_model("item_knn", split.train)
    data = EvalData.from_split(split)
    full = evaluate_model(model, data, k=K)
    short = evaluate_model(model, data, k=K, with_auc=False)
    assert np.isnan(short.per_user["auc"]).all()
    for name in ("hr", "recall", "precision", "ndcg", "map", "mrr", "novelty"):
        np.testing.assert_array_equal(short.per_user[name], full.per_user[name])
    np.testing.assert_allclose(short.ndcg_curve, full.ndcg_curve)


def test_personalised_model_beats_popularity_on_taste_groups(split: Split) -> None:
    data = EvalData.from_split(split)
    ndcg = {}
    for model_type in ("item_knn", "popularity"):
        model, seconds = fit_model(model_type, split.train)
        result = evaluate_model(model, data, k=10, fit_seconds=seconds)
        ndcg[model_type] = result.estimates()["ndcg"]
        assert result.fit_seconds == seconds > 0 and result.eval_seconds > 0
    assert ndcg["item_knn"].low > ndcg["popularity"].high


def test_bad_k_is_refused(split: Split) -> None:
    model, _ = fit_model("popularity", split.train)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 1000\]"):
        evaluate_model(model, EvalData.from_split(split), k=0)
