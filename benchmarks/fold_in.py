"""Fold-in: what recomputing a user's vector from their current history costs, and what it buys.

Timing (default): an ML-1M-shaped synthetic dataset (``recsys.data.synth.generate``: 6,040 users,
3,706 movies, 1,000,000 ratings, seed 0), ALS and SVD trained with their default parameters, then
``model.recommend(user, history=..., k=10)`` (the API's scoring call, fold-in included) timed for
known users whose history length is at the median, the 90th percentile and the maximum of the
data, and for a history as long as ML-1M's longest (2,314 movies, drawn at random), under one
BLAS thread as the API runs. The fold-in alone (``als_fold_in``) is timed beside it, and so is
what BPR's fold-in (a Newton solve of BPR's objective) would cost per request, and implicit's own
``recalculate_user`` for the same ALS user, for comparison.

Quality (``--quality``): ML-100K (``./data/ml-100k``), leave-last-out as ``recsys evaluate``.
ALS is trained on the train part minus each user's last ``--late`` train interactions (they
"arrive after training"); the test users are then ranked with their full train history as the
request-time history, once with the trained (stale) vectors and once folded in from the
history, beside ALS trained on the full train part.

Run: ``uv run python benchmarks/fold_in.py`` (~40 s) and
``uv run python benchmarks/fold_in.py --quality`` (~20 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys.data.frames import Interactions
from recsys.data.loader import load_dataset
from recsys.data.synth import generate
from recsys.evaluation.splits import interactions_from_ratings, leave_last_out, take
from recsys.modeling.als import ALSRecommender, als_fold_in
from recsys.modeling.base import History, Recommender, top_k
from recsys.modeling.bpr import BPRRecommender, bpr_fold_in
from recsys.modeling.dataset import build_matrix, lookup
from recsys.modeling.registry import create_model, model_class

ROOT = Path(__file__).resolve().parent.parent
ML1M_LONGEST = 2_314  # ML-1M's most active user rated this many movies


def timed(work: Callable[[], Any], *, repeat: int) -> tuple[float, float]:
    """Median and p99 milliseconds of ``work`` over ``repeat`` calls (after one warm-up)."""
    work()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), float(np.percentile(samples, 99))


def synthetic_interactions() -> Interactions:
    """The ML-1M-shaped synthetic ratings."""
    data = generate(users=6_040, items=3_706, interactions=1_000_000, seed=0)
    return interactions_from_ratings(data.ratings)


def histories_by_length(data: Interactions) -> list[tuple[str, int, History]]:
    """(label, user id, history) for the median, p90 and longest user, and an ML-1M-max one."""
    users, counts = np.unique(data.user_ids, return_counts=True)
    picked = []
    for label, length in (
        ("median", np.median(counts)),
        ("p90", np.percentile(counts, 90)),
        ("max", counts.max()),
    ):
        user = int(users[np.argmin(np.abs(counts - length))])
        rows = data.user_ids == user
        picked.append((label, user, History(data.movie_ids[rows], data.ratings[rows])))
    # A known user (the longest one) with ML-1M's longest history: random movies, random stars.
    rng = np.random.default_rng(0)
    movies = rng.choice(np.unique(data.movie_ids), ML1M_LONGEST, replace=False)
    stars = rng.integers(1, 6, ML1M_LONGEST).astype(np.float32)
    picked.append(("ML-1M max", picked[2][1], History(movies, stars)))
    return picked


def bench_timing(repeat: int) -> None:
    """Print the per-request timings."""
    data = synthetic_interactions()
    print(f"{len(data):,} ratings; load average {os.getloadavg()[0]:.1f}")
    models: dict[str, Recommender[Any]] = {}
    for model_type in ("als", "svd", "bpr"):
        params = {"iterations": 20} if model_type == "bpr" else {}
        matrix = build_matrix(data, weighting=model_class(model_type).default_weighting)
        start = time.perf_counter()
        models[model_type] = create_model(model_type, params).fit(matrix)
        print(f"fit {model_type}: {time.perf_counter() - start:.1f} s")
    print()
    print(
        "| history | movies | als recommend() | als fold-in alone | implicit recalculate_user | "
        "svd recommend() | bpr fold-in (not done for known users) |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|")
    with threadpool_limits(1, "blas"):
        for label, user, history in histories_by_length(data):
            cells = time_one_user(models, user, history, repeat=repeat)
            shown = " | ".join(f"{median:.2f} (p99 {p99:.2f})" for median, p99 in cells[:4])
            print(f"| {label} | {len(history):,} | {shown} | {cells[4][0]:.1f} |")
    print("\nmilliseconds, median (p99) per call")


def time_one_user(
    models: dict[str, Recommender[Any]], user: int, history: History, *, repeat: int
) -> list[tuple[float, float]]:
    """(median, p99) ms of: als recommend, als fold-in alone, implicit's recalculate_user for
    the same user (for comparison), svd recommend, bpr fold-in."""
    als, svd, bpr = models["als"], models["svd"], models["bpr"]
    assert isinstance(als, ALSRecommender) and isinstance(bpr, BPRRecommender)
    gram = als._require_gram()
    cols = lookup(als.item_ids, history.movie_ids)
    weights = 1.0 + history.ratings  # the confidence weighting, alpha 1
    confidence = weights * als.params.alpha
    order = np.argsort(cols)
    row = sp.csr_matrix(
        (weights[order], cols[order], [0, cols.shape[0]]), shape=(1, als.n_items), dtype=np.float32
    )
    implicit_als = als.to_implicit()
    liked = lookup(bpr.item_ids, history.movie_ids)
    return [
        timed(lambda: als.recommend(user, history=history, k=10), repeat=repeat),
        timed(lambda: als_fold_in(als.item_factors, gram, cols, confidence), repeat=repeat),
        timed(lambda: implicit_als.recalculate_user(0, row), repeat=repeat),
        timed(lambda: svd.recommend(user, history=history, k=10), repeat=repeat),
        timed(
            lambda: bpr_fold_in(
                bpr.item_factors, bpr.item_counts, liked, regularization=bpr.params.regularization
            ),
            repeat=max(3, repeat // 50),
        ),
    ]


def ranking_quality(
    model: ALSRecommender, vectors: np.ndarray, train: Interactions, test: Interactions, k: int
) -> tuple[float, float]:
    """HR@k and NDCG@k of ranking every unrated movie by ``vectors @ item_factors.T``."""
    users = np.unique(test.user_ids)
    scores = vectors @ model.item_factors.T
    rows = lookup(users, train.user_ids)
    cols = lookup(model.item_ids, train.movie_ids)
    seen = (rows >= 0) & (cols >= 0)
    scores[rows[seen], cols[seen]] = -np.inf
    top, _ = top_k(scores, k)
    target = lookup(model.item_ids, test.movie_ids[np.argsort(test.user_ids, kind="stable")])
    hit_rank = np.argmax(top == target[:, None], axis=1)
    hit = (top == target[:, None]).any(axis=1)
    ndcg = np.where(hit, 1.0 / np.log2(hit_rank + 2.0), 0.0)
    return float(hit.mean()), float(ndcg.mean())


def bench_quality(late: int, k: int) -> None:
    """Print HR/NDCG of stale vs folded-in vectors when the last ``late`` interactions are new."""
    dataset = load_dataset(ROOT / "data" / "ml-100k", name="ml-100k")
    split = leave_last_out(interactions_from_ratings(dataset.ratings), n=1)
    test_users = np.unique(split.test.user_ids)
    print(f"ML-100K leave-last-out: {test_users.shape[0]} test users, k={k}")
    print("\n| ALS trained on | vectors | HR@10 | NDCG@10 |\n|---|---|--:|--:|")
    for n_late in (0, late):
        if n_late:
            inner = leave_last_out(split.train, n=n_late)
            trained_on, label = inner.train, f"train minus each user's last {n_late}"
        else:
            trained_on, label = split.train, "the full train part"
        model = create_model("als", {}).fit(build_matrix(trained_on, weighting="confidence"))
        assert isinstance(model, ALSRecommender)
        users_known = lookup(model.user_ids, test_users)
        stale = np.zeros((test_users.shape[0], model.params.factors), np.float32)
        stale[users_known >= 0] = model.user_factors[users_known[users_known >= 0]]
        rows = np.flatnonzero(np.isin(split.train.user_ids, test_users))
        history = take(split.train, rows)
        folded = model.user_vectors(test_users, histories=history)
        for name, vectors in (("trained (stale)", stale), ("folded in from the history", folded)):
            hr, ndcg = ranking_quality(model, vectors, history, split.test, k)
            print(f"| {label} | {name} | {hr:.4f} | {ndcg:.4f} |")


def main() -> None:
    """Timing by default; ``--quality`` for the stale-vs-fold-in comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality", action="store_true", help="ML-100K stale vs fold-in")
    parser.add_argument("--late", type=int, default=5, help="interactions after training")
    parser.add_argument("--repeat", type=int, default=300, help="timed calls per cell")
    args = parser.parse_args()
    if args.quality:
        bench_quality(args.late, 10)
    else:
        bench_timing(args.repeat)


if __name__ == "__main__":
    main()
