"""Time build_matrix, fit and batch scoring on synthetic MovieLens-1M-sized data.

Run: ``uv run python benchmarks/train_fit.py --ratings 1000000``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from recsys.data.frames import Interactions
from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model


def synthetic(n_ratings: int, n_users: int, n_items: int, seed: int) -> Interactions:
    """Zipf-ish movie popularity, uniform users, unique (user, movie) pairs."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    draws = int(n_ratings * 1.3)
    users = rng.integers(1, n_users + 1, draws).astype(np.int64)
    movies = rng.choice(n_items, draws, p=weights / weights.sum()).astype(np.int64) + 1
    keys = rng.permutation(np.unique(users * (n_items + 1) + movies))[:n_ratings]
    n = keys.shape[0]
    return Interactions(
        user_ids=(keys // (n_items + 1)).astype(np.int64),
        movie_ids=(keys % (n_items + 1)).astype(np.int64),
        ratings=rng.integers(1, 6, size=(n,)).astype(np.float32),
        timestamps=rng.integers(956_703_932, 1_046_454_590, size=(n,)).astype(np.int64),
    )


@contextmanager
def timer(label: str) -> Iterator[None]:
    """Print the wall time of the block."""
    start = time.perf_counter()
    yield
    print(f"{label:<48} {time.perf_counter() - start:8.2f} s", flush=True)


def main() -> None:
    """Print timings for each step."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=6_040)
    parser.add_argument("--items", type=int, default=3_706)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = synthetic(args.ratings, args.users, args.items, args.seed)
    print(f"{len(data):,} ratings, {args.users:,} users, {args.items:,} movies")
    with timer("build_matrix(bm25)"):
        build_matrix(data, weighting="bm25")
    with timer("build_matrix(confidence)"):
        matrix = build_matrix(data, weighting="confidence")
    users = matrix.user_ids
    configs: list[tuple[str, dict[str, Any]]] = [
        ("als", {"factors": 64, "iterations": 15}),
        ("item_knn", {"k": 50}),
        ("popularity", {}),
    ]
    for model_type, params in configs:
        with timer(f"fit {model_type}"):
            model = create_model(model_type, params).fit(matrix)
        with timer(f"recommend_batch {model_type} ({users.shape[0]:,} users, k=10)"):
            model.recommend_batch(users, histories=data, k=10)


if __name__ == "__main__":
    main()
