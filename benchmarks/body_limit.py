"""What ``BodyLimitMiddleware`` adds to a bodiless request (the ``/healthz`` yardstick's case).

Calls a do-nothing ASGI app with a ``GET /healthz`` scope, bare and wrapped in the middleware,
in alternating rounds, and prints the nanoseconds per call of each and the difference; a POST
(headers scanned, ``receive`` wrapped) is measured the same way for comparison. In process, no
server: the difference is all the middleware costs. Run:

    uv run python benchmarks/body_limit.py              # 5 rounds of 200,000 calls
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from recsys.api.limits import BodyLimitMiddleware


async def _app(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


def _scope(method: str) -> dict[str, Any]:
    headers = [(b"host", b"recsys.test"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    if method == "POST":
        headers.append((b"content-length", b"22"))
    return {"type": "http", "method": method, "path": "/healthz", "headers": headers}


async def _ns_per_call(app: Any, scope: dict[str, Any], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        await app(scope, _receive, _send)
    return (time.perf_counter_ns() - start) / calls


async def main(rounds: int, calls: int) -> None:
    limited = BodyLimitMiddleware(_app, max_bytes=4 * 1024 * 1024)
    print(f"load average {os.getloadavg()[0]:.2f}; {rounds} rounds of {calls:,} calls")
    for method in ("GET", "POST"):
        scope = _scope(method)
        bare, wrapped = [], []
        for _ in range(rounds):
            bare.append(await _ns_per_call(_app, scope, calls))
            wrapped.append(await _ns_per_call(limited, scope, calls))
        b, w = statistics.median(bare), statistics.median(wrapped)
        print(f"{method}: bare {b:.0f} ns, with the limit {w:.0f} ns, added {w - b:.0f} ns/call")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.calls))
