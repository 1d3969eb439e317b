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
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from alembic import command
from sqlalchemy.engine import make_url

from recsys.cli.db import alembic_config
from recsys.db.session import create_engine, create_session_factory
from recsys.modeling.artifacts import open_store
from recsys.training import train

HOST = "127.0.0.1"  # loopback only, never a routable address
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
MODELS = ("als", "item_knn", "popularity")
N_USERS = 943  # ML-100K user ids are 1..943

# The done() hook prints one JSON line wrk's own text output cannot be confused with.
_LUA_DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "non_2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
"""
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
            artifact_uri = args.artifact_uri or _train_models(
                database_url, work / "artifacts", models
            )
            port = _free_port()
            with _uvicorn(database_url, artifact_uri, port, work / "uvicorn.log", models) as pid:
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
    if args.database_url:
        yield args.database_url
        return
    if not (args.data_dir / "ml-100k").is_dir():
        sys.exit(f"ML-100K not found under {args.data_dir}: run `make data` first")
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    name = f"recsys_bench_serve_{uuid.uuid4().hex[:8]}"
    dsn = make_url(admin_url).set(drivername="postgresql")
    asyncio.run(_admin(dsn.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        print(f"seeding ML-100K into {name} ...", flush=True)
        config = alembic_config(database_url=url, dataset="ml-100k", data_dir=args.data_dir)
        command.upgrade(config, "head")
        yield url
    finally:
        asyncio.run(
            _admin(
                dsn.render_as_string(hide_password=False),
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            )
        )


async def _admin(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def served_models(model: str) -> tuple[str, ...]:
    """The model under test first, then the usual set (popularity is the fallback)."""
    return tuple(dict.fromkeys((model, *MODELS)))


def _train_models(database_url: str, folder: Path, models: tuple[str, ...]) -> str:
    uri = f"file://{folder}"

    async def run() -> None:
        engine = create_engine(database_url)
        try:
            sessions = create_session_factory(engine)
            for model_type in models:
                print(f"training {model_type} ...", flush=True)
                await train(sessions, model_type=model_type, store=open_store(uri))
        finally:
            await engine.dispose()

    asyncio.run(run())
    return uri


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def _uvicorn(
    database_url: str, artifact_uri: str, port: int, log: Path, models: tuple[str, ...]
) -> Iterator[int]:
    env = {
        **os.environ,
        "RECSYS_DATABASE_URL": database_url,
        "RECSYS_ARTIFACT_URI": artifact_uri,
        "RECSYS_MODELS": ",".join(models),
        "RECSYS_DEFAULT_MODEL": models[0],
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "recsys.api.app:create_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    print(f"starting uvicorn on {HOST}:{port} ...", flush=True)
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(f"http://{HOST}:{port}/readyz", process, log)
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"uvicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"uvicorn not ready after 60 s ({url}):\n{log.read_text()}")


def _measure(wrk: str, port: int, pid: int, args: argparse.Namespace, work: Path) -> list[Run]:
    scripts = {
        "constant": work / "constant.lua",
        "recommendations": work / "recommendations.lua",
    }
    scripts["constant"].write_text(_LUA_CONSTANT + _LUA_DONE)
    scripts["recommendations"].write_text(_LUA_RECOMMEND + _LUA_DONE)
    runs: list[Run] = []
    for round_no in range(1, args.rounds + 1):
        for route, script in scripts.items():
            if args.warmup:
                _wrk(wrk, script, port, args.connections, args.warmup)
            cpu_before = _cpu_seconds(pid)
            figures = _wrk(wrk, script, port, args.connections, args.duration)
            cpu = _cpu_seconds(pid) - cpu_before
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


def _wrk(wrk: str, script: Path, port: int, connections: int, seconds: int) -> dict[str, int]:
    # One wrk thread: the machine's cores are better spent on the server being measured.
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://{HOST}:{port}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 30)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            figures: dict[str, int] = json.loads(line.removeprefix("WRKJSON "))
            return figures
    raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")


def _cpu_seconds(pid: int) -> float:
    # utime + stime of the uvicorn process, in clock ticks (proc(5)).
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
