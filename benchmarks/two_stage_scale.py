"""two_stage at catalogue scale on synthetic data: fit time, peak memory, per-request time.

    # 1. generate once (cached as .npz under --cache), 2. fit in a fresh process under
    #    /usr/bin/time -v for the peak RSS of the fit alone:
    uv run python benchmarks/two_stage_scale.py generate --rows 5000000
    flock /tmp/recsys-heavy.lock /usr/bin/time -v \
        uv run python benchmarks/two_stage_scale.py fit --rows 5000000

Sizes: ``--users 162541 --movies 62423`` (ML-25M's shape) by default, ``--rows`` interactions,
``recsys.data.synth.generate`` with seed 42. ``fit`` does what ``recsys train`` does after
reading (``build_matrix`` with two_stage's weighting, ``fit``), prints the fit time, the peak
RSS (``ru_maxrss``), the choices recorded in ``data_info``, and then times
``recommend(user, history=all their rows, k=10)`` for ``--requests`` random users in-process
(one thread): median, p90, p99, max, CPU per request. ``--store URI`` also saves the fitted
model as a servable version there (what ``recsys train`` writes), for ``benchmarks/serve.py
--artifact-uri``; ``--seed 0 --cache DIR`` with ``--rows 25000000`` gives the rows of
``benchmarks/train.py``'s 25M set (the same generator call).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from recsys.data.frames import Interactions
from recsys.modeling import npz
from recsys.modeling.artifacts import open_store, save_model
from recsys.modeling.base import History
from recsys.modeling.dataset import build_matrix
from recsys.modeling.items import ItemAttributes
from recsys.modeling.two_stage.model import TwoStageRecommender
from recsys.modeling.two_stage.params import TwoStageParams


def cache_file(args: argparse.Namespace) -> Path:
    name = f"synth-{args.users}u-{args.movies}m-{args.rows}r-seed{args.seed}.npz"
    path: Path = args.cache / name
    return path


def generate(args: argparse.Namespace) -> None:
    from recsys.data.synth import generate as synth
    from recsys.evaluation.splits import interactions_from_ratings, item_attributes

    path = cache_file(args)
    if path.is_file():
        print(f"cached: {path}")
        return
    started = time.perf_counter()
    data = synth(users=args.users, items=args.movies, interactions=args.rows, seed=args.seed)
    rows = interactions_from_ratings(data.ratings)
    items = item_attributes(data.movies)
    args.cache.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        user_ids=rows.user_ids,
        movie_ids=rows.movie_ids,
        ratings=rows.ratings,
        timestamps=rows.timestamps,
        item_ids=items.movie_ids,
        years=items.years,
        genres=items.genres,
        genre_names=np.array(items.genre_names),
    )
    print(f"generated {len(rows):,} rows in {time.perf_counter() - started:.1f} s -> {path}")


def timed(owner: Any, name: str) -> None:
    """Print the wall time of every call of ``owner.name`` (the fit's stages)."""
    inner = getattr(owner, name)

    def wrapper(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        out = inner(*a, **kw)
        print(f"  {name}: {time.perf_counter() - started:.1f} s", flush=True)
        return out

    setattr(owner, name, wrapper)


def fit(args: argparse.Namespace) -> None:
    from recsys.modeling.two_stage import model as two_stage

    stages = ("fit_sources", "train_ranker", "training_sequences", "base_interactions")
    for stage in (*stages, "ranker_groups"):
        timed(two_stage, stage)
    with np.load(cache_file(args)) as npz:
        rows = Interactions(
            user_ids=npz["user_ids"],
            movie_ids=npz["movie_ids"],
            ratings=npz["ratings"],
            timestamps=npz["timestamps"],
        )
        items = ItemAttributes(
            movie_ids=npz["item_ids"],
            years=npz["years"],
            genres=npz["genres"],
            genre_names=tuple(str(g) for g in npz["genre_names"]),
        )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    started = time.perf_counter()
    matrix = build_matrix(rows, weighting="binary", items=items)
    params = TwoStageParams.from_dict(json.loads(args.params))
    assert isinstance(params, TwoStageParams)
    model = TwoStageRecommender(params).fit(matrix)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"shape {matrix.shape}, {len(rows):,} rows: fit {seconds:.1f} s")
    print(f"peak RSS {peak:.2f} GiB (after loading the rows: {before:.2f} GiB)")
    print("data_info:", json.dumps({k: model.data_info[k] for k in ("ease_items", "ranker_users")}))
    diagnostics = {k: v for k, v in model.diagnostics.items() if k != "gain"}
    print("diagnostics:", json.dumps(diagnostics))
    started = time.perf_counter()
    model.serving_model()
    print(f"serving arrays built in {time.perf_counter() - started:.1f} s")
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        for name, arrays in model.to_state().items():
            (args.save / f"{name}.npz").write_bytes(npz.dumps(arrays))
        info = {"params": model.params.to_dict(), "data": model.data_info}
        (args.save / "model.json").write_text(json.dumps(info))
    if args.store is not None:
        # A servable version (manifest, hashes, LATEST) for benchmarks/serve.py --artifact-uri.
        started = time.perf_counter()
        info = save_model(open_store(args.store), model)
        print(f"saved {info.version} to {args.store} in {time.perf_counter() - started:.1f} s")
    time_requests(model, rows, args)


def profile(args: argparse.Namespace) -> None:
    """Load a model saved by ``fit --save`` and time (and cProfile) its requests."""
    import cProfile
    import pstats

    with np.load(cache_file(args)) as npz_file:
        rows = Interactions(
            user_ids=npz_file["user_ids"],
            movie_ids=npz_file["movie_ids"],
            ratings=npz_file["ratings"],
            timestamps=npz_file["timestamps"],
        )
    info = json.loads((args.save / "model.json").read_text())
    state = {path.stem: npz.loads(path.read_bytes()) for path in args.save.glob("*.npz")}
    started = time.perf_counter()
    model = TwoStageRecommender.from_state(info["params"], info["data"], state)
    print(f"loaded in {time.perf_counter() - started:.1f} s")
    time_requests(model, rows, args)
    profiler = cProfile.Profile()
    profiler.enable()
    time_requests(model, rows, args)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def time_requests(model: TwoStageRecommender, rows: Interactions, args: argparse.Namespace) -> None:
    """``recommend(user, history=all their rows, k=10)`` for ``--requests`` random users."""
    rng = np.random.default_rng(0)
    order = np.argsort(rows.user_ids, kind="stable")
    sorted_users = rows.user_ids[order]
    users = rng.choice(model.user_ids, size=args.requests, replace=False)
    walls, cpus = [], []
    # One BLAS thread, as the API serves (ALS's fold-in and scoring are BLAS calls; two
    # threads on two shared cores spin and triple the CPU per request).
    limits = threadpool_limits(1, "blas")
    for user in users:
        lo = int(np.searchsorted(sorted_users, user, side="left"))
        hi = int(np.searchsorted(sorted_users, user, side="right"))
        own = order[lo:hi]
        history = History.of(rows.movie_ids[own], rows.ratings[own], rows.timestamps[own])
        wall, cpu = time.perf_counter(), time.process_time()
        model.recommend(int(user), history=history, k=10)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    limits.unregister()
    ms = np.array(walls) * 1000
    print(
        f"recommend() over {ms.shape[0]} requests: median {np.median(ms):.2f} ms, "
        f"p90 {np.percentile(ms, 90):.2f}, p99 {np.percentile(ms, 99):.2f}, max {ms.max():.2f}; "
        f"CPU {np.mean(cpus) * 1000:.2f} ms a request"
    )
    print("loadavg", Path("/proc/loadavg").read_text().strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["generate", "fit", "profile"])
    parser.add_argument("--params", default="{}", help="two_stage parameters (JSON)")
    parser.add_argument("--save", type=Path, default=None, help="fit: save the model here")
    parser.add_argument(
        "--store", default=None, help="fit: also save a servable version to this artifact URI"
    )
    parser.add_argument("--users", type=int, default=162_541)
    parser.add_argument("--movies", type=int, default=62_423)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/recsys-two-stage-scale"))
    args = parser.parse_args()
    {"generate": generate, "fit": fit, "profile": profile}[args.step](args)


if __name__ == "__main__":
    main()
