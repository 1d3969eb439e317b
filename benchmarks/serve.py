"""Serving throughput and latency: wrk against ``recsys serve`` on 127.0.0.1, as users run it.

Measures ``GET /users/{id}/recommendations?k=10&model=M`` over random users (a wrk Lua script
picks the id per request) for each model M of ``--models``, beside ``GET /healthz`` (a
constant-JSON route of the same app), in the same run on the same server, in alternating
rounds. The server is started exactly as ``recsys serve`` starts it (its logging: an access
line per recommendation, none for a successful ``/healthz``, a probe logged at DEBUG;
``--workers``: 1 by default here, ``default`` for one per CPU), ML-100K in
PostgreSQL, models trained with their default parameters. Reports each route's share of
``/healthz`` throughput, the server's CPU time per request (all its processes), p99, the load
average during each run, and each server process's RSS at the end.

Paired A/B: ``--compare LABEL=CHECKOUT`` (repeatable) starts that checkout's own ``recsys
serve`` (its ``.venv``, e.g. a ``git worktree`` of main) beside this one on the same database
and artifacts; every round measures each route on every build back to back, the builds' order
reversed each round, so they share the machine's load. ``--env LABEL:VAR=VALUE`` sets a variable
for one build only (``this`` is the build of this checkout, e.g. ``this:RECSYS_LOG_FORMAT=json``).

``--query 'genres=Comedy&year_min=1990'`` also measures each model's route with that query
(filters, diversify) in the same rounds, so a filtered request's cost is a ratio to the
unfiltered one measured beside it.

Run: ``uv run python benchmarks/serve.py --models als,item_knn,two_stage`` (needs wrk:
``apt-get install -y wrk``; PostgreSQL at TEST_DATABASE_URL; ML-100K under ./data: ``make
data``). Bounded in time: about ``rounds x (1 + models) x (warmup + duration)`` seconds of
load, plus setup (training two_stage takes ~1 min).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from _harness import (
    LUA_DONE,
    ROOT,
    free_port,
    load_average,
    recsys_serve,
    rss_mib,
    run_wrk,
    seeded_database,
    train_models,
    tree_cpu_seconds,
    tree_pids,
)

MODELS = ("als", "item_knn", "popularity")
N_USERS = 943  # ML-100K user ids are 1..943

_LUA_CONSTANT = 'request = function() return wrk.format("GET", "/healthz") end\n'


def _lua_recommend(model: str, n_users: int, query: str = "") -> str:
    suffix = f"&{query}" if query else ""
    return f"""
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/users/" .. math.random(1, {n_users}) ..
                    "/recommendations?k=10&model={model}{suffix}")
end
"""


@dataclass(frozen=True)
class Build:
    """One server under test: this checkout's code or another checkout's, with its own env."""

    label: str
    checkout: Path | None  # None: this checkout
    env: dict[str, str]


@dataclass(frozen=True)
class Run:
    """One wrk run's figures."""

    build: str
    route: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    server_cpu_us: float  # the server's CPU time per request (user + system, all processes)
    load: str  # load average when the run ended


def main() -> None:
    """Parse options, set up database and models, start the servers, run wrk, print the table."""
    args = _parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit(
            "wrk not found: install it (Debian/Ubuntu: apt-get install -y wrk; "
            "macOS: brew install wrk) and run again"
        )
    builds = _builds(args)
    with tempfile.TemporaryDirectory(prefix="recsys-bench-serve-") as tmp:
        work = Path(tmp)
        wanted = tuple(m.strip() for m in args.models.split(",") if m.strip())
        models = served_models(wanted)
        with _database(args) as database_url:
            artifact_uri = args.artifact_uri or train_models(
                database_url, work / "artifacts", models
            )
            settings = {
                "RECSYS_DATABASE_URL": database_url,
                "RECSYS_ARTIFACT_URI": artifact_uri,
                "RECSYS_MODELS": ",".join(models),
                "RECSYS_DEFAULT_MODEL": models[0],
            }
            workers = None if args.workers == "default" else int(args.workers)
            with ExitStack() as servers:
                served: list[tuple[Build, int, int]] = []  # build, port, pid
                for number, build in enumerate(builds):
                    port = args.port + number if args.port else free_port()
                    pid = servers.enter_context(
                        recsys_serve(
                            {**settings, **build.env},
                            port,
                            work / f"serve-{number}.log",
                            workers=workers,
                            checkout=build.checkout,
                            ready_timeout=args.ready_timeout,
                        )
                    )
                    served.append((build, port, pid))
                runs = _measure(wrk, served, args, work, wanted)
                rss = {
                    f"{build.label} {each}": rss_mib(each)
                    for build, _, pid in served
                    for each in tree_pids(pid)
                }
    _report(runs, args, wanted, rss, [build.label for build in builds])


