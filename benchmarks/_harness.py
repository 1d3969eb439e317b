"""What the HTTP benchmarks share: a throwaway ML-100K database, trained models, one uvicorn
worker on loopback, and wrk runs whose summary comes back as JSON.

Imported by ``serve.py`` and ``events.py`` (run as scripts, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from alembic import command
from sqlalchemy.engine import make_url

from recsys.cli.db import alembic_config
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import open_store
from recsys.service.training import train
from recsys.settings import get_settings

# What the service reads with: RECSYS_EVENT_WEIGHTS, as before repositories took them.
WEIGHTS = EventWeights(get_settings().event_weights)

HOST = "127.0.0.1"  # loopback only, never a routable address
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

# The done() hook prints one JSON line wrk's own text output cannot be confused with.
LUA_DONE = """
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


@contextmanager
def ml100k_database(data_dir: Path, prefix: str) -> Iterator[str]:
    """A throwaway PostgreSQL database seeded with ML-100K by the migrations; dropped after."""
    with seeded_database(data_dir, "ml-100k", prefix) as url:
        yield url


@contextmanager
def seeded_database(data_dir: Path, dataset: str, prefix: str) -> Iterator[str]:
    """A throwaway PostgreSQL database seeded with ``data_dir/dataset`` by the migrations."""
    if not (data_dir / dataset).is_dir():
        hint = "run `make data` first" if dataset == "ml-100k" else "generate it first"
        sys.exit(f"{dataset} not found under {data_dir}: {hint}")
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(_admin(dsn, f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        print(f"seeding {dataset} into {name} ...", flush=True)
        config = alembic_config(database_url=url, dataset=dataset, data_dir=data_dir)
        command.upgrade(config, "head")
        yield url
    finally:
        asyncio.run(_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def train_models(database_url: str, folder: Path, models: Sequence[str]) -> str:
    """Train each model type with its defaults into ``folder``; returns the artifact URI."""
    uri = f"file://{folder}"

    async def run() -> None:
        engine = create_engine(database_url)
        try:
            sessions = create_session_factory(engine)
            for model_type in models:
                print(f"training {model_type} ...", flush=True)
                await train(sessions, model_type=model_type, store=open_store(uri), weights=WEIGHTS)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return uri


def free_port() -> int:
    """A port on loopback nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn(settings: Mapping[str, str], port: int, log: Path) -> Iterator[int]:
    """One uvicorn worker of the app with ``settings`` (RECSYS_* variables); yields its pid."""
    env = {**os.environ, **settings}
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


@contextmanager
def recsys_serve(
    settings: Mapping[str, str],
    port: int,
    log: Path,
    *,
    workers: int | None = 1,
    checkout: Path | None = None,
    ready_timeout: float = 60.0,
) -> Iterator[int]:
    """``recsys serve`` exactly as a user starts it (its logging and access lines), on
    loopback; ``workers`` None = its default (one per CPU). Yields the pid of the process
    (with several workers, their parent: see ``tree_cpu_seconds``). ``checkout``: run that
    checkout's ``.venv/bin/recsys`` (another build, for a paired comparison) instead of ours.
    ``ready_timeout``: seconds to wait for ``/readyz`` (loading 25M-row models takes minutes).
    """
    env = {**os.environ, **settings}
    if checkout is None:
        recsys = Path(sys.executable).with_name("recsys")
    else:
        recsys = checkout / ".venv" / "bin" / "recsys"
        # Its own code, not this checkout's: uv's editable install points at the checkout.
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
    cmd = [str(recsys), "serve", "--host", HOST, "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    print(f"starting {' '.join(cmd[1:])} ...", flush=True)
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(f"http://{HOST}:{port}/readyz", process, log, timeout=ready_timeout)
            _wait_history_warm(f"http://{HOST}:{port}/readyz")
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_history_warm(url: str) -> None:
    # Every worker warms its own cache; several probes so each worker is likely asked.
    deadline = time.monotonic() + 600
    warm_answers = 0
    while time.monotonic() < deadline and warm_answers < 8:
        with urllib.request.urlopen(url, timeout=5) as response:
            state = json.loads(response.read()).get("history_cache", "off")
        if state in ("warm", "off", "lazy"):
            warm_answers += 1
        else:
            warm_answers = 0
            time.sleep(0.5)


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's worker processes), from /proc."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = task / "children"
            if children.exists():
                todo.extend(int(c) for c in children.read_text().split())
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds so far of ``pid`` and its descendants."""
    total = 0.0
    for each in tree_pids(pid):
        with contextlib.suppress(OSError):  # exited meanwhile
            total += cpu_seconds(each)
    return total


def rss_mib(pid: int) -> float:
    """Resident set size of one process, MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load_average() -> str:
    """The 1/5/15-minute load averages, as /proc/loadavg gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, *, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
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
    sys.exit(f"uvicorn not ready after {timeout:.0f} s ({url}):\n{log.read_text()}")


def run_wrk(wrk: str, script: Path, port: int, connections: int, seconds: int) -> dict[str, int]:
    """One wrk run of ``script`` (ending in ``LUA_DONE``); its JSON summary."""
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


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, in seconds (proc(5))."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
