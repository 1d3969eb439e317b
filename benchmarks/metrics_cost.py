"""What issue 14's new series cost a request, in process: each counting call vs the request
counting every answer already pays (``observe_request``), measured in the same run.

Per recommendation request the service adds ``count_recommendation`` (plus ``count_fallback``
when popularity answers); each pooled connection checked out and back adds one gauge inc and
one dec (``PoolGauges``' listeners; none when the history cache and the movie cache answer).
Each figure is the best of several rounds of N calls, minus an empty call, in nanoseconds, and
as a ratio to ``observe_request``; with ``--multiprocess`` the values live in mmap'd files as
under ``recsys serve --workers N``. The load average is printed beside the figures. Run:

    uv run python benchmarks/metrics_cost.py                   # one process, the default registry
    uv run python benchmarks/metrics_cost.py --multiprocess    # PROMETHEUS_MULTIPROC_DIR set
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import timeit
from collections.abc import Callable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--multiprocess", action="store_true")
    args = parser.parse_args()
    folder = None
    if args.multiprocess:
        # Before prometheus_client is imported: it reads the variable when a metric is made.
        folder = tempfile.mkdtemp(prefix="recsys-metrics-bench-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        run(args.calls, args.rounds, multiprocess=args.multiprocess)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def run(calls: int, rounds: int, *, multiprocess: bool) -> None:
    from recsys.service import metrics
    from recsys.service.pool_metrics import POOL_CHECKED_OUT

    def best_ns(fn: Callable[[], object]) -> float:
        return min(timeit.repeat(fn, number=calls, repeat=rounds)) / calls * 1e9

    def pool_round_trip() -> None:
        POOL_CHECKED_OUT.inc()
        POOL_CHECKED_OUT.dec()

    route = "/users/{user_id}/recommendations"
    cases: dict[str, Callable[[], object]] = {
        "observe_request (on main: every answer)": lambda: metrics.observe_request(
            route, "GET", 200, 0.001
        ),
        "count_recommendation": lambda: metrics.count_recommendation("als", "model"),
        "count_fallback": lambda: metrics.count_fallback("als", "no_history"),
        "pool checkout + check-in gauges": pool_round_trip,
    }
    load_before = os.getloadavg()[0]
    empty = best_ns(lambda: None)
    figures = {name: best_ns(fn) - empty for name, fn in cases.items()}
    load_after = os.getloadavg()[0]
    reference = figures["observe_request (on main: every answer)"]
    mode = "multiprocess (mmap files)" if multiprocess else "one process"
    print(
        f"{mode}; best of {rounds} x {calls:,} calls; load average {load_before:.1f} -> "
        f"{load_after:.1f}"
    )
    print(f"{'call':<42} {'ns':>8} {'/ observe_request':>18}")
    for name, ns in figures.items():
        print(f"{name:<42} {ns:>8.0f} {ns / reference:>18.2f}")


if __name__ == "__main__":
    main()
