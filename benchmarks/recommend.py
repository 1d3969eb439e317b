"""Per-request model time: ``recommend`` + ``explain`` before and after issue 13's fast path.

In process, no HTTP: for each model type, per request (a random known user with their whole
training history as the request-time history, k=10, one BLAS thread as the API runs), the time
of

- before: ``recommend_reference`` (a one-row scipy matrix through ``_score``, the old path)
  then ``explain_reference`` (scipy fancy indexing);
- after: ``recommend`` (numpy over arrays kept at load; latent models with exact search here)
  then ``explain``;

interleaved request by request, so both see the same load. Median and p99 in microseconds, and
the load average before and after. Each answer pair is checked equal (same ids in order).

Sizes: ``100k`` is MovieLens 100K (``./data/ml-100k``); ``62k`` is the synthetic 162,541 users
x 62,423 movies x 10M ratings of ``benchmarks/train.py`` (its cached CSV copy is reused, or
generated), read once into an .npz cache. Models are trained once per size and kept in a local
artifact store under the cache (``--retrain`` to redo); at 62k with fewer iterations (ALS 5,
BPR 3: the scoring cost does not depend on them). For the latent models at 62k, ``--ann`` also
measures the approximate index (``recsys.modeling.ann``) against exact search: recall@10 of
the approximate answer against the exact one, and both per-request times.

Run (heavy at 62k: under the shared lock):

    uv run python benchmarks/recommend.py --sizes 100k
    flock /tmp/recsys-heavy.lock uv run python benchmarks/recommend.py --sizes 62k --ann
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from recsys.data.frames import Interactions
from recsys.data.loader import load_dataset
from recsys.data.synth import generate
from recsys.data.writer import write_dataset
from recsys.evaluation.splits import interactions_from_ratings
from recsys.modeling.ann import search_mode
from recsys.modeling.artifacts import LocalArtifactStore, load_model, save_model
from recsys.modeling.base import History, Recommender
from recsys.modeling.dataset import build_matrix
from recsys.modeling.latent import LatentFactorRecommender
from recsys.modeling.registry import create_model, model_class

ROOT = Path(__file__).resolve().parent.parent
K = 10
SYNTH = {"users": 162_541, "items": 62_423, "interactions": 10_000_000, "seed": 0}
DEFAULT_MODELS = "als,item_knn,svd,bpr,cooccurrence,popularity,random"
# Training parameters per size where the defaults would take long to fit; scoring cost
# does not depend on them.
PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "100k": {},
    "62k": {"als": {"iterations": 5}, "bpr": {"iterations": 3}},
}
# Too slow to fit at 62k here (dense co-occurrence blocks over 62k x 62k).
SKIP = {"62k": {"cooccurrence"}}


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recsys" / "benchmarks"


def interactions_for(size: str) -> Interactions:
    """ML-100K from ./data, or the synthetic 10M set (cached as .npz after the first read)."""
    if size == "100k":
        return interactions_from_ratings(load_dataset(ROOT / "data" / "ml-100k").ratings)
    cache = cache_root() / "recommend" / "synth-10m-interactions.npz"
    if cache.is_file():
        with np.load(cache) as f:
            return Interactions(f["user_ids"], f["movie_ids"], f["ratings"], f["timestamps"])
    start = time.perf_counter()
    csv_dir = (
        cache_root()
        / f"synth-{SYNTH['users']}u-{SYNTH['items']}m-{SYNTH['interactions']}r-seed{SYNTH['seed']}"
    )
    if (csv_dir / "COMPLETE.json").is_file():
        ratings = load_dataset(csv_dir / "synth").ratings
    else:
        synthetic = generate(
            users=SYNTH["users"],
            items=SYNTH["items"],
            interactions=SYNTH["interactions"],
            seed=SYNTH["seed"],
        )
        write_dataset(synthetic, csv_dir / "synth")
        (csv_dir / "COMPLETE.json").write_text(json.dumps(SYNTH) + "\n")
        ratings = synthetic.ratings
    interactions = interactions_from_ratings(ratings)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache,
        user_ids=interactions.user_ids,
        movie_ids=interactions.movie_ids,
        ratings=interactions.ratings,
        timestamps=interactions.timestamps,
    )
    print(f"  data: read and cached in {time.perf_counter() - start:.1f} s", flush=True)
    return interactions


def trained(
    size: str, model_type: str, interactions: Interactions, *, retrain: bool, train_rows: int = 0
) -> Any:
    """The model of ``model_type`` for ``size``: loaded from the cache store, else trained.

    ``train_rows`` > 0 fits on that many random rows (same catalogue, a cheaper fit).
    """
    suffix = f"-sub{train_rows}" if train_rows else ""
    store = LocalArtifactStore(cache_root() / "recommend" / f"models-{size}{suffix}")
    if not retrain and store.exists(f"{model_type}/LATEST"):
        start = time.perf_counter()
        model, _ = load_model(store, model_type)
        print(f"  {model_type}: loaded in {time.perf_counter() - start:.1f} s", flush=True)
        return model
    start = time.perf_counter()
    cls = model_class(model_type)
    if train_rows:
        rows = np.random.default_rng(0).permutation(len(interactions))[:train_rows]
        interactions = Interactions(
            interactions.user_ids[rows],
            interactions.movie_ids[rows],
            interactions.ratings[rows],
            interactions.timestamps[rows],
        )
    matrix = build_matrix(interactions, weighting=cls.default_weighting)
    model = create_model(model_type, PARAMS[size].get(model_type, {})).fit(matrix)
    fitted = time.perf_counter()
    index = ""
    if isinstance(model, LatentFactorRecommender) and model.uses_ann:
        model.ann_index()  # what training adds at this size (saved with the model)
        index = f", index built in {time.perf_counter() - fitted:.1f} s"
    save_model(store, model)
    print(f"  {model_type}: fit in {fitted - start:.1f} s{index}", flush=True)
    return model


def sample_histories(interactions: Interactions, *, n: int, seed: int) -> list[tuple[int, History]]:
    """``n`` random users with their whole history (movie ids, ratings, timestamps)."""
    order = np.argsort(interactions.user_ids, kind="stable")
    users = interactions.user_ids[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    stops = np.r_[starts[1:], users.shape[0]]
    rng = np.random.default_rng(seed)
    picked = rng.choice(starts.shape[0], size=min(n, starts.shape[0]), replace=False)
    out = []
    for i in picked.tolist():
        rows = order[starts[i] : stops[i]]
        history = History(
            interactions.movie_ids[rows], interactions.ratings[rows], interactions.timestamps[rows]
        )
        out.append((int(users[starts[i]]), history))
    return out


def summary(seconds: list[float]) -> dict[str, float]:
    us = np.asarray(seconds) * 1e6
    return {"median_us": float(np.median(us)), "p99_us": float(np.percentile(us, 99))}


def paired(
    requests: list[tuple[int, History]],
    before: Callable[[int, History], Any],
    after: Callable[[int, History], Any],
    *,
    rounds: int,
) -> tuple[list[float], list[float]]:
    """Per-request seconds of ``before`` and ``after``, alternating which goes first."""
    t_before, t_after = [], []
    clock = time.perf_counter
    for r in range(rounds):
        for i, (user, history) in enumerate(requests):
            if (i + r) % 2:
                t0 = clock()
                b = before(user, history)
                t1 = clock()
                a = after(user, history)
                t2 = clock()
                t_before.append(t1 - t0)
                t_after.append(t2 - t1)
            else:
                t0 = clock()
                a = after(user, history)
                t1 = clock()
                b = before(user, history)
                t2 = clock()
                t_after.append(t1 - t0)
                t_before.append(t2 - t1)
            if r == 0 and not np.array_equal(a, b):
                sys.exit(f"answers differ for user {user}: {a} vs {b}")
    return t_before, t_after


def measure(
    model: Recommender[Any], requests: list[tuple[int, History]], rounds: int
) -> dict[str, Any]:
    def before(user: int, history: History) -> Any:
        ids, _ = model.recommend_reference(user, history=history, k=K)
        return np.r_[ids, model.explain_reference(history, ids)]

    def after(user: int, history: History) -> Any:
        ids, _ = model.recommend(user, history=history, k=K)
        return np.r_[ids, model.explain(history, ids)]

    for user, history in requests[:20]:  # warm-up: thread-local scratch, caches
        before(user, history)
        after(user, history)
    t_before, t_after = paired(requests, before, after, rounds=rounds)
    b, a = summary(t_before), summary(t_after)
    return {"before": b, "after": a, "speed-up": b["median_us"] / a["median_us"]}


def measure_ann(
    model: LatentFactorRecommender[Any], requests: list[tuple[int, History]], rounds: int
) -> dict[str, Any]:
    """Exact vs approximate top-k of a latent model: recall@K and per-request times."""

    def exact(user: int, history: History) -> Any:
        with search_mode(model, "exact"):
            return model.recommend(user, history=history, k=K)[0]

    def approximate(user: int, history: History) -> Any:
        with search_mode(model, "ann"):
            return model.recommend(user, history=history, k=K)[0]

    recalls = []
    for user, history in requests:
        want, got = exact(user, history), approximate(user, history)
        recalls.append(len(set(want.tolist()) & set(got.tolist())) / max(len(want), 1))
    t_exact, t_ann = [], []
    clock = time.perf_counter
    for _ in range(rounds):
        for user, history in requests:
            t0 = clock()
            exact(user, history)
            t1 = clock()
            approximate(user, history)
            t2 = clock()
            t_exact.append(t1 - t0)
            t_ann.append(t2 - t1)
    e, a = summary(t_exact), summary(t_ann)
    return {
        f"recall@{K}": float(np.mean(recalls)),
        "exact": e,
        "ann": a,
        "speed-up": e["median_us"] / a["median_us"],
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100k", help="comma-separated: 100k, 62k")
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--requests", type=int, default=300, help="users sampled per model")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the sampled users")
    parser.add_argument("--ann", action="store_true", help="latent models: exact vs ANN too")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument(
        "--train-rows", type=int, default=0, help="fit on this many random rows (0: all)"
    )
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for size in args.sizes.split(","):
        print(f"== {size}", flush=True)
        interactions = interactions_for(size)
        requests = sample_histories(interactions, n=args.requests, seed=13)
        lengths = [len(h) for _, h in requests]
        print(f"  history length median {statistics.median(lengths):.0f}, max {max(lengths)}")
        for model_type in args.models.split(","):
            if model_type in SKIP.get(size, set()):
                print(f"  {model_type}: skipped at {size} (too slow to fit here)")
                continue
            model = trained(
                size, model_type, interactions, retrain=args.retrain, train_rows=args.train_rows
            )
            if args.train_only:
                continue
            with threadpool_limits(1, "blas"):
                load_before = loadavg()
                if isinstance(model, LatentFactorRecommender):
                    # Exact here, so the answers can be checked equal; the index below.
                    with search_mode(model, "exact"):
                        row = measure(model, requests, args.rounds)
                else:
                    row = measure(model, requests, args.rounds)
                if args.ann and isinstance(model, LatentFactorRecommender):
                    row["ann"] = measure_ann(model, requests, args.rounds)
                row["loadavg"] = [load_before, loadavg()]
            results[f"{size}/{model_type}"] = row
            b, a = row["before"], row["after"]
            print(
                f"  {model_type:13s} before {b['median_us']:8.0f} us (p99 {b['p99_us']:8.0f})"
                f"  after {a['median_us']:7.0f} us (p99 {a['p99_us']:7.0f})"
                f"  x{row['speed-up']:.1f}  load {row['loadavg']}",
                flush=True,
            )
            if "ann" in row:
                e, n = row["ann"]["exact"], row["ann"]["ann"]
                print(
                    f"  {'':13s} exact {e['median_us']:8.0f} us (p99 {e['p99_us']:8.0f})"
                    f"  ann {n['median_us']:7.0f} us (p99 {n['p99_us']:7.0f})"
                    f"  recall@{K} {row['ann'][f'recall@{K}']:.3f}",
                    flush=True,
                )
            del model
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
