"""A database outage under load (issue 14): ``recsys serve`` while its PostgreSQL goes away.

Builds its own PostgreSQL 15 cluster (``pg_createcluster 15 outage -p 5491``; never the shared
one), migrates and seeds it with ML-100K through ``recsys db upgrade``, trains als and
popularity into a temp artifact folder, then per run starts ``recsys serve`` as users start it
(default workers: one per CPU; the access log on) and sends ``--seconds`` of load from
``--connections`` keep-alive connections (an asyncio + httpx client, one client per
connection: wrk cannot count per second) to ``GET /users/{random 1..943}/recommendations?k=10``
(als, the default model). At ``--fault-at`` seconds the
database fails, at ``--back-at`` it returns:

- ``stop``: ``pg_ctlcluster 15 outage stop -m fast``, later ``start``;
- ``freeze``: SIGSTOP to the postmaster and every backend (connections stay open, nothing
  answers), later SIGCONT.

Reports per second 2xx / 503 / other statuses / transport errors (resets, closed without an
answer, refused, client timeouts), the time to the first 503 after the fault, to the first
200 and to the last non-200 after the return, the slowest answer, the 200s answered while the
database was down (only the in-memory history cache can answer those), the client's own
event-loop stalls, traceback and down/back lines in the server log, and two checks after the
run: /readyz ready with the history cache warm again (the NOTIFY listener reconnected), and a
rating written straight into the database excluded from the next answers on every worker (the
cache not stale). Runs (``--runs``; ``RUNS`` below): ``off`` and ``on`` (RECSYS_DB_POOL_PRE_PING,
``stop``), ``freeze``, and ``nocache`` (RECSYS_HISTORY_CACHE=off: every request queries);
``freeze-nocache`` on demand.

Run: ``make bench-outage`` or ``uv run python benchmarks/outage.py`` as root (it manages a
PostgreSQL cluster: pg_createcluster / pg_ctlcluster; ML-100K under ./data: ``make data``).
About 1 min of set-up, then ~70 s per run; the cluster is dropped at the end (``--log-dir``
keeps the server and PostgreSQL logs). Speed figures are the client's: on a shared 2-core
machine the client, the server and PostgreSQL compete for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
from _harness import HOST, ROOT, load_average, recsys_serve, train_models, tree_pids
from _outage_report import STALL_S, Answer, Timeline, per_second, summary, workers_of

CLUSTER = ("15", "outage")
N_USERS = 943  # ML-100K user ids are 1..943
ROUTE = "/users/{user}/recommendations?k=10"
# A request still unanswered after this long counts as hung (the service's own bounds, the
# connect and statement timeouts, are 5 s each by default).
CLIENT_TIMEOUT_S = 20.0
_TICK_S = 0.05  # the client's event-loop watch (Timeline.stalls)
# Run name -> (fault, RECSYS_DB_POOL_PRE_PING, RECSYS_HISTORY_CACHE). "nocache" sends every
# request's history query to the database (the raw-driver path), as the cache's default never
# does while it is warm.
RUNS = {
    "off": ("stop", False, "warm"),
    "on": ("stop", True, "warm"),
    "freeze": ("freeze", False, "warm"),
    "nocache": ("stop", False, "off"),
    "freeze-nocache": ("freeze", False, "off"),
}


class Cluster:
    """The benchmark's own PostgreSQL cluster: create, stop, start, freeze, thaw, drop."""

    def __init__(self, port: int, *, keep_log: Path) -> None:
        self.port = port
        self._keep_log = keep_log  # copy the server's log here before the cluster is dropped
        self.url = f"postgresql+asyncpg://postgres@{HOST}:{port}/recsys"

    @contextmanager
    def created(self) -> Iterator[Cluster]:
        """Create and start the cluster (dropping a leftover one of the same name); drop after."""
        if _run(["pg_lsclusters", "--no-header", *CLUSTER], check=False).returncode == 0:
            print("dropping a leftover cluster 15/outage ...", flush=True)
            _run(["pg_dropcluster", *CLUSTER, "--stop"])
        # Trust, as the shared cluster; PostgreSQL's default listen_addresses is localhost only.
        _run(
            ["pg_createcluster", *CLUSTER, "-p", str(self.port)]
            + ["--", "--auth-host=trust", "--auth-local=trust"]
        )
        try:
            _run(["pg_ctlcluster", *CLUSTER, "start"])
            _run(
                [
                    "psql",
                    "-h",
                    HOST,
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-qc",
                    "CREATE DATABASE recsys",
                ]
            )
            yield self
        finally:
            self.thaw()  # a run interrupted mid-freeze must not leave stopped processes
            log = Path(f"/var/log/postgresql/postgresql-{CLUSTER[0]}-{CLUSTER[1]}.log")
            if log.exists():
                shutil.copyfile(log, self._keep_log)
            _run(["pg_dropcluster", *CLUSTER, "--stop"], check=False)

    def pids(self) -> list[int]:
        """The postmaster and all its children (backends, checkpointer, ...)."""
        pid_file = Path(f"/var/lib/postgresql/{CLUSTER[0]}/{CLUSTER[1]}/postmaster.pid")
        if not pid_file.exists():
            return []
        return tree_pids(int(pid_file.read_text().split()[0]))

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: sockets stay open, nothing answers."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT every process of the cluster (harmless when none is stopped)."""
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)


