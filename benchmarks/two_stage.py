"""Two-stage diagnostics on ML-100K leave-last-out: candidate recall, ranker AUC and gain, and
the per-request time of ``recommend()``.

    uv run python benchmarks/two_stage.py [--data-dir data] [--repeat 1]

Fits ``two_stage`` on the split's train part (as ``recsys evaluate`` does), then:
- candidate recall@N: share of test users whose held-out movie is in a source's top N
  (``per_source``) and in the union;
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
from recsys.modeling import History
from recsys.modeling.dataset import lookup
from recsys.modeling.two_stage.model import TwoStageRecommender


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    dataset = load_dataset(args.data_dir / "ml-100k", name="ml-100k")
    split = make_split(interactions_from_ratings(dataset.ratings), protocol="leave-last-out")
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
    target = lookup(model.item_ids, split.test.movie_ids[np.argsort(split.test.user_ids)])
    hit = candidates.cols == target[candidates.rows]
    print(f"candidates per user: {candidates.n_pairs / users.shape[0]:.1f}")
    for s, name in enumerate(candidates.source_names):
        proposed = hit & np.isfinite(candidates.scores[:, s])
        print(f"recall@{model.params.per_source} {name:18s} {proposed.sum() / users.shape[0]:.4f}")
    print(f"recall union              {hit.sum() / users.shape[0]:.4f}")

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
