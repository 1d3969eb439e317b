"""What the HTTP benchmarks share: a throwaway ML-100K database, trained models, one uvicorn
worker on loopback, and wrk runs whose summary comes back as JSON.

Imported by ``serve.py`` and ``events.py`` (run as scripts, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import asyncio
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
    if not (data_dir / "ml-100k").is_dir():
        sys.exit(f"ML-100K not found under {data_dir}: run `make data` first")
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(_admin(dsn, f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        print(f"seeding ML-100K into {name} ...", flush=True)
        config = alembic_config(database_url=url, dataset="ml-100k", data_dir=data_dir)
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