def _run(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
    return done


def seed(url: str, data_dir: Path) -> None:
    """``recsys db upgrade`` (schema + ML-100K seed) against ``url``, as users run it."""
    print("seeding ml-100k with recsys db upgrade ...", flush=True)
    recsys = str(Path(sys.executable).with_name("recsys"))
    env = {**os.environ, "RECSYS_DATABASE_URL": url, "RECSYS_DATASET": "ml-100k"}
    cmd = [recsys, "db", "upgrade", "--dataset", "ml-100k", "--data-dir", str(data_dir)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"recsys db upgrade failed:\n{done.stdout}\n{done.stderr}")


async def load(port: int, args: argparse.Namespace, cluster: Cluster, fault: str) -> Timeline:
    """``args.connections`` clients for ``args.seconds``, the fault injected on schedule."""
    timeline = Timeline()
    rng = random.Random(args.seed)
    start = time.monotonic()

    async def one_client() -> None:
        # One client and one keep-alive connection per loop, as wrk does: in a shared pool a
        # connection left idle past uvicorn's keep-alive timeout (5 s) races its close against
        # the next request, and the client would count resets the server did not cause.
        async with httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}",
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(CLIENT_TIMEOUT_S),
        ) as client:
            while (sent := time.monotonic() - start) < args.seconds:
                path = ROUTE.format(user=rng.randint(1, N_USERS))
                try:
                    response = await client.get(path)
                    answer = Answer(sent, time.monotonic() - start, response.status_code)
                except httpx.TransportError as exc:
                    answer = Answer(sent, time.monotonic() - start, 0, _describe(exc))
                timeline.answers.append(answer)

    async def schedule() -> None:
        await asyncio.sleep(args.fault_at)
        timeline.fault_issued = time.monotonic() - start
        if fault == "stop":
            await _command("pg_ctlcluster", *CLUSTER, "stop", "-m", "fast")
        else:
            cluster.freeze()
        timeline.fault_done = time.monotonic() - start
        await asyncio.sleep(max(0.0, args.back_at - timeline.fault_done))
        timeline.back_issued = time.monotonic() - start
        if fault == "stop":
            await _command("pg_ctlcluster", *CLUSTER, "start")
        else:
            cluster.thaw()
        timeline.back_done = time.monotonic() - start

    async def watch_the_loop() -> None:
        while (now := time.monotonic() - start) < args.seconds:
            await asyncio.sleep(_TICK_S)
            late = time.monotonic() - start - now - _TICK_S
            if late > STALL_S:
                timeline.stalls.append((now, late))

    await asyncio.gather(
        schedule(), watch_the_loop(), *(one_client() for _ in range(args.connections))
    )
    timeline.answers.sort(key=lambda a: a.done)
    for a in [a for a in timeline.answers if a.status == 0][:20]:
        print(f"  error: sent {a.sent:.3f} s, after {a.done - a.sent:.3f} s: {a.error}")
    return timeline


def _describe(exc: httpx.TransportError) -> str:
    # httpx's type, and the socket error under it (a reset, a refused connect, ...).
    cause = exc.__cause__ or exc.__context__
    while cause is not None and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__ + (f" ({type(cause).__name__})" if cause is not None else "")


async def _command(*cmd: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.decode()}")


