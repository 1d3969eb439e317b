"""CPU per request through the whole ASGI app, in process: no server, no socket, no wrk.

Builds the app with ``create_app`` from the environment (``RECSYS_DATABASE_URL``,
``RECSYS_ARTIFACT_URI``, ``RECSYS_MODELS``), runs its lifespan, and calls it directly with
``GET /healthz`` and ``GET /users/{random 1..943}/recommendations?k=10&model=M`` for each model,
in alternating rounds, timing the process's CPU (``time.process_time``) per request. What the
server adds (HTTP parsing, the socket write) is the same for every route and is left out, so
the figure survives a loaded machine better than ``benchmarks/serve.py``'s; run two checkouts'
copies at the same time for a paired A/B (each with its own ``.venv``; the script is the same).

``--cold`` turns the per-history memos off (ALS's fold-ins, two_stage's rankings): every
request then pays its whole model cost, as a user's first request after a new rating does.

    RECSYS_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/DB \\
    RECSYS_ARTIFACT_URI=file:///ART RECSYS_MODELS=als,item_knn,popularity,two_stage \\
        uv run python benchmarks/app_cpu.py --requests 600 --rounds 5 [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from asgi_lifespan import LifespanManager

from recsys.api.app import create_app
from recsys.api.deps import STATE_KEY

N_USERS = 943  # ML-100K


async def call(app: Any, path: str, query: bytes) -> int:
    """One GET through the app; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _memos_off(runtime: Any) -> None:
    for loaded in runtime.service.models.values():
        model = loaded.model
        if hasattr(model, "_fold_memo"):
            model._fold_memo.max_bytes = 0
        serving = getattr(model, "serving_model", None)
        if serving is not None and hasattr(serving(), "ranked"):
            serving().ranked.max_bytes = 0


async def main() -> None:
    """Parse options, start the app, time each route, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="requests per route a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default="als,item_knn,two_stage")
    parser.add_argument("--cold", action="store_true", help="per-history memos off")
    args = parser.parse_args()
    # The access lines are written (as `recsys serve` writes them), to /dev/null.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    app = create_app()
    rng = random.Random(1)
    routes: dict[str, Callable[[], tuple[str, bytes]]] = {"healthz": lambda: ("/healthz", b"")}
    for model in args.models.split(","):
        routes[model] = lambda model=model: (  # type: ignore[misc]
            f"/users/{rng.randint(1, N_USERS)}/recommendations",
            f"k=10&model={model}".encode(),
        )
    async with LifespanManager(app, startup_timeout=300) as manager:
        if args.cold:
            _memos_off(manager._state[STATE_KEY])
        for name, request in routes.items():  # warm-up
            for _ in range(200):
                status = await call(manager.app, *request())
                if status != 200:
                    raise SystemExit(f"{name}: status {status}")
        cpu: dict[str, list[float]] = {name: [] for name in routes}
        for _ in range(args.rounds):
            for name, request in routes.items():
                started = time.process_time()
                for _ in range(args.requests):
                    await call(manager.app, *request())
                cpu[name].append((time.process_time() - started) / args.requests * 1e6)
    print(f"CPU us/request, median of {args.rounds} rounds of {args.requests}, cold={args.cold}")
    for name, figures in cpu.items():
        rounds = ", ".join(f"{x:.0f}" for x in figures)
        print(f"{name:>10}: {statistics.median(figures):7.0f}  ({rounds})")
    print("load average at the end:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    asyncio.run(main())
