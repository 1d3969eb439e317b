"""Event ingestion: sustained ``POST /events`` rate and the POST -> reflecting GET latency.

Against one real uvicorn worker on 127.0.0.1, ML-100K in PostgreSQL, als + popularity trained
with their default parameters:

1. **ingestion**: wrk posts batches of 100 events (random ML-100K users and movies, types drawn
   from watch/like/complete, ``occurred_at`` left to the server) for ``--duration`` seconds per
   round over ``--connections`` connections, alternating rounds without and with an idempotency
   key on every event. Events/s = acknowledged batches x 100 / duration. After each round the
   ``events`` table is counted: every acknowledged event must be there (nothing lost).
2. **reflection**: one client, one request at a time (keep-alive): ``POST /users/{u}/events``
   with a ``like`` of the user's current top movie, then ``GET /users/{u}/recommendations?k=10``;
   the GET must no longer list that movie. Reported: POST, GET and POST + GET wall time as the
   client sees them (httpx included).

Run: ``uv run python benchmarks/events.py`` (= ``make bench-events``; needs wrk:
``apt-get install -y wrk``; PostgreSQL at TEST_DATABASE_URL; ML-100K under ./data: ``make data``).
Bounded: about ``rounds x 2 x (warmup + duration)`` seconds of load plus ~20 s of setup.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from _harness import (
    HOST,
    LUA_DONE,
    ROOT,
    cpu_seconds,
    free_port,
    ml100k_database,
    run_wrk,
    train_models,
    uvicorn,
)
from sqlalchemy.engine import make_url

MODELS = ("als", "popularity")
N_USERS, N_MOVIES = 943, 1682  # ML-100K ids are 1..943 and 1..1682
BATCH = 100

# One body per request, built in LuaJIT (cheap next to the server's work). `keyed` adds a unique
# idempotency key per event: run id, request counter, position.
_LUA_POST = """
math.randomseed(os.time())
local types = {{"watch", "like", "complete"}}
local counter = 0
-- Keys unique per wrk invocation too (warm-up and measured runs share the script).
local run = "{run}-" .. os.time() .. "-" .. math.random(1, 1000000000)
local headers = {{["Content-Type"] = "application/json",
                  ["Authorization"] = "Bearer {token}"}}
request = function()
  counter = counter + 1
  local parts = {{}}
  for i = 1, {batch} do
    local key = ""
    if {keyed} then key = ', "idempotency_key": "' .. run .. '-' .. counter .. '-' .. i .. '"' end
    parts[i] = '{{"user_id": ' .. math.random(1, {n_users}) .. ', "movie_id": '
      .. math.random(1, {n_movies}) .. ', "type": "' .. types[math.random(1, 3)] .. '"'
      .. key .. '}}'
  end
  local body = '{{"events": [' .. table.concat(parts, ",") .. ']}}'
  return wrk.format("POST", "/events", headers, body)
end
"""


@dataclass(frozen=True)
class IngestRun:
    """One wrk run's figures."""

    keyed: bool
    events_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    acknowledged: int  # events in 2xx answers
    stored: int  # rows the table gained
    server_cpu_us_per_event: float


@dataclass(frozen=True)
class Reflection:
    """The POST -> reflecting GET loop's figures (milliseconds)."""

    post_ms: list[float]
    get_ms: list[float]
    total_ms: list[float]
    reflected: int


def main() -> None:
    """Set up database, models and uvicorn; run both measurements; print the tables."""
    args = _parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk not found: install it (Debian/Ubuntu: apt-get install -y wrk) and run again")
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="recsys-bench-events-") as tmp:
        work = Path(tmp)
        with ml100k_database(args.data_dir, "recsys_bench_events") as database_url:
            artifact_uri = train_models(database_url, work / "artifacts", MODELS)
            port = free_port()
            settings = {
                "RECSYS_DATABASE_URL": database_url,
                "RECSYS_ARTIFACT_URI": artifact_uri,
                "RECSYS_MODELS": ",".join(MODELS),
                "RECSYS_DEFAULT_MODEL": "als",
                "RECSYS_API_WRITE_TOKEN": token,
            }
            with uvicorn(settings, port, work / "uvicorn.log") as pid:
                runs = _ingest(wrk, port, pid, token, database_url, args, work)
                reflection = _reflect(port, token, args.reflect)
    _report(runs, reflection, args)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each: no keys, keys)")
    parser.add_argument("--reflect", type=int, default=200, help="POST -> GET iterations")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("RECSYS_DATA_DIR", ROOT / "data"))
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= 120 or not 0 <= args.warmup <= 30 or not 1 <= args.rounds <= 10:
        parser.error("bounded runs only: --duration 1..120, --warmup 0..30, --rounds 1..10")
    if not 1 <= args.reflect <= 10_000 or not 1 <= args.connections <= 256:
        parser.error("--reflect 1..10000, --connections 1..256")
    return args


def _count_events(database_url: str) -> int:
    async def count() -> int:
        dsn = make_url(database_url).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=5)
        try:
            return int(await connection.fetchval("SELECT count(*) FROM events"))
        finally:
            await connection.close()

    return asyncio.run(count())


