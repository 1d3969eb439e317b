"""Serving throughput and latency: wrk against a real uvicorn process on 127.0.0.1.

Measures ``GET /users/{id}/recommendations?k=10`` over random ML-100K users (a wrk Lua script
picks the id per request) beside ``GET /healthz`` (a constant-JSON route of the same app), in
the same run on the same server, in alternating rounds. One uvicorn worker, ML-100K in
PostgreSQL, models trained with their default parameters.

Run: ``uv run python benchmarks/serve.py`` (needs wrk: ``apt-get install -y wrk``; PostgreSQL
at TEST_DATABASE_URL; ML-100K under ./data: ``make data``). Bounded in time: about
``rounds x 2 x (warmup + duration)`` seconds of load, plus ~15 s of setup.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _harness import (
    LUA_DONE,
    ROOT,
    cpu_seconds,
    free_port,
    ml100k_database,
    run_wrk,
    train_models,
    uvicorn,
)

MODELS = ("als", "item_knn", "popularity")
N_USERS = 943  # ML-100K user ids are 1..943

_LUA_CONSTANT = 'request = function() return wrk.format("GET", "/healthz") end\n'
_LUA_RECOMMEND = f"""
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/users/" .. math.random(1, {N_USERS}) .. "/recommendations?k=10")
end
"""


@dataclass(frozen=True)
class Run:
    """One wrk run's figures."""

    route: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    server_cpu_us: float  # uvicorn's CPU time per request (user + system)


def main() -> None:
    """Parse options, set up database and models, start uvicorn, run wrk, print the table."""
    args = _parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit(
            "wrk not found: install it (Debian/Ubuntu: apt-get install -y wrk; "
            "macOS: brew install wrk) and run again"
        )
    with tempfile.TemporaryDirectory(prefix="recsys-bench-serve-") as tmp:
        work = Path(tmp)
        models = served_models(args.model)
        with _database(args) as database_url:
            artifact_uri = args.artifact_uri or train_models(
                database_url, work / "artifacts", models
            )
            port = free_port()
            settings = {
                "RECSYS_DATABASE_URL": database_url,
                "RECSYS_ARTIFACT_URI": artifact_uri,
                "RECSYS_MODELS": ",".join(models),
                "RECSYS_DEFAULT_MODEL": models[0],
            }
            with uvicorn(settings, port, work / "uvicorn.log") as pid:
                runs = _measure(wrk, port, pid, args, work)
    _report(runs, args)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per route")
    parser.add_argument(
        "--model",
        default="als",
        help="model the recommendations route answers with (trained beside item_knn and "
        "popularity; e.g. two_stage)",
    )
    parser.add_argument(
        "--database-url",
        help="an already migrated and ML-100K-seeded database (default: a throwaway one)",
    )
    parser.add_argument(
        "--artifact-uri", help="already trained models (default: train into a temp folder)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("RECSYS_DATA_DIR", ROOT / "data"))
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= 120 or not 0 <= args.warmup <= 30 or not 1 <= args.rounds <= 10:
        parser.error("bounded runs only: --duration 1..120, --warmup 0..30, --rounds 1..10")
    return args


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[str]:
    # --database-url: an already seeded database, kept; else a throwaway one.
    if args.database_url:
        yield args.database_url
        return
    with ml100k_database(args.data_dir, "recsys_bench_serve") as url:
        yield url


def served_models(model: str) -> tuple[str, ...]:
    """The model under test first, then the usual set (popularity is the fallback)."""
    return tuple(dict.fromkeys((model, *MODELS)))


def _measure(wrk: str, port: int, pid: int, args: argparse.Namespace, work: Path) -> list[Run]:
    scripts = {
        "constant": work / "constant.lua",
        "recommendations": work / "recommendations.lua",
    }
    scripts["constant"].write_text(_LUA_CONSTANT + LUA_DONE)
    scripts["recommendations"].write_text(_LUA_RECOMMEND + LUA_DONE)
    runs: list[Run] = []
    for round_no in range(1, args.rounds + 1):
        for route, script in scripts.items():
            if args.warmup:
                run_wrk(wrk, script, port, args.connections, args.warmup)
            cpu_before = cpu_seconds(pid)
            figures = run_wrk(wrk, script, port, args.connections, args.duration)
            cpu = cpu_seconds(pid) - cpu_before
            run = Run(
                route=route,
                rps=figures["requests"] / (figures["duration_us"] / 1e6),
                p50_ms=figures["p50_us"] / 1e3,
                p90_ms=figures["p90_us"] / 1e3,
                p99_ms=figures["p99_us"] / 1e3,
                max_ms=figures["max_us"] / 1e3,
                errors=figures["non_2xx"] + figures["socket_errors"],
                server_cpu_us=cpu / max(figures["requests"], 1) * 1e6,
            )
            runs.append(run)
            print(
                f"round {round_no} {route:>15}: {run.rps:7.0f} req/s  p50 {run.p50_ms:5.2f} ms  "
                f"p99 {run.p99_ms:6.2f} ms  server CPU {run.server_cpu_us:4.0f} us/req  "
                f"errors {run.errors}",
                flush=True,
            )
    return runs


def _report(runs: list[Run], args: argparse.Namespace) -> None:
    def median(route: str, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in runs if r.route == route))

    const_rps, rec_rps = median("constant", "rps"), median("recommendations", "rps")
    rec_p99 = median("recommendations", "p99_ms")
    print()
    print(
        f"model {args.model}: median of {args.rounds} rounds, {args.duration} s each, "
        f"{args.connections} connections"
    )
    print()
    print("| route | req/s | p50 ms | p90 ms | p99 ms | server CPU us/req | errors |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for route, path in (
        ("constant", "GET /healthz"),
        ("recommendations", f"GET /users/{{id}}/recommendations?k=10 ({args.model})"),
    ):
        print(
            f"| `{path}` | {median(route, 'rps'):,.0f} | {median(route, 'p50_ms'):.2f} | "
            f"{median(route, 'p90_ms'):.2f} | {median(route, 'p99_ms'):.2f} | "
            f"{median(route, 'server_cpu_us'):.0f} | "
            f"{sum(r.errors for r in runs if r.route == route)} |"
        )
    ratio = rec_rps / const_rps
    print()
    print(
        f"recommendations / constant throughput: {ratio:.2f} (target >= 0.70: "
        f"{'met' if ratio >= 0.70 else 'missed'}); p99 {rec_p99:.2f} ms (target <= 20 ms: "
        f"{'met' if rec_p99 <= 20 else 'missed'})"
    )


if __name__ == "__main__":
    main()
