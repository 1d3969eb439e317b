"""What a filtered recommendation costs beside an unfiltered one, in process (CPU time per call).

On ML-100K (the dataset files, no database), fits ALS, item_knn and popularity with their
default parameters, then for the same random users times, per model, in alternating rounds:

- ``plain``: ``model.recommend(user, history=..., k=10)`` (the API's unfiltered scoring);
- ``filtered``: the request's criteria resolved and its mask built over the model's items
  (``Eligibility.mask``: genre bitsets and years) plus ``recommend(..., allowed=mask)``;
- ``diversify``: ``exclude_genres=Horror&diversify=0.3`` (MMR over the best 50 allowed).

and ``parse_filter_query`` of an unfiltered query string (what every hot request now pays).
CPU time of this process (``time.process_time``), so a busy machine stretches the wall clock
but hardly the figures; each figure is the median over rounds of the mean per call, with the
ratio to ``plain`` measured in the same round and the load average beside it.

Run: ``uv run python benchmarks/filters.py`` (``--rounds 5 --users 300``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from starlette.datastructures import QueryParams

from recsys.evaluation.runner import fit_model
from recsys.modeling.base import History, Recommender
from recsys.service.eligibility import Eligibility, ranking_plan
from recsys.service.evaluation import load_for_evaluation
from recsys.service.filters import FilterRequest, parse_filter_query

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("als", "item_knn", "popularity")
CRITERIA = FilterRequest(genres=("Comedy", "Drama"), year_min=1990)
DIVERSE = FilterRequest(exclude_genres=("Horror",), diversify=0.3)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_us(calls: list[Callable[[], Any]]) -> float:
    started = time.process_time()
    for call in calls:
        call()
    return (time.process_time() - started) / len(calls) * 1e6


async def _cpu_us_async(calls: list[Callable[[], Awaitable[Any]]]) -> float:
    # On one running event loop, as the API awaits the service.
    started = time.process_time()
    for call in calls:
        await call()
    return (time.process_time() - started) / len(calls) * 1e6


def main() -> None:
    """Fit, then time the three variants per model in alternating rounds; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("RECSYS_DATA_DIR", ROOT / "data"))
    )
    args = parser.parse_args()
    interactions, items = load_for_evaluation(args.data_dir / "ml-100k", name="ml-100k")
    if items is None:
        raise SystemExit("ML-100K without movie attributes: run make data")
    eligibility = Eligibility(items)
    rng = np.random.default_rng(0)
    users = rng.choice(np.unique(interactions.user_ids), size=args.users, replace=False)
    histories = {
        int(u): History(
            interactions.movie_ids[interactions.user_ids == u],
            interactions.ratings[interactions.user_ids == u],
        )
        for u in users
    }

    async def no_session() -> Any:
        raise AssertionError("no external id in these filters")

    rows: dict[tuple[str, str], list[float]] = {}
    loads: list[str] = []
    models: dict[str, Recommender[Any]] = {}
    for name in MODELS:
        models[name], _ = fit_model(name, interactions, items=items)
        eligibility.items(models[name])  # the per-model columns are taken at load time

    def variant(
        model: Recommender[Any], request: FilterRequest | None
    ) -> list[Callable[[], Awaitable[Any]]]:
        calls: list[Callable[[], Awaitable[Any]]] = []
        for user, history in histories.items():
            if request is None:

                async def plain(u: int = user, h: History = history) -> Any:
                    return model.recommend(u, history=h, k=10)

                calls.append(plain)
                continue

            async def filtered(
                u: int = user, h: History = history, r: FilterRequest = request
            ) -> Any:
                plan = await ranking_plan(eligibility, model, r, no_session)
                return plan.rank(
                    lambda n, allowed: model.recommend(u, history=h, k=n, allowed=allowed), 10
                )

            calls.append(filtered)
        return calls

    unfiltered_query = QueryParams("k=10&model=als")
    for _ in range(args.rounds):
        for name, model in models.items():
            for label, request in (("plain", None), ("filtered", CRITERIA), ("diversify", DIVERSE)):
                figure = asyncio.run(_cpu_us_async(variant(model, request)))
                rows.setdefault((name, label), []).append(figure)
        parse = [lambda: parse_filter_query(unfiltered_query)] * 10_000
        rows.setdefault(("-", "parse"), []).append(_cpu_us(parse))
        loads.append(_load())
    print(f"ML-100K, {args.users} users, median of {args.rounds} rounds, CPU us per call")
    print()
    print("| model | variant | CPU us/call | vs plain | load (1 min) per round |")
    print("|---|---|--:|--:|---|")
    round_loads = ", ".join(load.split()[0] for load in loads)
    for (name, label), values in rows.items():
        ratio = ""
        if label != "parse":
            ratios = [v / p for v, p in zip(values, rows[(name, "plain")], strict=True)]
            ratio = f"{statistics.median(ratios):.2f}"
        print(f"| {name} | {label} | {statistics.median(values):.1f} | {ratio} | {round_loads} |")


if __name__ == "__main__":
    main()
