"""Two-stage diagnostics on ML-100K (leave-last-out or random 80/20): candidate recall, ranker
AUC and gain, and the per-request time of ``recommend()``.

    uv run python benchmarks/two_stage.py [--data-dir data] [--repeat 1] [--protocol random]

Fits ``two_stage`` on the split's train part (as ``recsys evaluate`` does), then:
- candidate recall@N: per test user, the share of their held-out movies in a source's top N
  (``per_source``; EASE: ``ease_per_source``) and in the union;
- the ranker's held-out AUC and best iteration, and its gain per feature (from the fit);
- ``recommend(user, history=train rows with timestamps, k=10)`` timed for every test user,
  one thread: median, p90, p99, max, and CPU per request;
- the same requests through the batch path (``Recommender.recommend``, the implementation
  before the numpy serving path), alternating rounds in the same run, answers compared.
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
from recsys.modeling.base import History, Recommender
from recsys.modeling.dataset import lookup
from recsys.modeling.two_stage.model import TwoStageRecommender


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--repeat", type=int, default=3)
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
    requests = []
    for user in users:
        lo = int(np.searchsorted(train.user_ids, user, side="left"))
        hi = int(np.searchsorted(train.user_ids, user, side="right"))
        history = History.of(train.movie_ids[lo:hi], train.ratings[lo:hi], train.timestamps[lo:hi])
        requests.append((int(user), history))

    def batch_path(user: int, history: History) -> tuple[np.ndarray, np.ndarray]:
        return Recommender.recommend(model, user, history=history, k=10)

    def serving_path(user: int, history: History) -> tuple[np.ndarray, np.ndarray]:
        return model.recommend(user, history=history, k=10)

    different = 0
    for user, history in requests:
        (a, sa), (b, sb) = batch_path(user, history), serving_path(user, history)
        different += not (np.array_equal(a, b) and np.allclose(sa, sb, rtol=0, atol=1e-5))
    print(f"answers differing between the two paths: {different} of {len(requests)}")
    cpu: dict[str, list[float]] = {"batch path": [], "serving path": []}
    for _ in range(args.repeat):
        for name, path in (("batch path", batch_path), ("serving path", serving_path)):
            timings = []
            started_cpu = time.process_time()
            for user, history in requests:
                started = time.perf_counter()
                path(user, history)
                timings.append(time.perf_counter() - started)
            cpu[name].append((time.process_time() - started_cpu) / len(requests) * 1000)
            ms = np.array(timings) * 1000
            print(
                f"{name:12s} recommend() over {ms.shape[0]} requests, one thread: median "
                f"{np.median(ms):.2f} ms, p90 {np.percentile(ms, 90):.2f}, "
                f"p99 {np.percentile(ms, 99):.2f}, max {ms.max():.2f}; CPU {cpu[name][-1]:.2f} ms"
            )
    ratio = np.median(cpu["batch path"]) / np.median(cpu["serving path"])
    print(f"CPU per request, batch / serving path: {ratio:.1f}x")
    print("loadavg", Path("/proc/loadavg").read_text().strip())


if __name__ == "__main__":
    main()