def _ingest(
    wrk: str,
    port: int,
    pid: int,
    token: str,
    database_url: str,
    args: argparse.Namespace,
    work: Path,
) -> list[IngestRun]:
    runs: list[IngestRun] = []
    for round_no in range(1, args.rounds + 1):
        for keyed in (False, True):
            script = work / f"post-{round_no}-{keyed}.lua"
            lua = _LUA_POST.format(
                token=token,
                batch=BATCH,
                keyed="true" if keyed else "false",
                run=f"r{round_no}",
                n_users=N_USERS,
                n_movies=N_MOVIES,
            )
            script.write_text(lua + LUA_DONE)
            if args.warmup:
                run_wrk(wrk, script, port, args.connections, args.warmup)
            before, cpu_before = _count_events(database_url), cpu_seconds(pid)
            figures = run_wrk(wrk, script, port, args.connections, args.duration)
            cpu = cpu_seconds(pid) - cpu_before
            stored = _count_events(database_url) - before
            ok = figures["requests"] - figures["non_2xx"]
            run = IngestRun(
                keyed=keyed,
                events_per_s=ok * BATCH / (figures["duration_us"] / 1e6),
                p50_ms=figures["p50_us"] / 1e3,
                p99_ms=figures["p99_us"] / 1e3,
                errors=figures["non_2xx"] + figures["socket_errors"],
                acknowledged=ok * BATCH,
                stored=stored,
                server_cpu_us_per_event=cpu / max(stored, 1) * 1e6,
            )
            runs.append(run)
            print(
                f"round {round_no} {'keys' if keyed else 'no keys':>7}: "
                f"{run.events_per_s:7.0f} events/s  batch p50 {run.p50_ms:6.2f} ms  "
                f"p99 {run.p99_ms:7.2f} ms  acknowledged {run.acknowledged:,}  "
                f"stored {run.stored:,}  errors {run.errors}",
                flush=True,
            )
    return runs


def _reflect(port: int, token: str, iterations: int) -> Reflection:
    rng = random.Random(0)
    post_ms: list[float] = []
    get_ms: list[float] = []
    total_ms: list[float] = []
    reflected = 0
    headers = {"Authorization": f"Bearer {token}"}
    print(f"POST -> GET x {iterations} ...", flush=True)
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10) as client:
        for _ in range(iterations):
            user = rng.randint(1, N_USERS)
            url = f"/users/{user}/recommendations?k=10"
            before = client.get(url)
            before.raise_for_status()
            top = before.json()["movies"][0]["id"]
            body = {"events": [{"movie_id": top, "type": "like"}]}
            start = time.perf_counter()
            posted = client.post(f"/users/{user}/events", json=body, headers=headers)
            middle = time.perf_counter()
            after = client.get(url)
            end = time.perf_counter()
            posted.raise_for_status()
            after.raise_for_status()
            post_ms.append((middle - start) * 1e3)
            get_ms.append((end - middle) * 1e3)
            total_ms.append((end - start) * 1e3)
            reflected += top not in {m["id"] for m in after.json()["movies"]}
    return Reflection(post_ms, get_ms, total_ms, reflected)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _report(runs: list[IngestRun], reflection: Reflection, args: argparse.Namespace) -> None:
    print()
    print(
        f"ingestion: median of {args.rounds} rounds, {args.duration} s each, "
        f"{args.connections} connections, batches of {BATCH}"
    )
    print()
    print(
        "| POST /events | events/s | batch p50 ms | batch p99 ms | uvicorn CPU us/event | "
        "acknowledged | stored | errors |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for keyed in (False, True):
        mine = [r for r in runs if r.keyed == keyed]
        label = "idempotency key on every event" if keyed else "no idempotency keys"
        print(
            f"| {label} | {statistics.median(r.events_per_s for r in mine):,.0f} | "
            f"{statistics.median(r.p50_ms for r in mine):.2f} | "
            f"{statistics.median(r.p99_ms for r in mine):.2f} | "
            f"{statistics.median(r.server_cpu_us_per_event for r in mine):.0f} | "
            f"{sum(r.acknowledged for r in mine):,} | {sum(r.stored for r in mine):,} | "
            f"{sum(r.errors for r in mine)} |"
        )
    lost = sum(max(0, r.acknowledged - r.stored) for r in runs)
    print()
    print(f"acknowledged but not stored: {lost} (must be 0)")
    print()
    n = len(reflection.total_ms)
    print(f"POST -> reflecting GET, {n} sequential iterations, one keep-alive connection (ms)")
    print()
    print("| step | p50 | p90 | p99 | max |")
    print("|---|--:|--:|--:|--:|")
    for label, values in (
        ("`POST /users/{id}/events` (1 like)", reflection.post_ms),
        ("`GET /users/{id}/recommendations?k=10`", reflection.get_ms),
        ("POST + GET", reflection.total_ms),
    ):
        print(
            f"| {label} | {_percentile(values, 50):.2f} | {_percentile(values, 90):.2f} | "
            f"{_percentile(values, 99):.2f} | {max(values):.2f} |"
        )
    p99 = _percentile(reflection.total_ms, 99)
    print()
    print(
        f"reflected: {reflection.reflected}/{n} (the liked movie gone from the next GET); "
        f"POST + GET p99 {p99:.2f} ms (target < 50 ms: {'met' if p99 < 50 else 'missed'})"
    )


if __name__ == "__main__":
    main()