async def after_checks(port: int, url: str, history_cache: str) -> dict[str, str]:
    """Once the load is over: is the history cache listening again, and does a direct write
    reach every worker's answers (nothing stale)?"""
    base = f"http://{HOST}:{port}"
    checks: dict[str, str] = {}
    began = time.monotonic()
    warm_in_a_row = 0
    # Fresh connections (no keep-alive) so the probes reach every worker.
    async with httpx.AsyncClient(
        base_url=base, timeout=5, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        while warm_in_a_row < 10 and time.monotonic() - began < 30:
            response = await client.get("/readyz")
            body = response.json()
            ok = response.status_code == 200 and body.get("history_cache") == history_cache
            warm_in_a_row = warm_in_a_row + 1 if ok else 0
            await asyncio.sleep(0 if ok else 0.2)
        checks[f"readyz ready + history_cache {history_cache} (10 probes in a row)"] = (
            f"after {time.monotonic() - began:.1f} s" if warm_in_a_row >= 10 else "NOT within 30 s"
        )
        user = 1
        top = (await client.get(ROUTE.format(user=user))).json()["movies"][0]["id"]
        dsn = url.replace("postgresql+asyncpg", "postgresql")
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(
                "INSERT INTO ratings (user_id, movie_id, rating, rated_at) "
                "VALUES ($1, $2, 5, now())",
                user,
                top,
            )
            await asyncio.sleep(1.0)  # NOTIFY arrives in milliseconds; a second is generous
            answers = [(await client.get(ROUTE.format(user=user))).json() for _ in range(20)]
            stale = sum(top in {m["id"] for m in a["movies"]} for a in answers)
            checks[
                f"user {user} rates movie {top} in SQL: answers still recommending it (of 20)"
            ] = str(stale)
        finally:
            await connection.execute(
                "DELETE FROM ratings WHERE user_id = $1 AND movie_id = $2", user, top
            )
            await connection.close()
    return checks


def run_once(
    name: str, args: argparse.Namespace, cluster: Cluster, artifacts: str, logs: Path, port: int
) -> list[str]:
    """One run: a fresh ``recsys serve``, the load with its fault, the checks; report lines."""
    fault, pre_ping, history_cache = RUNS[name]
    settings = {
        "RECSYS_DATABASE_URL": cluster.url,
        "RECSYS_ARTIFACT_URI": artifacts,
        "RECSYS_MODELS": "als,popularity",
        "RECSYS_DEFAULT_MODEL": "als",
        "RECSYS_DB_POOL_PRE_PING": "true" if pre_ping else "false",
        "RECSYS_HISTORY_CACHE": history_cache,
    }
    log = logs / f"serve-{name}.log"
    workers = None if args.workers == "default" else int(args.workers)
    with recsys_serve(settings, port, log, workers=workers):
        print(f"run {name}: {fault}, pre-ping {pre_ping}, {args.seconds} s ...", flush=True)
        load_before = load_average()
        timeline = asyncio.run(load(port, args, cluster, fault))
        load_after = load_average()
        checks = asyncio.run(after_checks(port, cluster.url, history_cache))
    title = (
        f"### {name}: `{fault}` at {args.fault_at} s, back at {args.back_at} s, "
        f"RECSYS_DB_POOL_PRE_PING={str(pre_ping).lower()}, RECSYS_HISTORY_CACHE={history_cache}"
    )
    lines = [
        title,
        "",
        f"recsys serve --workers {args.workers} ({workers_of(log)} workers), "
        f"{args.connections} connections, load average before {load_before}, after {load_after}",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in {**summary(timeline, log), **checks}.items()]
    lines += [
        "",
        "| second | 2xx | 503 | other | errors | slowest ms |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    lines += per_second(timeline, args.seconds)
    return lines


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", default="off,on,freeze,nocache", help=f"comma-separated of {','.join(RUNS)}"
    )
    parser.add_argument("--seconds", type=int, default=40, help="load duration")
    parser.add_argument("--fault-at", type=float, default=10.0, help="second the database fails")
    parser.add_argument("--back-at", type=float, default=25.0, help="second it returns")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="default", help="recsys serve --workers, or 'default'")
    parser.add_argument("--pg-port", type=int, default=5491, help="port of the benchmark's cluster")
    parser.add_argument("--port", type=int, default=8150, help="first HTTP port (one per run)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random user ids")
    parser.add_argument(
        "--log-dir", type=Path, help="keep each run's server log here (default: dropped)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("RECSYS_DATA_DIR", ROOT / "data"))
    )
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not runs or len(runs) > 10 or any(r not in RUNS for r in runs):
        # At most 10: each run serves on its own port, --port up to --port + 9.
        parser.error(f"--runs: 1-10 comma-separated of {', '.join(RUNS)}")
    args.runs = runs
    if not 0 < args.fault_at < args.back_at < args.seconds <= 300:
        parser.error("need 0 < --fault-at < --back-at < --seconds <= 300")
    if not 1 <= args.connections <= 256:
        parser.error("--connections: 1..256")
    return args


def main() -> None:
    """Cluster, seed, train; each run; the report as Markdown."""
    args = _parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark creates, stops and drops its own PostgreSQL cluster")
    if not (args.data_dir / "ml-100k").is_dir():
        sys.exit(f"ml-100k not found under {args.data_dir}: run `make data` first")
    report: list[str] = []
    with tempfile.TemporaryDirectory(prefix="recsys-bench-outage-") as tmp:
        work = Path(tmp)
        logs = args.log_dir or work
        logs.mkdir(parents=True, exist_ok=True)
        with Cluster(args.pg_port, keep_log=logs / "postgresql.log").created() as cluster:
            seed(cluster.url, args.data_dir)
            artifacts = train_models(cluster.url, work / "artifacts", ("als", "popularity"))
            for i, name in enumerate(args.runs):
                report += run_once(name, args, cluster, artifacts, logs, args.port + i) + [""]
                print("\n".join(report[-8:]), flush=True)
    print()
    print(" ".join(["uv run python benchmarks/outage.py", *sys.argv[1:]]))
    print()
    print("\n".join(report))


if __name__ == "__main__":
    main()