def _builds(args: argparse.Namespace) -> list[Build]:
    builds = [Build(label="this", checkout=None, env={})]
    for spec in args.compare:
        label, sep, checkout = spec.partition("=")
        path = Path(checkout).resolve()
        if not sep or not label or label == "this" or not (path / ".venv/bin/recsys").exists():
            sys.exit(f"--compare {spec}: want LABEL=CHECKOUT, a checkout with .venv/bin/recsys")
        builds.append(Build(label=label, checkout=path, env={}))
    by_label = {build.label: build for build in builds}
    for spec in args.env:
        label, _, assignment = spec.partition(":")
        name, sep, value = assignment.partition("=")
        if label not in by_label or not sep or not name:
            sys.exit(f"--env {spec}: want LABEL:VAR=VALUE with LABEL one of {list(by_label)}")
        by_label[label].env[name] = value
    return builds


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port of the first server, the next builds on the ports after it (default: free ones)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=CHECKOUT",
        help="also serve CHECKOUT's own build (its .venv) and measure it in the same rounds",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="LABEL:VAR=VALUE",
        help="an environment variable for one build's server only (LABEL 'this' or a --compare)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per route")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for each server's /readyz (raise it for the 25M models)",
    )
    parser.add_argument(
        "--models",
        default="als",
        help="comma-separated models whose recommendations route is measured (trained beside "
        "als, item_knn and popularity; e.g. als,item_knn,two_stage)",
    )
    parser.add_argument(
        "--query",
        action="append",
        default=[],
        help="also measure each model's route with this query suffix, e.g. "
        "'genres=Comedy,Drama&year_min=1990' (repeatable): filtered beside unfiltered",
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="recsys serve --workers: a number, or 'default' (one per CPU, as users get it)",
    )
    parser.add_argument(
        "--users", type=int, default=N_USERS, help="user ids are drawn from 1..USERS"
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
    parser.add_argument(
        "--dataset",
        default="ml-100k",
        help="dataset under --data-dir to seed (e.g. synth, as benchmarks/train.py writes the "
        "25M catalogue-scale set into ~/.cache/recsys/benchmarks/synth-...; set --users to "
        "its user count)",
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
    with seeded_database(args.data_dir, args.dataset, "recsys_bench_serve") as url:
        yield url


def served_models(models: tuple[str, ...]) -> tuple[str, ...]:
    """The models under test first, then the usual set (popularity is the fallback)."""
    return tuple(dict.fromkeys((*models, *MODELS)))


def _measure(
    wrk: str,
    served: list[tuple[Build, int, int]],
    args: argparse.Namespace,
    work: Path,
    models: tuple[str, ...],
) -> list[Run]:
    scripts = {"constant": work / "constant.lua"}
    scripts["constant"].write_text(_LUA_CONSTANT + LUA_DONE)
    for model in models:
        scripts[model] = work / f"recommendations-{model}.lua"
        scripts[model].write_text(_lua_recommend(model, args.users) + LUA_DONE)
        # --query: the same route with filters (a route "als&genres=..."), in the same rounds.
        for number, query in enumerate(args.query):
            route = f"{model}&{query}"
            scripts[route] = work / f"recommendations-{model}-q{number}.lua"
            scripts[route].write_text(_lua_recommend(model, args.users, query) + LUA_DONE)
    runs: list[Run] = []
    for round_no in range(1, args.rounds + 1):
        # Each route on every build back to back, the order reversed every other round: the
        # builds meet the same load, and neither always goes first.
        order = served if round_no % 2 else served[::-1]
        for route, script in scripts.items():
            for build, port, pid in order:
                run = _one_run(wrk, script, port, pid, args, build.label, route)
                runs.append(run)
                print(
                    f"round {round_no} {build.label:>8} {route:>12}: {run.rps:7.0f} req/s  "
                    f"p50 {run.p50_ms:5.2f} ms  p99 {run.p99_ms:6.2f} ms  "
                    f"server CPU {run.server_cpu_us:4.0f} us/req  errors {run.errors}  "
                    f"load {run.load}",
                    flush=True,
                )
    return runs


def _one_run(
    wrk: str, script: Path, port: int, pid: int, args: argparse.Namespace, build: str, route: str
) -> Run:
    if args.warmup:
        run_wrk(wrk, script, port, args.connections, args.warmup)
    cpu_before = tree_cpu_seconds(pid)
    figures = run_wrk(wrk, script, port, args.connections, args.duration)
    cpu = tree_cpu_seconds(pid) - cpu_before
    return Run(
        build=build,
        route=route,
        rps=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1e3,
        p90_ms=figures["p90_us"] / 1e3,
        p99_ms=figures["p99_us"] / 1e3,
        max_ms=figures["max_us"] / 1e3,
        errors=figures["non_2xx"] + figures["socket_errors"],
        server_cpu_us=cpu / max(figures["requests"], 1) * 1e6,
        load=load_average(),
    )


def _report(
    runs: list[Run],
    args: argparse.Namespace,
    models: tuple[str, ...],
    rss: dict[str, float],
    builds: list[str],
) -> None:
    def median(build: str, route: str, attr: str) -> float:
        return float(
            statistics.median(
                getattr(r, attr) for r in runs if r.route == route and r.build == build
            )
        )

    print()
    print(
        f"recsys serve --workers {args.workers}: median of {args.rounds} rounds, "
        f"{args.duration} s each, {args.connections} connections, users 1..{args.users}"
    )
    print()
    paired = len(builds) > 1
    print(
        ("| build " if paired else "")
        + "| route | req/s | share of /healthz | p50 ms | p90 ms | p99 ms | server CPU us/req "
        + ("| CPU vs this " if paired else "")
        + "| errors | load (1/5/15 min) |"
    )
    print(
        ("|---" if paired else "")
        + "|---|--:|--:|--:|--:|--:|--:|"
        + ("--:|" if paired else "")
        + "--:|--:|"
    )
    for route in ("constant", *(f"{m}&{q}" if q else m for m in models for q in ("", *args.query))):
        for build in builds:
            const_rps = median(build, "constant", "rps")
            rps, cpu = median(build, route, "rps"), median(build, route, "server_cpu_us")
            path = "GET /healthz" if route == "constant" else f"recommendations?model={route}"
            mine = [r for r in runs if r.route == route and r.build == build]
            loads = ", ".join(r.load.split()[0] for r in mine)
            versus = f"| {cpu / median('this', route, 'server_cpu_us'):.2f} " if paired else ""
            print(
                (f"| {build} " if paired else "")
                + f"| `{path}` | {rps:,.0f} | {rps / const_rps:.2f} | "
                f"{median(build, route, 'p50_ms'):.2f} | {median(build, route, 'p90_ms'):.2f} | "
                f"{median(build, route, 'p99_ms'):.2f} | {cpu:.0f} {versus}| "
                f"{sum(r.errors for r in mine)} | {loads} |"
            )
    print()
    print(
        "RSS per server process (MiB): "
        + ", ".join(f"{name}: {mib:.0f}" for name, mib in rss.items())
    )


if __name__ == "__main__":
    main()
