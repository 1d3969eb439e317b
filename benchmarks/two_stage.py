"""Two-stage diagnostics on ML-100K (leave-last-out or random 80/20): candidate recall, ranker
AUC and gain, and the per-request time of ``recommend()``.

    uv run python benchmarks/two_stage.py [--data-dir data] [--repeat 1] [--protocol random]

Fits ``two_stage`` on the split's train part (as ``recsys evaluate`` does), then:
- candidate recall@N: per test user, the share of their held-out movies in a source's top N
  (``per_source``; EASE: ``ease_per_source``) and in the union;
- the ranker's held-out AUC and best iteration, and its gain per feature (from the fit);
- ``recommend(user, history=train rows with timestamps, k=10)`` timed for every test user,
  one thread: median, p90, p99, max.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from recsys.data import load_dataset
from recsys.evaluation.runner import EvalData, fit_model
from recsys.evaluation.splits import interactions_from_ratings, item_attributes, make_split
from recsys.modeling.base import History
from recsys.modeling.dataset import lookup
from recsys.modeling.two_stage.model import TwoStageRecommender


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--protocol", default="leave-last-out", choices=["leave-last-out", "random"]
    )
    args = parser.parse_args()
    dataset = load_dataset(args.data_dir / "ml-100k", name="ml-100k")
    options = {"test_fraction": 0.2, "seed": 42} if args.protocol == "random" else {}
    split = make_split(
        interactions_from_ratings(dataset.ratings), protocol=args.protocol, **options
    )
    data = EvalData.from_split(split)
    model, fit_seconds = fit_model("two_stage", split.train, items=item_attributes(dataset.movies))
    assert isinstance(model, TwoStageRecommender)
    print(f"fit: {fit_seconds:.1f} s")
    diagnostics = dict(model.diagnostics)
    gain = diagnostics.pop("gain")
    print(json.dumps(diagnostics, indent=1))
    total = sum(gain.values())
    print("gain share per feature:")
    for name, value in sorted(gain.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {value / total:6.3f}")

    users = data.users
    columns = model._history_columns(users, data.histories(users))
    sequences = model._sequences(users.shape[0], columns)
    candidates = model.candidates_for(sequences, lookup(model.user_ids, users))
    # Per user: the share of their held-out movies among the candidates (LLO: 0 or 1).
    data_index = lookup(data.item_ids, model.item_ids[candidates.cols])
    hit = np.zeros(candidates.n_pairs, dtype=np.bool_)
    known = data_index >= 0
    hit[known] = np.asarray(data.relevant[candidates.rows[known], data_index[known]]).ravel() > 0
    n_relevant = np.maximum(data.n_relevant, 1)

    def recall(found: np.ndarray) -> float:
        per_user = np.bincount(candidates.rows[found], minlength=users.shape[0]) / n_relevant
        return float(per_user.mean())

    print(f"candidates per user: {candidates.n_pairs / users.shape[0]:.1f}")
    for s, name in enumerate(candidates.source_names):
        proposed = hit & np.isfinite(candidates.scores[:, s])
        depth = model.params.ease_per_source if name == "ease" else model.params.per_source
        print(f"recall@{depth} {name:18s} {recall(proposed):.4f}")
    print(f"recall union              {recall(hit):.4f}")

    train = data.train
    timings = []
    for _ in range(args.repeat):
        for user in users:
            lo = int(np.searchsorted(train.user_ids, user, side="left"))
            hi = int(np.searchsorted(train.user_ids, user, side="right"))
            history = History.of(
                train.movie_ids[lo:hi], train.ratings[lo:hi], train.timestamps[lo:hi]
            )
            started = time.perf_counter()
            model.recommend(int(user), history=history, k=10)
            timings.append(time.perf_counter() - started)
    ms = np.array(timings) * 1000
    print(
        f"recommend() over {ms.shape[0]} requests, one thread: median {np.median(ms):.2f} ms, "
        f"p90 {np.percentile(ms, 90):.2f}, p99 {np.percentile(ms, 99):.2f}, max {ms.max():.2f}"
    )


if __name__ == "__main__":
    main()
